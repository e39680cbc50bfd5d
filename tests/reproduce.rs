//! `tms-exact reproduce`: a real study end to end under --quick, incremental runs, and bad
//! recipes refused before anything is written.

mod binary;

use std::path::Path;

use binary::{assert_usage_error, stdout, tms, write};

fn png_size(bytes: &[u8]) -> (u32, u32) {
    let d = png::Decoder::new(std::io::Cursor::new(bytes));
    let r = d.read_info().expect("a PNG");
    (r.info().width, r.info().height)
}

/// A repository root with one study whose only step is cheap (an exact formula and a small
/// surface), in a temporary directory.
fn small_root(dir: &Path, grid: &str) {
    std::fs::create_dir_all(dir.join("analysis/tiny")).unwrap();
    write(
        &dir.join("analysis/tiny"),
        "recipe.toml",
        &format!(
            r#"title = "A tiny study"
summary = "Two steps."

[[step]]
name = "formula"
caption = "An antipodal pair's loss"
args = ["formula", "--config", "antipodal", "--n", "2", "--m", "1"]

[[step]]
name = "surface-{{p}}"
args = ["surface", "--n", "2", "--m", "1", "--density", "{{p}}", "--grid", "{grid}",
        "--out", "{{fig}}/s-{{p}}"]
quick = {{ "--grid" = "5" }}
vary = {{ p = ["0.2", "1"] }}
"#
        ),
    );
}

#[test]
fn quick_run_of_a_real_study_writes_report_figures_and_data_outside_the_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let into = tmp.path().join("quick");
    let o = tms(&[
        "reproduce",
        "mcgrath-surfaces",
        "--quick",
        "--into",
        into.to_str().unwrap(),
    ]);
    let text = stdout(&o);
    assert!(
        text.contains("mcgrath-surfaces: 4 steps, 4 figures"),
        "{text}"
    );
    let report = std::fs::read_to_string(into.join("analysis/mcgrath-surfaces/README.md")).unwrap();
    assert!(report.starts_with("# McGrath's loss surfaces"), "{report}");
    assert!(report.contains("--quick"));
    // Commands are shown as a reader types them from the repository root, with quick values.
    assert!(report.contains("$ tms-exact surface --n 2 --m 1 --density 0.1"));
    assert!(report.contains("--grid 16"));
    assert!(report.contains("--out figures/mcgrath-surfaces/sparse-unequal"));
    assert!(
        !report.contains(into.to_str().unwrap()),
        "scratch paths leak"
    );
    for name in ["sparse-unequal", "dense-equal", "coexisting", "switch"] {
        assert!(report.contains(&format!("](../../figures/mcgrath-surfaces/{name}.png)")));
        let fig = into.join("figures/mcgrath-surfaces");
        let png = std::fs::read(fig.join(format!("{name}.png"))).unwrap();
        let (w, h) = png_size(&png);
        assert!(w > 1000 && h > 400, "{name}: {w}×{h}");
        let csv = std::fs::read_to_string(fig.join(format!("{name}.csv"))).unwrap();
        assert!(csv.starts_with("w1,w2,loss,b1,b2"), "{}", &csv[..40]);
        assert_eq!(csv.lines().count(), 1 + 16 * 16);
    }
    // Quick runs leave no stamp (they never count as reproduced).
    assert!(!into
        .join("figures/mcgrath-surfaces/reproduce.stamp")
        .exists());
}

#[test]
fn runs_are_incremental_and_forced_or_changed_recipes_run_again() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    small_root(root, "6");
    let run = |extra: &[&str]| {
        let mut a = vec!["reproduce", "tiny", "--root", root.to_str().unwrap()];
        a.extend_from_slice(extra);
        stdout(&tms(&a))
    };
    let list = stdout(&tms(&[
        "reproduce",
        "--list",
        "--root",
        root.to_str().unwrap(),
    ]));
    assert!(list.contains("tiny") && list.contains("to run") && list.contains("3 steps"));
    let first = run(&[]);
    assert!(first.contains("tiny: 3 steps, 2 figures"), "{first}");
    let report = std::fs::read_to_string(root.join("analysis/tiny/README.md")).unwrap();
    assert!(
        report.contains("(1 + r)") || report.contains("s^2"),
        "{report}"
    );
    assert!(root.join("figures/tiny/s-0.2.png").is_file());
    assert!(root.join("figures/tiny/s-1.csv").is_file());
    assert!(root.join("figures/tiny/reproduce.stamp").is_file());
    assert!(run(&[]).contains("up to date"));
    let list = stdout(&tms(&[
        "reproduce",
        "--list",
        "--root",
        root.to_str().unwrap(),
    ]));
    assert!(list.contains("up to date"), "{list}");
    let forced = run(&["--force"]);
    assert!(
        forced.contains("3 steps") && !forced.contains("reused"),
        "{forced}"
    );
    // Only the text changed: every step's output is reused and the report shows the new text.
    let recipe = root.join("analysis/tiny/recipe.toml");
    let text = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(&recipe, text.replace("Two steps.", "Two steps; findings.")).unwrap();
    let again = run(&[]);
    assert!(again.contains("3 steps (3 unchanged"), "{again}");
    let report = std::fs::read_to_string(root.join("analysis/tiny/README.md")).unwrap();
    assert!(report.contains("Two steps; findings."), "{report}");
    assert!(report.contains("(1 + r)") || report.contains("s^2"));
    // A changed step runs again with every step after it; the one before is reused.
    small_root(root, "7");
    let changed = run(&[]);
    assert!(changed.contains("3 steps (1 unchanged"), "{changed}");
    let csv = std::fs::read_to_string(root.join("figures/tiny/s-1.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 7 * 7);
}

#[test]
fn bad_requests_and_recipes_are_one_line_errors_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    small_root(root, "6");
    let r = root.to_str().unwrap();
    assert_usage_error(
        "unknown study",
        &tms(&["reproduce", "nosuch", "--root", r]),
        "unknown study 'nosuch'",
    );
    assert_usage_error("nothing named", &tms(&["reproduce", "--root", r]), "--all");
    let cases = [
        ("title = \"t\"\n[[step]]\nname = \"a\"\n", "args"),
        (
            "title = \"t\"\n[[step]]\nname = \"a\"\nargs = [\"loss\", \"{oops}\"]\n",
            "{oops}",
        ),
        ("title = \"t\"\n[[step]\n", "malformed recipe"),
    ];
    for (k, (text, want)) in cases.iter().enumerate() {
        let name = format!("bad{k}");
        std::fs::create_dir_all(root.join("analysis").join(&name)).unwrap();
        write(&root.join("analysis").join(&name), "recipe.toml", text);
        let o = tms(&["reproduce", &name, "--root", r]);
        assert_usage_error(&name, &o, want);
        assert!(String::from_utf8_lossy(&o.stderr).contains("recipe.toml"));
        assert!(!root.join("figures").join(&name).exists());
        assert!(!root.join("analysis").join(&name).join("README.md").exists());
    }
    // A step whose command is refused names the recipe and the step; the report is not written.
    std::fs::create_dir_all(root.join("analysis/failing")).unwrap();
    write(
        &root.join("analysis/failing"),
        "recipe.toml",
        "title = \"t\"\n[[step]]\nname = \"s\"\nargs = [\"surface\", \"--n\", \"2\", \"--m\", \
         \"1\", \"--grid\", \"0\", \"--out\", \"{fig}/x\"]\n",
    );
    // The progress lines come first on stderr; the error is the last line.
    let o = tms(&["reproduce", "failing", "--root", r]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains("step 's'") && last.contains("--grid 0"),
        "{err}"
    );
    assert!(!root.join("analysis/failing/README.md").exists());
    assert!(!root.join("figures/failing/x.png").exists());
    // An unknown flag inside a step is clap's message, on one line.
    write(
        &root.join("analysis/failing"),
        "recipe.toml",
        "title = \"t\"\n[[step]]\nname = \"s\"\nargs = [\"loss\", \"--bogus\"]\n",
    );
    assert_usage_error(
        "bad flag",
        &tms(&["reproduce", "failing", "--root", r]),
        "--bogus",
    );
}
