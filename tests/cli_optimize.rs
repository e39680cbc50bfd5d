//! The real binary's `minimize`, `train` and `verify`: outputs, files, and bad input.

use std::path::Path;

use tms_exact::io::model_file::ModelFile;
use tms_exact::loss;

mod binary;
use binary::*;

const DATA: [&str; 4] = ["--density", "0.9", "--importance", "1,0.5"];

fn args<'a>(head: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    head.iter()
        .chain(DATA.iter())
        .chain(tail)
        .copied()
        .collect()
}

#[test]
fn minimize_json_has_the_census_and_the_best_file_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("best.json");
    let out_s = out.to_str().unwrap();
    let v = json(&args(
        &["minimize", "--n", "2", "--m", "1"],
        &["--restarts", "6", "--seed", "4", "--json", "--out", out_s],
    ));
    let best = &v["best"];
    assert!((best["loss"].as_f64().unwrap() - 0.04875).abs() < 1e-14);
    assert!(best["grad_norm"].as_f64().unwrap() < 1e-12);
    assert_eq!(best["kind"], "strict_minimum");
    let minima = v["minima"].as_array().unwrap();
    let counts: u64 = minima.iter().map(|p| p["count"].as_u64().unwrap()).sum();
    assert_eq!(counts, 6);
    let losses: Vec<f64> = minima.iter().map(|p| p["loss"].as_f64().unwrap()).collect();
    assert!(losses.windows(2).all(|w| w[0] <= w[1]));
    for p in minima {
        assert!(p["hessian_eigenvalues"].is_array());
    }
    // The written model is a model file whose exact loss is the reported one.
    let file = ModelFile::read(&out).unwrap();
    let l = loss::loss(&file.model, &file.objective).unwrap().loss;
    assert_eq!(l, best["loss"].as_f64().unwrap());
    let text = stdout(&tms(&["loss", out_s, "--json"]));
    assert!(text.contains("\"loss\""));
}

#[test]
fn minimize_no_bias_and_fix_hold_parameters() {
    let v = json(&args(
        &["minimize", "--n", "2", "--m", "1"],
        &[
            "--restarts",
            "4",
            "--no-bias",
            "--fix",
            "W[0,1]=0.5",
            "--json",
        ],
    ));
    let best = &v["best"];
    assert_eq!(floats(&best["b"]), vec![0.0, 0.0]);
    assert_eq!(best["W"][0][1].as_f64().unwrap(), 0.5);
}

#[test]
fn train_writes_one_file_per_instance_and_reports_exact_losses() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("trained.json");
    let v = json(&args(
        &["train", "--n", "2", "--m", "1"],
        &[
            "--steps",
            "200",
            "--instances",
            "2",
            "--seed",
            "9",
            "--json",
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    let inst = v["instances"].as_array().unwrap();
    assert_eq!(inst.len(), 2);
    for (k, i) in inst.iter().enumerate() {
        let path = dir.path().join(format!("trained-{k}.json"));
        let file = ModelFile::read(&path).unwrap();
        let l = loss::loss(&file.model, &file.objective).unwrap().loss;
        assert_eq!(l, i["exact_loss"].as_f64().unwrap());
        assert!(i["sampled_loss"].as_f64().unwrap() > 0.0);
    }
    // Same seed, same bits.
    let w = json(&args(
        &["train", "--n", "2", "--m", "1"],
        &[
            "--steps",
            "200",
            "--instances",
            "2",
            "--seed",
            "9",
            "--json",
        ],
    ));
    assert_eq!(v["instances"], w["instances"]);
}

/// Beyond the closed form (n = 20) the trainer reports the exact loss by the one-dimensional
/// route, the value `loss` gives for the written model.
#[test]
fn train_reports_exact_losses_beyond_the_closed_form() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("trained.json");
    let v = json(&[
        "train",
        "--n",
        "20",
        "--m",
        "5",
        "--importance",
        "decay:0.7",
        "--density",
        "0.1",
        "--steps",
        "300",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let reported = v["instances"][0]["exact_loss"].as_f64().unwrap();
    let file = ModelFile::read(&out).unwrap();
    let tol = tms_exact::route::onedim::default_tolerance();
    let want = tms_exact::route::onedim::loss(&file.model, &file.objective, tol).unwrap();
    assert!(want.error <= tol * want.loss);
    assert_eq!(reported, want.loss);
}

#[test]
fn verify_reads_model_files_and_weight_files() {
    let dir = tempfile::tempdir().unwrap();
    let opt = write(
        dir.path(),
        "opt.json",
        r#"{"W": [[1.0, 0.0]], "b": [0.0, 0.45], "data": {"density": 0.9, "importance": [1, 0.5]}}"#,
    );
    let v = json(&["verify", opt.to_str().unwrap(), "--restarts", "4", "--json"]);
    let i = &v["instances"][0];
    assert!(
        i["verdict"].as_str().unwrap().starts_with("at the optimum"),
        "{i}"
    );
    assert!((i["best"]["loss"].as_f64().unwrap() - 0.04875).abs() < 1e-14);
    assert!(i["local"]["distance"].as_f64().unwrap() < 1e-9);

    // A notebook-layout .npz stack of two instances (n = 3, m = 2).
    // --out writes the best critical point known as a model file that `loss` reads back.
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/weights/notebook_fh_f32.npz");
    let best = dir.path().join("best.json");
    let v = json(&[
        "verify",
        fixture.to_str().unwrap(),
        "--density",
        "0.2",
        "--restarts",
        "4",
        "--json",
        "--out",
        best.to_str().unwrap(),
    ]);
    let inst = v["instances"].as_array().unwrap();
    let lowest = inst
        .iter()
        .map(|i| i["best"]["loss"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    let back = json(&["loss", best.to_str().unwrap(), "--json"]);
    let l = back["loss"].as_f64().unwrap();
    assert!((l - lowest).abs() <= 1e-12 * lowest, "{l} vs {lowest}");
    assert_eq!(inst.len(), 2);
    for i in inst {
        // Weights of size ~100 are nowhere near a minimum.
        assert!(
            i["verdict"].as_str().unwrap().starts_with("not converged"),
            "{i}"
        );
        assert!(i["local"]["loss"].as_f64().unwrap() < i["loss"].as_f64().unwrap());
        assert_eq!(i["W"].as_array().unwrap().len(), 2);
    }
    // The same weights in ARENA's layout give the same losses.
    let arena = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/weights/arena_hf_f64.safetensors");
    let w = json(&[
        "verify",
        arena.to_str().unwrap(),
        "--layout",
        "hidden-features",
        "--density",
        "0.2",
        "--restarts",
        "4",
        "--json",
    ]);
    for (a, b) in inst.iter().zip(w["instances"].as_array().unwrap()) {
        assert_eq!(a["loss"], b["loss"]);
    }
    // A weights file without a bias uses b = 0 and says so.
    let nb = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/weights/no_bias_2d_fh.npz");
    let o = tms(&["verify", nb.to_str().unwrap(), "--restarts", "2"]);
    let text = stdout(&o);
    assert!(
        text.starts_with("note: ") && text.contains("b = 0"),
        "{text}"
    );
    // No data settings at all: the defaults assumed are said on stderr.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no data settings given") && err.contains("density 1"),
        "{err}"
    );
    let o = tms(&[
        "verify",
        nb.to_str().unwrap(),
        "--restarts",
        "2",
        "--density",
        "0.5",
    ]);
    stdout(&o);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("no data settings"));
}

#[test]
fn bad_inputs_are_one_line_and_exit_2_without_partial_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.json");
    let out_s = out.to_str().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/weights");
    let fx = |name: &str| fixtures.join(name).to_str().unwrap().to_string();
    let truncated = dir.path().join("truncated.npy");
    let bytes = std::fs::read(fixtures.join("w2_fh_f64.npy")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 5]).unwrap();
    let trunc_s = truncated.to_str().unwrap().to_string();
    let npz = fx("notebook_fh_f32.npz");
    let missing_dir = dir
        .path()
        .join("no/such/dir/x.json")
        .to_str()
        .unwrap()
        .to_string();
    let dir_s = dir.path().to_str().unwrap().to_string();
    let int64 = fx("bad_int64.npy");
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "restarts 0",
            vec![
                "minimize",
                "--n",
                "2",
                "--m",
                "1",
                "--restarts",
                "0",
                "--out",
                out_s,
            ],
            "restarts",
        ),
        (
            "bad fix",
            vec!["minimize", "--n", "2", "--m", "1", "--fix", "W[3,0]=1"],
            "out of range",
        ),
        (
            "fix W_out tied",
            vec!["minimize", "--n", "2", "--m", "1", "--fix", "W_out[0,0]=1"],
            "untied",
        ),
        (
            "minimize density",
            vec!["minimize", "--n", "2", "--m", "1", "--density", "2"],
            "density",
        ),
        (
            "minimize too large",
            vec!["minimize", "--n", "80", "--m", "20"],
            "too large",
        ),
        (
            "steps 0",
            vec![
                "train", "--n", "2", "--m", "1", "--steps", "0", "--out", out_s,
            ],
            "step",
        ),
        (
            "negative lr",
            vec![
                "train", "--n", "2", "--m", "1", "--lr", "-0.1", "--out", out_s,
            ],
            "learning rate",
        ),
        (
            "unknown optimizer",
            vec!["train", "--n", "2", "--m", "1", "--optimizer", "lion"],
            "optimizer",
        ),
        (
            "batch 0",
            vec!["train", "--n", "2", "--m", "1", "--batch", "0"],
            "batch",
        ),
        (
            "missing file",
            vec!["verify", "/nonexistent/w.npy"],
            "nonexistent",
        ),
        ("truncated npy", vec!["verify", &trunc_s], "truncated"),
        ("int dtype", vec!["verify", &int64], "dtype"),
        (
            "missing tensor",
            vec!["verify", &npz, "--w-name", "weights"],
            "weights",
        ),
        (
            "layout mismatch",
            vec!["verify", &npz, "--layout", "hidden-features"],
            "layout",
        ),
        (
            "restarts 0 verify",
            vec!["verify", &npz, "--restarts", "0"],
            "restarts",
        ),
        ("unknown extension", vec!["verify", "model.pt"], "model.pt"),
        (
            "restarts beyond the limit",
            vec![
                "minimize",
                "--n",
                "2",
                "--m",
                "1",
                "--restarts",
                "1000000000000",
            ],
            "at most",
        ),
        (
            "training work beyond the limit",
            vec![
                "train",
                "--n",
                "2",
                "--m",
                "1",
                "--instances",
                "100000000",
                "--out",
                out_s,
            ],
            "limit",
        ),
        (
            "out in a missing directory",
            vec!["minimize", "--n", "2", "--m", "1", "--out", &missing_dir],
            "does not exist",
        ),
        (
            "train out in a missing directory",
            vec!["train", "--n", "2", "--m", "1", "--out", &missing_dir],
            "does not exist",
        ),
        (
            "out is a directory",
            vec!["minimize", "--n", "2", "--m", "1", "--out", &dir_s],
            "directory",
        ),
    ];
    for (label, a, want) in cases {
        assert_usage_error(label, &tms(&a), want);
        assert!(!out.exists(), "{label}: left an output file");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "stray files"
    );
}
