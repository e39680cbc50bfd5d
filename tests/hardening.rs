//! No confident wrong answers: overflow, scale, census duplicates, resource guards, output
//! files, silent defaults and exact data — each case a reproduction from a hostile test.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use num_rational::BigRational;
use tms_exact::data::{Data, PerFeature};
use tms_exact::objective::Objective;
use tms_exact::optimize::{census, census::same_point, CensusOptions};

mod binary;
use binary::*;

/// Exit status 1 (numerical failure), one `error:` line naming `want`, nothing on stdout.
fn assert_numerical_failure(label: &str, o: &Output, want: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{label}: stderr {err}");
    assert!(o.stdout.is_empty(), "{label}: stdout {:?}", o.stdout);
    assert_eq!(err.lines().count(), 1, "{label}: {err}");
    assert!(
        err.starts_with("error: ") && err.contains(want),
        "{label}: {err}"
    );
}

fn model(dir: &Path, name: &str, text: &str) -> String {
    write(dir, name, text).to_str().unwrap().to_string()
}

#[test]
fn overflowing_inputs_are_refused_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = [
        ("huge W", r#"{"W": [[1e308, -1e308]], "b": [0, 0]}"#),
        ("huge and tiny", r#"{"W": [[1e200, 1e-200]], "b": [0, 0]}"#),
        ("loss overflows", r#"{"W": [[1e150, 1]], "b": [0, 0]}"#),
        ("huge bias", r#"{"W": [[1, 1]], "b": [1e300, 0]}"#),
        ("huge negative bias", r#"{"W": [[1, 1]], "b": [-1e300, 0]}"#),
    ];
    for (label, text) in cases {
        let p = model(d, "m.json", text);
        for cmd in [
            vec!["loss", &p],
            vec!["loss", &p, "--json"],
            vec!["loss", &p, "--grad", "--exact"],
            vec!["verify", &p, "--restarts", "2"],
        ] {
            assert_numerical_failure(label, &tms(&cmd), "cannot be represented");
        }
    }
    assert_numerical_failure(
        "fixed huge weight",
        &tms(&["minimize", "--n", "2", "--m", "1", "--fix", "W[0,0]=1e300"]),
        "cannot be represented",
    );
    let p = model(d, "ok.json", r#"{"W": [[1, -1]], "b": [0, 0]}"#);
    assert_numerical_failure(
        "huge leaky slope",
        &tms(&["loss", &p, "--activation", "leaky_relu:1e300"]),
        "leaky slope",
    );
    // A .npy of 1e300s (written by hand: header, then little-endian f64 data).
    let npy = d.join("w.npy");
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let pad = 64 - (10 + header.len() + 1) % 64;
    let h = format!("{header}{}\n", " ".repeat(pad));
    bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
    bytes.extend_from_slice(h.as_bytes());
    for _ in 0..2 {
        bytes.extend_from_slice(&1e300f64.to_le_bytes());
    }
    std::fs::write(&npy, bytes).unwrap();
    assert_numerical_failure(
        "npy of 1e300",
        &tms(&["verify", npy.to_str().unwrap(), "--restarts", "2"]),
        "cannot be represented",
    );
}

#[test]
fn a_uniform_importance_gives_the_same_critical_points() {
    let census_at = |importance: f64| {
        let data = Data::new(5)
            .unwrap()
            .with_density(&PerFeature::Constant(0.05))
            .unwrap()
            .with_importance(&PerFeature::Constant(importance))
            .unwrap();
        let obj = Objective::new(data);
        let c = census(
            &obj,
            &CensusOptions::new(5, 2).unwrap().with_restarts(8).unwrap(),
        )
        .unwrap();
        c.points
            .iter()
            .map(|p| {
                (
                    p.minimum.loss / importance,
                    p.minimum.kind_name(),
                    p.count,
                    p.minimum.grad_norm / importance,
                )
            })
            .collect::<Vec<_>>()
    };
    let base = census_at(1.0);
    assert!(!base.is_empty());
    for importance in [1e-8, 1e8, 1e-300, 1e200] {
        let other = census_at(importance);
        assert_eq!(
            other.len(),
            base.len(),
            "importance {importance}: {other:?} vs {base:?}"
        );
        for (a, b) in base.iter().zip(&other) {
            assert!(
                (a.0 - b.0).abs() <= 1e-12 * a.0,
                "importance {importance}: {a:?} vs {b:?}"
            );
            assert_eq!((a.1, a.2), (b.1, b.2), "importance {importance}");
            assert!(
                b.3 <= 1e-12,
                "importance {importance}: relative ‖∇L‖ {}",
                b.3
            );
        }
    }
}

#[test]
fn a_large_census_lists_each_critical_point_once() {
    let obj = Objective::new(Data::new(2).unwrap());
    let c = census(
        &obj,
        &CensusOptions::new(2, 1)
            .unwrap()
            .with_restarts(300)
            .unwrap(),
    )
    .unwrap();
    let scale = obj.scale();
    for (k, p) in c.points.iter().enumerate() {
        assert!(
            p.minimum.grad_norm <= tms_exact::tolerance::CENSUS_GRAD * scale,
            "point {k}: ‖∇L‖ {:e}",
            p.minimum.grad_norm
        );
        for q in &c.points[k + 1..] {
            assert!(
                !same_point(&p.minimum, &q.minimum, true, &[0, 0]),
                "listed twice: {} and {}",
                p.minimum.loss,
                q.minimum.loss
            );
        }
    }
    // The dead network (every output zero, loss 2/3) is one plateau, listed once.
    let dead = c
        .points
        .iter()
        .filter(|p| (p.minimum.loss - 2.0 / 3.0).abs() < 1e-12)
        .count();
    assert!(dead <= 1, "{dead} entries for the dead plateau");
    let counted: usize = c.points.iter().map(|p| p.count).sum::<usize>() + c.unconverged;
    assert_eq!(counted, 300);
}

#[test]
fn resource_guards_refuse_before_work_starts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let quick = |label: &str, args: &[&str], want: &str| {
        let t = Instant::now();
        let o = tms(args);
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{label}: took {:?}",
            t.elapsed()
        );
        assert_usage_error(label, &o, want);
    };
    // One-hot with n = 100 000: the n×n matrix M alone is 80 GB.
    let n = 100_000;
    let ones = vec!["0"; n].join(",");
    let p = model(
        d,
        "wide.json",
        &format!(r#"{{"W": [[{ones}]], "b": [{ones}], "data": {{"distribution": "one-hot"}}}}"#),
    );
    quick(
        "one-hot n = 100000",
        &["loss", &p, "--method", "closed"],
        "memory",
    );
    quick(
        "one-hot n = 100000, exact",
        &["loss", &p, "--exact"],
        "too large",
    );
    quick(
        "one-hot n = 100000, verify",
        &["verify", &p, "--restarts", "1"],
        "memory",
    );
    quick(
        "hours of search",
        &[
            "minimize",
            "--n",
            "1000",
            "--m",
            "10",
            "--distribution",
            "one-hot",
        ],
        "hours",
    );
    quick(
        "samples beyond the limit",
        &[
            "loss",
            "--example",
            "antipodal",
            "--method",
            "mc",
            "--samples",
            "1000000000000",
        ],
        "samples",
    );
    // A .npy whose header declares 20000 × 20000: refused from the header.
    let npy = d.join("big.npy");
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (20000, 20000), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let pad = 64 - (10 + header.len() + 1) % 64;
    let h = format!("{header}{}\n", " ".repeat(pad));
    bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
    bytes.extend_from_slice(h.as_bytes());
    std::fs::write(&npy, bytes).unwrap();
    quick("huge array", &["verify", npy.to_str().unwrap()], "limit");
}

#[test]
fn output_files_are_checked_first_and_written_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let train = |out: &Path, instances: &str| {
        tms(&[
            "train",
            "--n",
            "2",
            "--m",
            "1",
            "--steps",
            "10",
            "--instances",
            instances,
            "--out",
            out.to_str().unwrap(),
        ])
    };
    // A name that promises another format is refused.
    let o = train(&d.join("t.npy"), "1");
    assert_usage_error("npy name", &o, ".json");
    assert!(!d.join("t.npy").exists());
    // One instance's path is a directory: nothing is trained or written.
    std::fs::create_dir(d.join("t-1.json")).unwrap();
    let o = train(&d.join("t.json"), "3");
    assert_usage_error("taken path", &o, "directory");
    assert!(!d.join("t-0.json").exists() && !d.join("t-2.json").exists());
    // Special files are written through, never replaced.
    let o = train(Path::new("/dev/null"), "1");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
    // The message names the files written.
    let o = train(&d.join("u.json"), "2");
    let text = stdout(&o);
    assert!(
        text.contains("u-0.json") && text.contains("u-1.json"),
        "{text}"
    );
    assert!(!text.contains("-k."), "{text}");
}

#[test]
fn no_silent_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (label, text, want) in [
        (
            "null density",
            r#"{"W": [[1, -1]], "b": [0, 0], "data": {"density": null}}"#,
            "null",
        ),
        (
            "null data",
            r#"{"W": [[1, -1]], "b": [0, 0], "data": null}"#,
            "null",
        ),
        (
            "null activation",
            r#"{"W": [[1, -1]], "b": [0, 0], "activation": null}"#,
            "null",
        ),
        (
            "quoted density",
            r#"{"W": [[1, -1]], "b": [0, 0], "data": {"density": "0.1"}}"#,
            "without quotes",
        ),
        (
            "quoted list",
            r#"{"W": [[1, -1]], "b": [0, 0], "data": {"density": "0.1,0.2"}}"#,
            "without quotes",
        ),
    ] {
        let p = model(d, "m.json", text);
        assert_usage_error(label, &tms(&["loss", &p]), want);
    }
    // A byte-order mark is accepted.
    let p = model(d, "bom.json", "\u{feff}{\"W\": [[1, -1]], \"b\": [0, 0]}");
    stdout(&tms(&["loss", &p]));
    // Conflicting or repeated --fix.
    let min = |extra: &[&str]| {
        let mut a = vec!["minimize", "--n", "2", "--m", "1", "--restarts", "2"];
        a.extend_from_slice(extra);
        tms(&a)
    };
    assert_usage_error(
        "no-bias and fixed bias",
        &min(&["--no-bias", "--fix", "b[0]=0.5"]),
        "--no-bias",
    );
    assert_usage_error(
        "fixed twice",
        &min(&["--fix", "W[0,0]=1", "--fix", "W[0,0]=2"]),
        "same parameter",
    );
}

#[test]
fn exact_means_exact_in_the_data_too() {
    let dir = tempfile::tempdir().unwrap();
    let p = model(
        dir.path(),
        "zero.json",
        r#"{"W": [[0, 0, 0]], "b": [0, 0, 0]}"#,
    );
    // The zero model loses Σ_i q_i E[x_i²] = 3 · (1/3) · (1/3) = 1/3 under one-hot data:
    // exactly 1/3, not the rational of the f64 nearest 1/3.
    let v = json(&["loss", &p, "--distribution", "one-hot", "--exact", "--json"]);
    assert_eq!(v["exact"], "1/3");
    // With a sparsity s, the density is exactly 1 − s for the f64 s given: loss 3·(1 − s)/3.
    let v = json(&["loss", &p, "--sparsity", "0.9", "--exact", "--json"]);
    let s = BigRational::from_float(0.9).unwrap();
    let want = BigRational::from_integer(1.into()) - s;
    assert_eq!(v["exact"], format!("{}/{}", want.numer(), want.denom()));
}
