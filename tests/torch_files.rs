//! Reading `torch.save` files. The fixtures `tests/fixtures/weights/torch_*.pt` were written by
//! real PyTorch 2.15 (`make_torch_fixtures.py`), which also wrote `torch_expected.json`: the
//! tensors as torch held them. Each readable fixture is compared with that JSON (torch's own
//! values) and with the formula the script built them from (an independent route).

mod binary;

use std::path::{Path, PathBuf};

use nalgebra::{DMatrix, DVector};
use serde_json::Value;
use tms_exact::io::torch::TorchFile;
use tms_exact::io::weights::{read_weights, Instance, Layout, WeightNames};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/weights")
        .join(name)
}

fn expected() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(fixture("torch_expected.json")).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Object(m) => m,
        other => panic!("torch_expected.json is not an object: {other}"),
    }
}

/// Nested JSON lists of numbers as (shape, C-order values).
fn nested(v: &Value) -> (Vec<usize>, Vec<f64>) {
    match v {
        Value::Array(items) => {
            let parts: Vec<_> = items.iter().map(nested).collect();
            let mut shape = vec![parts.len()];
            shape.extend(parts.first().map(|p| p.0.clone()).unwrap_or_default());
            (shape, parts.into_iter().flat_map(|p| p.1).collect())
        }
        other => (vec![], vec![other.as_f64().expect("a number")]),
    }
}

/// Instance k of the reference model in our convention (see make_torch_fixtures.py).
fn formula_w(k: usize) -> DMatrix<f64> {
    DMatrix::from_fn(2, 3, |h, f| (100 * k + 10 * h + f) as f64 + 0.5)
}

fn formula_b(k: usize) -> DVector<f64> {
    DVector::from_fn(3, |f, _| -((10 * k + f) as f64) - 0.25)
}

fn read(name: &str, layout: Option<Layout>, w: Option<&str>, b: Option<&str>) -> Vec<Instance> {
    let names = WeightNames {
        w: w.map(str::to_string),
        b: b.map(str::to_string),
    };
    read_weights(&fixture(name), layout, &names).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn err(name: &Path) -> String {
    match read_weights(name, None, &WeightNames::default()) {
        Ok(v) => panic!(
            "{}: expected an error, got {} instances",
            name.display(),
            v.len()
        ),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_fixture_matches_the_values_torch_saved() {
    let exp = expected();
    assert_eq!(exp.len(), 8, "fixtures listed in torch_expected.json");
    for (name, e) in &exp {
        let layout: Layout = e["layout"].as_str().unwrap().parse().unwrap();
        let got = read(
            name,
            Some(layout),
            e["w_name"].as_str(),
            e["b_name"].as_str(),
        );
        let (shape, w) = nested(&e["W"]);
        let (_, b) = nested(&e["b"]);
        let (k, d1, d2) = match shape[..] {
            [d1, d2] => (1, d1, d2),
            [k, d1, d2] => (k, d1, d2),
            _ => panic!("{name}: shape {shape:?}"),
        };
        assert_eq!(got.len(), k, "{name}: instances");
        for (i, inst) in got.iter().enumerate() {
            let block = &w[i * d1 * d2..(i + 1) * d1 * d2];
            let want = match layout {
                Layout::FeaturesHidden => DMatrix::from_fn(d2, d1, |h, f| block[f * d2 + h]),
                Layout::HiddenFeatures => DMatrix::from_fn(d1, d2, |h, f| block[h * d2 + f]),
            };
            assert_eq!(inst.w, want, "{name}: W of instance {i} vs torch's values");
            let n = inst.w.ncols();
            let want_b = DVector::from_column_slice(&b[i * n..(i + 1) * n]);
            assert_eq!(inst.b.as_ref(), Some(&want_b), "{name}: b of instance {i}");
            // The formula route: every value is exact in float16 and bfloat16.
            assert_eq!(inst.w, formula_w(i), "{name}: W vs the formula");
            assert_eq!(inst.b.as_ref(), Some(&formula_b(i)), "{name}: b vs formula");
        }
    }
}

#[test]
fn default_names_and_layout_read_a_notebook_state_dict() {
    for name in [
        "torch_sd_3d_f32.pt",
        "torch_sd_3d_f64.pt",
        "torch_sd_3d_f16.pt",
        "torch_sd_3d_bf16.pt",
        "torch_module_3d.pt",
    ] {
        let got = read(name, None, None, None);
        assert_eq!(got.len(), 2, "{name}");
        assert_eq!(got[1].w, formula_w(1), "{name}");
        assert_eq!(got[1].b, Some(formula_b(1)), "{name}");
    }
    let two_d = read("torch_sd_2d_f32.pt", None, None, None);
    assert_eq!(two_d.len(), 1);
    assert_eq!(two_d[0].w, formula_w(0));
}

#[test]
fn a_pickled_module_names_its_tensors_like_state_dict() {
    let file = TorchFile::open(&fixture("torch_module_3d.pt")).unwrap();
    let names = file.names();
    for want in ["W", "b_final", "feature_probability", "importance"] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    let exp = expected();
    let e = &exp["torch_module_3d.pt"];
    for key in ["feature_probability", "importance"] {
        let (shape, values) = file.tensor(key).unwrap();
        assert_eq!((shape, values), nested(&e[key]), "{key}");
    }
    // A checkpoint dict nests the state_dict's names under its key.
    let ckpt = TorchFile::open(&fixture("torch_checkpoint.pt")).unwrap();
    assert!(ckpt.names().contains(&"model.W".to_string()));
}

#[test]
fn a_transposed_view_and_a_storage_offset_are_honoured() {
    // w is fh.transpose(1, 2): strides (6, 1, 2) over a [2, 3, 2] storage; bias starts at 3.
    let got = read(
        "torch_strided_hf.pt",
        Some(Layout::HiddenFeatures),
        None,
        None,
    );
    for (k, inst) in got.iter().enumerate() {
        assert_eq!(inst.w, formula_w(k));
        assert_eq!(inst.b, Some(formula_b(k)));
    }
    // Read in the wrong layout, the bias length names the fix.
    let e = match read_weights(
        &fixture("torch_strided_hf.pt"),
        None,
        &WeightNames::default(),
    ) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("square-free layouts differ: expected an error"),
    };
    assert!(e.contains("hidden-features"), "{e}");
}

#[test]
fn unreadable_files_give_one_clear_line() {
    let cases = [
        ("torch_legacy.pt", "legacy (non-zip) torch.save format"),
        ("torch_bad_int.pt", "dtype int64"),
        ("torch_no_w.pt", "the file holds: weights"),
        ("notebook_fh_f32.npz", "(renamed .npz)"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, want) in cases {
        let path = if name.ends_with(".npz") {
            let p = dir.path().join("renamed.pt");
            std::fs::copy(fixture(name), &p).unwrap();
            p
        } else {
            fixture(name)
        };
        let msg = err(&path);
        let want = want.trim_start_matches("(renamed ").trim_end_matches(')');
        assert!(msg.contains(want), "{name}: {msg}");
        assert!(!msg.contains('\n'), "{name}: one line: {msg}");
    }
}

#[test]
fn truncated_and_corrupted_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("torch_module_3d.pt")).unwrap();
    let p = dir.path().join("cut.pt");
    for cut in (0..bytes.len()).step_by(97) {
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let msg = err(&p);
        assert!(msg.starts_with(&p.display().to_string()), "{msg}");
    }
    // Flip bytes inside data.pkl (stored uncompressed): Ok or Err, never a panic.
    let start = bytes.windows(8).position(|w| w == b"data.pkl").unwrap();
    for i in (start..(start + 1200).min(bytes.len())).step_by(7) {
        let mut c = bytes.clone();
        c[i] ^= 0x5a;
        std::fs::write(&p, &c).unwrap();
        let _ = read_weights(&p, None, &WeightNames::default());
    }
}

#[test]
fn the_cli_verifies_a_pt_file_and_refuses_a_legacy_one() {
    let legacy = fixture("torch_legacy.pt");
    let o = binary::tms(&["verify", legacy.to_str().unwrap()]);
    binary::assert_usage_error("legacy .pt", &o, "legacy");
    let pt = fixture("torch_sd_2d_f32.pt");
    let v = binary::json(&[
        "verify",
        pt.to_str().unwrap(),
        "--restarts",
        "1",
        "--density",
        "0.5",
        "--json",
    ]);
    let got = v["instances"][0]["W"].clone();
    let want: Vec<Vec<f64>> = (0..2)
        .map(|h| (0..3).map(|f| formula_w(0)[(h, f)]).collect())
        .collect();
    assert_eq!(got, serde_json::json!(want));
}
