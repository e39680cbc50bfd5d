//! Reading weights saved by numpy / safetensors. The fixtures under `tests/fixtures/weights/`
//! were written by real numpy 2.4 and safetensors (see `make_fixtures.py` there); bad inputs are
//! derived from them or written here with npyz / safetensors.

mod binary;

use std::path::{Path, PathBuf};

use binary::write_npz;
use nalgebra::{DMatrix, DVector};
use npyz::WriterBuilder;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use tms_exact::io::weights::{read_weights, Instance, Layout, WeightNames};
use tms_exact::Error;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/weights")
        .join(name)
}

/// Instance k of the fixtures in our convention: W[h, f] = 100k + 10h + f + 0.5 (m=2, n=3).
fn expected_w(k: usize) -> DMatrix<f64> {
    DMatrix::from_fn(2, 3, |h, f| (100 * k + 10 * h + f) as f64 + 0.5)
}

fn expected_b(k: usize) -> DVector<f64> {
    DVector::from_fn(3, |f, _| -((10 * k + f) as f64) - 0.25)
}

fn read(name: &str, layout: Option<Layout>) -> Vec<Instance> {
    read_weights(&fixture(name), layout, &WeightNames::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn names(w: Option<&str>, b: Option<&str>) -> WeightNames {
    WeightNames {
        w: w.map(str::to_string),
        b: b.map(str::to_string),
    }
}

fn check(got: &[Instance], instances: usize, bias: bool) {
    assert_eq!(got.len(), instances);
    for (k, inst) in got.iter().enumerate() {
        assert_eq!(inst.w, expected_w(k), "W of instance {k}");
        match (&inst.b, bias) {
            (Some(b), true) => assert_eq!(b, &expected_b(k), "b of instance {k}"),
            (None, false) => {}
            (b, _) => panic!("bias presence: got {b:?}, expected {bias}"),
        }
    }
}

fn err_text(r: tms_exact::Result<Vec<Instance>>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {} instances", v.len()),
        Err(e) => e.to_string(),
    }
}

// ---------------------------------------------------------------- .npy

#[test]
fn npy_2d_both_layouts_both_dtypes_both_orders() {
    let fh = Some(Layout::FeaturesHidden);
    let hf = Some(Layout::HiddenFeatures);
    check(&read("w2_fh_f64.npy", None), 1, false);
    check(&read("w2_fh_f64.npy", fh), 1, false);
    check(&read("w2_fh_f32_fortran.npy", None), 1, false);
    check(&read("w2_hf_f32.npy", hf), 1, false);
    check(&read("w2_hf_f64_fortran.npy", hf), 1, false);
}

#[test]
fn npy_3d_both_layouts_both_dtypes_both_orders() {
    let hf = Some(Layout::HiddenFeatures);
    check(&read("w3_fh_f32.npy", None), 2, false);
    check(&read("w3_fh_f64_fortran.npy", None), 2, false);
    check(&read("w3_hf_f64.npy", hf), 2, false);
    check(&read("w3_hf_f32_fortran.npy", hf), 2, false);
}

#[test]
fn npy_wrong_layout_transposes() {
    // Without a bias nothing can tell the layouts apart; the other layout gives Wᵀ's shape.
    let got = read("w2_fh_f64.npy", Some(Layout::HiddenFeatures));
    assert_eq!(got[0].w, expected_w(0).transpose());
}

#[test]
fn npy_big_endian_and_float16() {
    check(&read("w2_fh_f64_bigendian.npy", None), 1, false);
    check(&read("w2_fh_f16.npy", None), 1, false);
}

#[test]
fn npy_rejects_array_names() {
    let e = read_weights(&fixture("w2_fh_f64.npy"), None, &names(Some("W"), None));
    assert!(err_text(e).contains("one unnamed array"));
}

// ---------------------------------------------------------------- .npz

#[test]
fn npz_notebook_names_f32_3d() {
    check(&read("notebook_fh_f32.npz", None), 2, true);
}

#[test]
fn npz_alternate_default_names_fortran_hidden_features() {
    // Arrays "w" and "bias".
    check(
        &read("arena_hf_f64_fortran.npz", Some(Layout::HiddenFeatures)),
        2,
        true,
    );
}

#[test]
fn npz_custom_names_compressed_with_or_without_suffix() {
    let p = fixture("custom_2d_hf_compressed.npz");
    let hf = Some(Layout::HiddenFeatures);
    for (w, b) in [("embed", "out_bias"), ("embed.npy", "out_bias.npy")] {
        let got = read_weights(&p, hf, &names(Some(w), Some(b))).unwrap();
        check(&got, 1, true);
    }
}

#[test]
fn npz_without_bias_and_broadcast_bias() {
    check(&read("no_bias_2d_fh.npz", None), 1, false);
    let got = read("bias_broadcast_3d.npz", None);
    assert_eq!(got.len(), 2);
    for (k, inst) in got.iter().enumerate() {
        assert_eq!(inst.w, expected_w(k));
        assert_eq!(inst.b.as_ref().unwrap(), &expected_b(0));
    }
}

#[test]
fn npz_missing_name_lists_what_is_there() {
    let p = fixture("custom_2d_hf_compressed.npz");
    let msg = err_text(read_weights(&p, None, &WeightNames::default()));
    assert!(
        msg.contains("embed") && msg.contains("out_bias") && msg.contains("other"),
        "{msg}"
    );
    let msg = err_text(read_weights(&p, None, &names(Some("W_enc"), None)));
    assert!(msg.contains("W_enc") && msg.contains("embed"), "{msg}");
    let msg = err_text(read_weights(
        &fixture("notebook_fh_f32.npz"),
        None,
        &names(None, Some("b_out")),
    ));
    assert!(msg.contains("b_out") && msg.contains("b_final"), "{msg}");
}

// ---------------------------------------------------------------- .safetensors

#[test]
fn safetensors_default_names_both_layouts() {
    check(&read("notebook_fh_f32.safetensors", None), 2, true);
    check(
        &read("arena_hf_f64.safetensors", Some(Layout::HiddenFeatures)),
        2,
        true,
    );
}

#[test]
fn safetensors_custom_names() {
    let got = read_weights(
        &fixture("custom_2d_hf.safetensors"),
        Some(Layout::HiddenFeatures),
        &names(Some("encoder.weight"), Some("decoder.bias")),
    )
    .unwrap();
    check(&got, 1, true);
    let msg = err_text(read_weights(
        &fixture("custom_2d_hf.safetensors"),
        None,
        &WeightNames::default(),
    ));
    assert!(
        msg.contains("encoder.weight") && msg.contains("decoder.bias"),
        "{msg}"
    );
}

#[test]
fn safetensors_half_precision_is_converted() {
    check(&read("notebook_fh_f16.safetensors", None), 2, true);
    // bfloat16 written here: the top 16 bits of each f32 (all fixture values are exact).
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bf16.safetensors");
    let mut fh: Vec<f32> = Vec::new();
    for k in 0..2 {
        let w = expected_w(k);
        for f in 0..3 {
            for h in 0..2 {
                fh.push(w[(h, f)] as f32);
            }
        }
    }
    let bytes: Vec<u8> = fh
        .iter()
        .flat_map(|x| ((x.to_bits() >> 16) as u16).to_le_bytes())
        .collect();
    let view = TensorView::new(Dtype::BF16, vec![2, 3, 2], &bytes).unwrap();
    let buf = safetensors::serialize(vec![("W", view)], None).unwrap();
    std::fs::write(&p, buf).unwrap();
    check(
        &read_weights(&p, None, &WeightNames::default()).unwrap(),
        2,
        false,
    );
}

// ---------------------------------------------------------------- layout mistakes

#[test]
fn bias_length_mismatch_hints_the_other_layout() {
    for f in ["notebook_fh_f32.npz", "notebook_fh_f32.safetensors"] {
        let msg = err_text(read_weights(
            &fixture(f),
            Some(Layout::HiddenFeatures),
            &WeightNames::default(),
        ));
        assert!(msg.contains("features-hidden layout"), "{f}: {msg}");
    }
    // The ARENA file read with the default layout: hint towards hidden-features.
    let msg = err_text(read_weights(
        &fixture("arena_hf_f64.safetensors"),
        None,
        &WeightNames::default(),
    ));
    assert!(
        msg.contains("hidden-features layout") && msg.contains("default"),
        "{msg}"
    );
}

// ---------------------------------------------------------------- bad inputs

fn copy_to(dir: &Path, name: &str) -> (PathBuf, Vec<u8>) {
    let bytes = std::fs::read(fixture(name)).unwrap();
    (dir.join(name), bytes)
}

fn is_format(r: tms_exact::Result<Vec<Instance>>) -> String {
    match r {
        Err(e @ Error::Format { .. }) => e.to_string(),
        Err(e) => panic!("expected a format error, got {e:?}"),
        Ok(_) => panic!("expected a format error, got Ok"),
    }
}

#[test]
fn missing_file_and_unknown_extension() {
    let r = read_weights(
        Path::new("/nonexistent/w.npy"),
        None,
        &WeightNames::default(),
    );
    assert!(matches!(r, Err(Error::Io { .. })));
    let dir = tempfile::tempdir().unwrap();
    for name in ["w", "w.json"] {
        let p = dir.path().join(name);
        std::fs::write(&p, b"whatever").unwrap();
        let msg = is_format(read_weights(&p, None, &WeightNames::default()));
        assert!(msg.contains(".npy, .npz, .safetensors or"), "{msg}");
    }
}

#[test]
fn truncated_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "w2_fh_f64.npy",
        "w3_fh_f32.npy",
        "w2_fh_f16.npy",
        "notebook_fh_f32.npz",
        "custom_2d_hf_compressed.npz",
        "notebook_fh_f32.safetensors",
    ] {
        let (p, bytes) = copy_to(dir.path(), name);
        for cut in [0, 5, 20, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let r = read_weights(&p, None, &names_for(name));
            let msg = is_format(r);
            assert!(!msg.is_empty(), "{name} cut at {cut}");
        }
    }
    // A .npy cut inside its data says so precisely.
    let (p, bytes) = copy_to(dir.path(), "w2_fh_f64.npy");
    std::fs::write(&p, &bytes[..bytes.len() - 8]).unwrap();
    let msg = is_format(read_weights(&p, None, &WeightNames::default()));
    assert!(msg.contains("truncated"), "{msg}");
}

fn names_for(name: &str) -> WeightNames {
    if name.starts_with("custom") {
        names(Some("embed"), Some("out_bias"))
    } else {
        WeightNames::default()
    }
}

#[test]
fn corrupt_headers_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    // Magic string destroyed.
    let (p, mut bytes) = copy_to(dir.path(), "w2_fh_f64.npy");
    bytes[1] = b'X';
    std::fs::write(&p, &bytes).unwrap();
    assert!(is_format(read_weights(&p, None, &WeightNames::default())).contains(".npy"));
    // Header dictionary garbled.
    let (p, mut bytes) = copy_to(dir.path(), "w2_fh_f64.npy");
    for b in &mut bytes[12..30] {
        *b = b'}';
    }
    std::fs::write(&p, &bytes).unwrap();
    is_format(read_weights(&p, None, &WeightNames::default()));
    // Safetensors JSON garbled, and a header length pointing past the end.
    let (p, mut bytes) = copy_to(dir.path(), "notebook_fh_f32.safetensors");
    bytes[9] = b'@';
    std::fs::write(&p, &bytes).unwrap();
    is_format(read_weights(&p, None, &WeightNames::default()));
    let (p, mut bytes) = copy_to(dir.path(), "notebook_fh_f32.safetensors");
    bytes[..8].copy_from_slice(&1_000_000u64.to_le_bytes());
    std::fs::write(&p, &bytes).unwrap();
    is_format(read_weights(&p, None, &WeightNames::default()));
    // Not a zip at all.
    let p = dir.path().join("fake.npz");
    std::fs::write(&p, b"PK\x03\x04 this is not really a zip").unwrap();
    is_format(read_weights(&p, None, &WeightNames::default()));
}

#[test]
fn wrong_dtypes_are_errors() {
    let msg = is_format(read_weights(
        &fixture("bad_int64.npy"),
        None,
        &WeightNames::default(),
    ));
    assert!(msg.contains("int64"), "{msg}");
    let msg = is_format(read_weights(
        &fixture("bad_complex.npy"),
        None,
        &WeightNames::default(),
    ));
    assert!(msg.contains("complex128"), "{msg}");
    let msg = is_format(read_weights(
        &fixture("bad_int32.safetensors"),
        None,
        &WeightNames::default(),
    ));
    assert!(msg.contains("I32"), "{msg}");
}

fn write_npy(p: &Path, shape: &[u64], data: &[f64]) {
    let mut w = npyz::WriteOptions::<f64>::new()
        .default_dtype()
        .shape(shape)
        .writer(std::io::BufWriter::new(std::fs::File::create(p).unwrap()))
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}

#[test]
fn wrong_ranks_and_empty_arrays_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.npy");
    for (shape, len) in [
        (vec![6u64], 6),
        (vec![1, 1, 2, 3], 6),
        (vec![], 1),
        (vec![0, 2], 0),
    ] {
        write_npy(&p, &shape, &vec![1.0; len]);
        let msg = is_format(read_weights(&p, None, &WeightNames::default()));
        assert!(msg.contains("shape"), "{shape:?}: {msg}");
    }
}

#[test]
fn bad_bias_shapes_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.npz");
    let w3 = vec![0.5; 2 * 3 * 2];
    // [k, n] with the wrong k.
    write_npz(
        &p,
        &[("W", &[2, 3, 2], &w3), ("b_final", &[3, 3], &[0.0; 9])],
    );
    let msg = is_format(read_weights(&p, None, &WeightNames::default()));
    assert!(msg.contains("instances"), "{msg}");
    // Rank 2 bias with a 2-D W.
    write_npz(&p, &[("W", &[3, 2], &w3[..6]), ("b", &[1, 3], &[0.0; 3])]);
    let msg = is_format(read_weights(&p, None, &WeightNames::default()));
    assert!(msg.contains("[n]"), "{msg}");
    // Length fitting neither layout: no hint.
    write_npz(&p, &[("W", &[3, 2], &w3[..6]), ("b", &[5], &[0.0; 5])]);
    let msg = is_format(read_weights(&p, None, &WeightNames::default()));
    assert!(
        msg.contains("5 entries") && !msg.contains("would match"),
        "{msg}"
    );
}

#[test]
fn non_finite_entries_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.npy");
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut d = vec![0.25; 6];
        d[3] = bad;
        write_npy(&p, &[3, 2], &d);
        let msg = is_format(read_weights(&p, None, &WeightNames::default()));
        assert!(
            msg.contains("non-finite") && msg.contains("[1, 1]"),
            "{msg}"
        );
    }
    let q = dir.path().join("w.npz");
    write_npz(
        &q,
        &[
            ("W", &[3, 2], &[0.25; 6]),
            ("b", &[3], &[0.0, f64::NAN, 0.0]),
        ],
    );
    let msg = is_format(read_weights(&q, None, &WeightNames::default()));
    assert!(msg.contains("'b'") && msg.contains("non-finite"), "{msg}");
}

#[test]
fn written_fortran_npy_round_trips() {
    // npyz-written Fortran order, 3-D, as a second check beside numpy's fixtures.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.npy");
    // Fortran order: flat index = k + 2·(f + 3·h) for shape [2, 3, 2] (features-hidden).
    let mut data = vec![0.0; 12];
    for k in 0..2 {
        for f in 0..3 {
            for h in 0..2 {
                data[k + 2 * (f + 3 * h)] = expected_w(k)[(h, f)];
            }
        }
    }
    let mut w = npyz::WriteOptions::<f64>::new()
        .default_dtype()
        .shape(&[2, 3, 2])
        .order(npyz::Order::Fortran)
        .writer(std::io::BufWriter::new(std::fs::File::create(&p).unwrap()))
        .begin_nd()
        .unwrap();
    w.extend(data).unwrap();
    w.finish().unwrap();
    check(
        &read_weights(&p, None, &WeightNames::default()).unwrap(),
        2,
        false,
    );
}
