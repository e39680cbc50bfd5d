//! `tms-exact phase` and `boundary` curves through the binary: well-formed CSV, PNG and SVG in
//! a temporary directory, shards merged byte for byte, the theory curve against its closed
//! form, and bad input as one error line with exit 2 and no file written.

mod binary;

use binary::{assert_usage_error, stdout, tms, write};

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn phase_writes_a_table_and_a_figure() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    let prefix = dir.path().join("fig");
    let o = tms(&[
        "phase",
        "--n",
        "2",
        "--m",
        "1",
        "--compare",
        "theory,exact",
        "--grid",
        "8,6",
        "--csv",
        s(&csv),
        "--out",
        s(&prefix),
    ]);
    let text = stdout(&o);
    assert!(text.contains("theory vs exact: phases differ in"), "{text}");
    assert!(text.contains("largest relative gap"), "{text}");
    for m in ["theory", "exact"] {
        let t = std::fs::read_to_string(dir.path().join(format!("t-{m}.csv"))).unwrap();
        let mut lines = t.lines();
        assert!(lines
            .next()
            .unwrap()
            .starts_with("# tms-exact phase method="));
        assert!(lines.next().unwrap().starts_with("r,density,phase,loss,"));
        assert_eq!(lines.count(), 48);
    }
    let png = std::fs::read(dir.path().join("fig.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(dir.path().join("fig.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    assert!(svg.contains("antipodal") && svg.contains("exact global optimum"));
}

#[test]
fn sharded_runs_merge_into_the_unsharded_csv() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.csv");
    let base = [
        "phase", "--n", "2", "--m", "1", "--method", "exact", "--grid", "5,4",
    ];
    let mut args: Vec<&str> = base.to_vec();
    args.extend(["--csv", s(&whole)]);
    stdout(&tms(&args));
    let parts: Vec<std::path::PathBuf> = (1..=2)
        .map(|k| dir.path().join(format!("p{k}.csv")))
        .collect();
    for (k, p) in parts.iter().enumerate() {
        let spec = format!("{}/2", k + 1);
        let mut a: Vec<&str> = base.to_vec();
        a.extend(["--shard", &spec, "--csv", s(p)]);
        stdout(&tms(&a));
    }
    let merged = dir.path().join("merged.csv");
    let prefix = dir.path().join("merged");
    stdout(&tms(&[
        "phase",
        "merge",
        s(&parts[1]),
        s(&parts[0]),
        "--csv",
        s(&merged),
        "--out",
        s(&prefix),
    ]));
    assert_eq!(
        std::fs::read(&merged).unwrap(),
        std::fs::read(&whole).unwrap()
    );
    assert!(dir.path().join("merged.png").exists());
    // A shard of another diagram does not merge.
    let other = dir.path().join("other.csv");
    stdout(&tms(&[
        "phase",
        "--n",
        "2",
        "--m",
        "1",
        "--method",
        "exact",
        "--grid",
        "5,4",
        "--seed",
        "1",
        "--shard",
        "2/2",
        "--csv",
        s(&other),
    ]));
    let out = dir.path().join("bad.csv");
    let o = tms(&["phase", "merge", s(&parts[0]), s(&other), "--csv", s(&out)]);
    assert_usage_error("foreign shard", &o, "not shards of one diagram");
    let o = tms(&["phase", "merge", s(&parts[0]), "--csv", s(&out)]);
    assert_usage_error("missing shard", &o, "missing");
    assert!(!out.exists());
}

#[test]
fn boundary_curve_matches_the_closed_form() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("b.csv");
    let text = stdout(&tms(&[
        "boundary",
        "--n",
        "2",
        "--m",
        "1",
        "--method",
        "theory",
        "--between",
        "not-represented,antipodal",
        "--r-range",
        "0.1:10",
        "--points",
        "7",
        "--compare",
        "4*r/(2+5*r)",
        "--csv",
        s(&csv),
    ]));
    let line = text
        .lines()
        .find(|l| l.starts_with("largest |density"))
        .unwrap();
    let dev: f64 = line
        .split(" = ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(dev <= 1e-12, "{line}");
    let t = std::fs::read_to_string(&csv).unwrap();
    assert!(t.starts_with("r,density,transition\n"));
    assert_eq!(t.lines().count(), 8);
    // The exact method locates the same kind of curve (first-order at small r).
    let text = stdout(&tms(&[
        "boundary",
        "--n",
        "2",
        "--m",
        "1",
        "--method",
        "exact",
        "--between",
        "not-represented,antipodal",
        "--r-range",
        "0.1:0.2",
        "--points",
        "2",
    ]));
    assert!(text.contains("first-order"), "{text}");
}

#[test]
fn bad_input_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("x.csv");
    let c = s(&csv);
    let wrong = write(
        dir.path(),
        "cfg.json",
        r#"[{"name": "a", "W": [[1, 0, 0]], "b": [0, 0, "s/2"]}]"#,
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--method", "exact", "--grid", "0"],
            "at least one point",
        ),
        (vec!["--method", "exact", "--grid", "5000"], "too large"),
        (vec!["--method", "exact", "--r-range", "10:0.1"], "inverted"),
        (
            vec!["--method", "exact", "--density-range", "0:1"],
            "positive",
        ),
        (
            vec!["--method", "exact", "--density-range", "0.1:2"],
            "at most 1",
        ),
        (vec!["--method", "magic"], "unknown phase method"),
        (vec!["--compare", "theory,theory"], "two different methods"),
        (vec!["--method", "exact", "--shard", "4/3"], "K/N"),
        (
            vec!["--method", "theory", "--configs", s(&wrong)],
            "n = 3, m = 1",
        ),
        (vec!["--method", "sgd", "--no-bias"], "no-bias"),
        (
            vec!["--method", "exact", "--activation", "tanhh"],
            "unknown activation",
        ),
    ];
    for (extra, want) in cases {
        let mut args = vec!["phase", "--n", "2", "--m", "1", "--csv", c];
        args.extend(extra.iter().copied());
        assert_usage_error(&format!("{extra:?}"), &tms(&args), want);
        assert!(!csv.exists());
    }
    let b = [
        "boundary",
        "--n",
        "2",
        "--m",
        "1",
        "--between",
        "not-represented,antipodal",
    ];
    let bcases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--method", "theory", "--r-range", "1:1"], "inverted"),
        (
            vec!["--method", "exact", "--compare", "4*s"],
            "unknown name 's'",
        ),
        (vec!["--method", "exact", "--compare", "4*(r"], "missing"),
        (vec!["--method", "theory", "--compare", "r"], "need a curve"),
    ];
    for (extra, want) in bcases {
        let mut args: Vec<&str> = b.to_vec();
        args.extend(extra.iter().copied());
        args.extend(["--csv", c]);
        assert_usage_error(&format!("{extra:?}"), &tms(&args), want);
        assert!(!csv.exists());
    }
    let o = tms(&[
        "boundary",
        "--n",
        "2",
        "--m",
        "1",
        "--method",
        "exact",
        "--between",
        "not-represented,bogus",
    ]);
    assert_usage_error("unknown phase", &o, "unknown configuration");
}
