//! Weights stacks with per-instance data (issue 11): `loss` and `verify` on `[instances,
//! features, hidden]` files, data from `instances:` flags or from the file's
//! `feature_probability` / `importance` arrays (broadcast), flags overriding the file, and
//! wrong lengths refused in one line.

mod binary;

use std::path::{Path, PathBuf};

use binary::{assert_usage_error, json, stdout, tms, write, write_npz};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use serde_json::Value;
use tms_exact::tolerance;

const K: usize = 3;
const N: usize = 4;
const M: usize = 2;

/// Instance k's `W` in the notebook's layout, `[features, hidden]`, row-major.
fn w_fh(k: usize) -> Vec<f64> {
    (0..N * M)
        .map(|j| (0.7 * (j as f64 + 1.0) + 1.3 * k as f64).sin())
        .collect()
}

fn bias(k: usize) -> Vec<f64> {
    (0..N)
        .map(|i| -0.05 * (i as f64 + 1.0) + 0.02 * k as f64)
        .collect()
}

fn stack_w() -> Vec<f64> {
    (0..K).flat_map(w_fh).collect()
}

fn stack_b() -> Vec<f64> {
    (0..K).flat_map(bias).collect()
}

/// A notebook stack (W, b_final) plus the given extra arrays.
fn stack_npz(dir: &Path, name: &str, extra: &[(&str, &[u64], &[f64])]) -> PathBuf {
    let (w, b) = (stack_w(), stack_b());
    let mut arrays: Vec<(&str, &[u64], &[f64])> = vec![
        ("W", &[K as u64, N as u64, M as u64], &w),
        ("b_final", &[K as u64, N as u64], &b),
    ];
    arrays.extend_from_slice(extra);
    let p = dir.join(name);
    write_npz(&p, &arrays);
    p
}

/// Instance k as a model file in our convention (W is m×n: row h holds W_fh[·][h]).
fn model_file(dir: &Path, k: usize, density: f64, importance: &[f64]) -> PathBuf {
    let w = w_fh(k);
    let rows: Vec<Vec<f64>> = (0..M)
        .map(|h| (0..N).map(|f| w[f * M + h]).collect())
        .collect();
    let v = serde_json::json!({
        "W": rows,
        "b": bias(k),
        "data": {"density": density, "importance": importance},
    });
    write(dir, &format!("instance{k}.json"), &v.to_string())
}

fn losses(v: &Value) -> Vec<f64> {
    v["instances"]
        .as_array()
        .expect("a list of instances")
        .iter()
        .map(|i| i["loss"].as_f64().unwrap())
        .collect()
}

fn loss_json(args: &[&str]) -> Vec<f64> {
    let mut a = vec!["loss"];
    a.extend_from_slice(args);
    a.push("--json");
    losses(&json(&a))
}

const DENSITIES: [f64; K] = [0.05, 0.3, 1.0];
const DECAY: [f64; N] = [1.0, 0.9, 0.81, 0.729];

#[test]
fn loss_of_a_stack_is_the_loss_of_each_sliced_model() {
    let dir = tempfile::tempdir().unwrap();
    let p = stack_npz(dir.path(), "stack.npz", &[]);
    let got = loss_json(&[
        p.to_str().unwrap(),
        "--density",
        "instances:0.05,0.3,1",
        "--importance",
        "decay:0.9",
    ]);
    assert_eq!(got.len(), K);
    for k in 0..K {
        let f = model_file(dir.path(), k, DENSITIES[k], &DECAY);
        let one = json(&["loss", f.to_str().unwrap(), "--json"]);
        let want = one["loss"].as_f64().unwrap();
        assert!(
            (got[k] - want).abs() <= tolerance::LOSS_REL * want.abs(),
            "instance {k}: {} vs {want}",
            got[k]
        );
    }
    // Instances differ, so a shared density would be visibly wrong.
    assert!(got[0] != got[2]);
    // Text: one line per instance, with its density.
    let text = stdout(&tms(&[
        "loss",
        p.to_str().unwrap(),
        "--density",
        "instances:0.05,0.3,1",
    ]));
    assert!(text.contains("3 instances"), "{text}");
    for (k, d) in ["0.05", "0.3", "1"].iter().enumerate() {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{k} ")))
            .unwrap_or_else(|| panic!("no line for instance {k}: {text}"));
        assert!(line.contains(d), "{line}");
    }
}

#[test]
fn file_arrays_are_read_and_broadcast() {
    let dir = tempfile::tempdir().unwrap();
    let flags = loss_json(&[
        stack_npz(dir.path(), "plain.npz", &[]).to_str().unwrap(),
        "--density",
        "instances:0.05,0.3,1",
        "--importance",
        "1,0.9,0.81,0.729",
    ]);
    let full_density: Vec<f64> = DENSITIES.iter().flat_map(|&d| [d; N]).collect();
    let full_importance: Vec<f64> = (0..K).flat_map(|_| DECAY).collect();
    // The notebook's shapes: [instances, 1] and [1, features]; and the full ones; and
    // [features] for the importance.
    // (file, density shape, density, importance shape, importance)
    type Case = (&'static str, Vec<u64>, Vec<f64>, Vec<u64>, Vec<f64>);
    let cases: Vec<Case> = vec![
        (
            "notebook.npz",
            vec![K as u64, 1],
            DENSITIES.to_vec(),
            vec![1, N as u64],
            DECAY.to_vec(),
        ),
        (
            "full.npz",
            vec![K as u64, N as u64],
            full_density,
            vec![K as u64, N as u64],
            full_importance,
        ),
        (
            "flat.npz",
            vec![K as u64, 1],
            DENSITIES.to_vec(),
            vec![N as u64],
            DECAY.to_vec(),
        ),
    ];
    for (name, ds, dv, is, iv) in &cases {
        let p = stack_npz(
            dir.path(),
            name,
            &[("feature_probability", ds, dv), ("importance", is, iv)],
        );
        let o = tms(&["loss", p.to_str().unwrap(), "--json"]);
        let got = losses(&serde_json::from_str(&stdout(&o)).unwrap());
        assert_eq!(got, flags, "{name}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("'feature_probability'") && err.contains("'importance'"),
            "{name}: the source is not named: {err}"
        );
    }
    // A scalar density applies to every instance and feature.
    let p = stack_npz(
        dir.path(),
        "scalar.npz",
        &[("feature_probability", &[], &[0.3])],
    );
    assert_eq!(
        loss_json(&[p.to_str().unwrap()]),
        loss_json(&[p.to_str().unwrap(), "--density", "0.3"])
    );
}

#[test]
fn flags_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = stack_npz(
        dir.path(),
        "stack.npz",
        &[
            ("feature_probability", &[K as u64, 1], &DENSITIES),
            ("importance", &[1, N as u64], &DECAY),
        ],
    );
    let plain = stack_npz(dir.path(), "plain.npz", &[]);
    // --density overrides the file's density; the importance still comes from the file.
    let o = tms(&["loss", p.to_str().unwrap(), "--density", "0.5", "--json"]);
    let got = losses(&serde_json::from_str(&stdout(&o)).unwrap());
    let want = loss_json(&[
        plain.to_str().unwrap(),
        "--density",
        "0.5",
        "--importance",
        "decay:0.9",
    ]);
    assert_eq!(got, want);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("density from the flags") && err.contains("'importance'"),
        "{err}"
    );
    // --sparsity overrides the density too.
    assert_eq!(loss_json(&[p.to_str().unwrap(), "--sparsity", "0.5"]), want);
    // Custom keys; a named key that is missing is an error listing what is there.
    let q = stack_npz(
        dir.path(),
        "custom.npz",
        &[("p", &[K as u64, 1], &DENSITIES)],
    );
    assert_eq!(
        loss_json(&[q.to_str().unwrap(), "--density-key", "p"]),
        loss_json(&[plain.to_str().unwrap(), "--density", "instances:0.05,0.3,1"])
    );
    assert_usage_error(
        "missing key",
        &tms(&["loss", q.to_str().unwrap(), "--importance-key", "imp"]),
        "no importance array named 'imp'",
    );
}

#[test]
fn wrong_lengths_and_shapes_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = stack_npz(dir.path(), "stack.npz", &[]);
    for cmd in ["loss", "verify"] {
        let o = tms(&[cmd, p.to_str().unwrap(), "--density", "instances:0.1,0.2"]);
        assert_usage_error(
            cmd,
            &o,
            "--density instances:… has 2 values but there are 3 instances",
        );
        let o = tms(&[
            cmd,
            p.to_str().unwrap(),
            "--importance",
            "instances:1,1,1,1",
        ]);
        assert_usage_error(cmd, &o, "--importance instances:… has 4 values");
    }
    // A per-feature list of instance count is still per feature, and refused as such.
    let o = tms(&["loss", p.to_str().unwrap(), "--density", "0.1,0.2,0.3"]);
    assert_usage_error(
        "per-feature list",
        &o,
        "3 entries but the model has 4 features",
    );
    // A file array that does not broadcast names the file, the array and the shapes.
    let bad = stack_npz(
        dir.path(),
        "bad.npz",
        &[("feature_probability", &[2, 1], &[0.1, 0.2])],
    );
    let o = tms(&["loss", bad.to_str().unwrap()]);
    assert_usage_error(
        "bad shape",
        &o,
        "does not broadcast to [instances, features] = [3, 4]",
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.npz"));
    // Out of range in the file: the data's own check.
    let bad = stack_npz(
        dir.path(),
        "range.npz",
        &[("feature_probability", &[K as u64, 1], &[0.1, 1.5, 0.2])],
    );
    assert_usage_error(
        "range",
        &tms(&["loss", bad.to_str().unwrap()]),
        "outside [0, 1]",
    );
    // Instance forms do not apply to a single model file.
    let f = model_file(dir.path(), 0, 0.5, &DECAY);
    assert_usage_error(
        "model file",
        &tms(&[
            "loss",
            f.to_str().unwrap(),
            "--density",
            "instances:0.1,0.2",
        ]),
        "2 values but there is 1 instance",
    );
    assert_usage_error(
        "keys on a model file",
        &tms(&["loss", f.to_str().unwrap(), "--density-key", "p"]),
        "not model files",
    );
}

#[test]
fn safetensors_and_torch_files_carry_their_data() {
    let dir = tempfile::tempdir().unwrap();
    let (w, b) = (stack_w(), stack_b());
    let bytes = |v: &[f64]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let (wb, bb, db, ib) = (bytes(&w), bytes(&b), bytes(&DENSITIES), bytes(&DECAY));
    let tensors = vec![
        (
            "W",
            TensorView::new(Dtype::F64, vec![K, N, M], &wb).unwrap(),
        ),
        (
            "b_final",
            TensorView::new(Dtype::F64, vec![K, N], &bb).unwrap(),
        ),
        (
            "feature_probability",
            TensorView::new(Dtype::F64, vec![K, 1], &db).unwrap(),
        ),
        (
            "importance",
            TensorView::new(Dtype::F64, vec![1, N], &ib).unwrap(),
        ),
    ];
    let p = dir.path().join("stack.safetensors");
    std::fs::write(&p, safetensors::serialize(tensors, None).unwrap()).unwrap();
    let plain = stack_npz(dir.path(), "plain.npz", &[]);
    assert_eq!(
        loss_json(&[p.to_str().unwrap()]),
        loss_json(&[
            plain.to_str().unwrap(),
            "--density",
            "instances:0.05,0.3,1",
            "--importance",
            "decay:0.9"
        ])
    );
    // A whole pickled module written by real torch.save holds feature_probability [2, 1] and
    // importance [1, 3] (float32) as attributes (see make_torch_fixtures.py).
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/weights/torch_module_3d.pt");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/weights/torch_expected.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let e = &expected["torch_module_3d.pt"];
    let fp: Vec<String> = e["feature_probability"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_f64().unwrap().to_string())
        .collect();
    let imp: Vec<String> = e["importance"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap().to_string())
        .collect();
    let from_file = loss_json(&[fixture.to_str().unwrap()]);
    let from_flags = loss_json(&[
        fixture.to_str().unwrap(),
        "--density",
        &format!("instances:{}", fp.join(",")),
        "--importance",
        &imp.join(","),
    ]);
    assert_eq!(from_file.len(), 2);
    assert_eq!(from_file, from_flags);
}

#[test]
fn verify_judges_each_instance_against_its_own_density() {
    let dir = tempfile::tempdir().unwrap();
    let p = stack_npz(
        dir.path(),
        "stack.npz",
        &[("feature_probability", &[K as u64, 1], &DENSITIES)],
    );
    let o = tms(&["verify", p.to_str().unwrap(), "--restarts", "3", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let inst = v["instances"].as_array().unwrap();
    assert_eq!(inst.len(), K);
    // The loss at the weights is each instance's own (as `loss` computes it).
    let want = loss_json(&[
        stack_npz(dir.path(), "plain.npz", &[]).to_str().unwrap(),
        "--density",
        "instances:0.05,0.3,1",
    ]);
    assert_eq!(losses(&v), want);
    for i in inst {
        // The numbers the verdict rests on are there, and agree with it.
        let d = i["relative_distance"].as_f64().unwrap();
        let improvement = i["improvement"].as_f64().unwrap();
        let kind = i["verdict_kind"].as_str().unwrap();
        assert!(kind == "below_best_known" || i["gap"].as_f64().unwrap() >= improvement - 1e-15);
        let far =
            d > tolerance::VERDICT_NOISE_DISTANCE && improvement > tolerance::VERDICT_NOISE_GAP;
        assert_eq!(far, kind == "not_converged", "{i}");
    }
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("'feature_probability'"), "{err}");
    assert!(err.contains("--reduction mean"), "{err}");
    // Instances with different densities have no one best point to write.
    let best = dir.path().join("best.json");
    let o = tms(&[
        "verify",
        p.to_str().unwrap(),
        "--restarts",
        "3",
        "--out",
        best.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("different objectives"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!best.exists());
}
