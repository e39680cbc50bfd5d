//! The real binary, end to end: outputs agree with the library, and every bad input is one
//! line on stderr with exit status 2.

use std::time::{Duration, Instant};

use num_rational::BigRational;
use num_traits::ToPrimitive;
use tms_exact::io::model_file::ModelFile;
use tms_exact::loss;
use tms_exact::presets::example;
use tms_exact::settings::DataSettings;

mod binary;
use binary::*;

const UNTIED: &str = r#"{
  "W": [[1.0, -0.5, 0.25], [0.0, 0.75, -1.0]],
  "b": [-0.1, 0.05, 0.0],
  "W_out": [[0.9, 0.1], [-0.4, 0.8], [0.2, -1.1]],
  "data": {"density": [0.3, 0.2, 0.1], "importance": "decay:0.7"}
}"#;

#[test]
fn text_output_agrees_with_library() {
    let out = stdout(&tms(&["loss", "--example", "pentagon", "--per-feature"]));
    let f = example("pentagon").unwrap();
    let want = loss::loss(&f.model, &f.objective).unwrap();
    let line = out.lines().find(|l| l.starts_with("loss ")).expect(&out);
    let got: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(got, want.loss, "{out}");
    // One table row per feature, its loss term printed to 7 significant digits.
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.split_whitespace().count() == 4 && l.trim_start().starts_with(char::is_numeric)
        })
        .collect();
    assert_eq!(rows.len(), 5, "{out}");
    for (i, r) in rows.iter().enumerate() {
        let term: f64 = r.split_whitespace().nth(3).unwrap().parse().unwrap();
        assert!(
            (term - want.per_feature[i]).abs() <= 1e-6 * want.per_feature[i],
            "{r}"
        );
    }
    assert!(out.contains("closed form"), "{out}");
}

#[test]
fn json_output_agrees_with_library_untied_with_gradient() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "untied.json", UNTIED);
    let v = json(&["loss", p.to_str().unwrap(), "--json", "--grad"]);
    let f = ModelFile::from_json_str(UNTIED, "untied.json").unwrap();
    let (want, grad) = loss::loss_and_gradient(&f.model, &f.objective).unwrap();
    assert_eq!(v["loss"].as_f64().unwrap(), want.loss);
    assert_eq!(floats(&v["per_feature"]), want.per_feature);
    assert_eq!(v["method"], "closed");
    assert_eq!((v["n"].as_u64(), v["m"].as_u64()), (Some(3), Some(2)));
    assert!(v["error"].as_f64().unwrap() > 0.0);
    let g = &v["gradient"];
    // W in the file's layout: m rows of n.
    let w: Vec<Vec<f64>> = g["W"].as_array().unwrap().iter().map(floats).collect();
    assert_eq!(w.len(), 2);
    for (r, row) in w.iter().enumerate() {
        for (c, x) in row.iter().enumerate() {
            assert_eq!(*x, grad.w[(r, c)]);
        }
    }
    let wo: Vec<Vec<f64>> = g["W_out"].as_array().unwrap().iter().map(floats).collect();
    let gwo = grad.w_out.unwrap();
    assert_eq!(wo.len(), 3);
    for (r, row) in wo.iter().enumerate() {
        for (c, x) in row.iter().enumerate() {
            assert_eq!(*x, gwo[(r, c)]);
        }
    }
    assert_eq!(floats(&g["b"]), grad.b.iter().copied().collect::<Vec<_>>());
    assert!(v.get("exact").is_none());
    // Tied models have no W_out entry.
    let v = json(&["loss", "--example", "antipodal", "--json", "--grad"]);
    assert!(v["gradient"].get("W_out").is_none());
}

#[test]
fn exact_fraction_equals_closed_form() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "untied.json", UNTIED);
    for args in [
        vec![
            "loss",
            p.to_str().unwrap(),
            "--json",
            "--exact",
            "--per-feature",
        ],
        vec![
            "loss",
            "--example",
            "dropped",
            "--json",
            "--exact",
            "--per-feature",
        ],
        vec![
            "loss",
            "--example",
            "pentagon",
            "--json",
            "--exact",
            "--per-feature",
        ],
    ] {
        let v = json(&args);
        let closed = v["loss"].as_f64().unwrap();
        let exact: BigRational = v["exact"].as_str().unwrap().parse().unwrap();
        let exact = exact.to_f64().unwrap();
        assert!(
            (closed - exact).abs() <= 1e-12 * exact.abs(),
            "{args:?}: {closed} vs {exact}"
        );
        let terms = v["exact_per_feature"].as_array().unwrap();
        assert_eq!(terms.len(), v["per_feature"].as_array().unwrap().len());
    }
    // Text: the decimal, then the fraction (of the binary density 0.1, so not 1/300).
    let out = stdout(&tms(&["loss", "--example", "antipodal", "--exact"]));
    let decimal: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("exact"))
        .expect(&out)
        .trim()
        .parse()
        .unwrap();
    let fraction: BigRational = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("= "))
        .expect(&out)
        .parse()
        .unwrap();
    assert_eq!(fraction.to_f64().unwrap(), decimal);
    assert!((decimal - 2.0 * 0.01 / 6.0).abs() < 1e-17);
}

#[test]
fn data_flags_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "untied.json", UNTIED);
    let p = p.to_str().unwrap();
    let f = ModelFile::from_json_str(UNTIED, "untied.json").unwrap();
    let cases: [(&[&str], DataSettings); 4] = [
        (
            &[
                "--density",
                "0.5",
                "--importance",
                "1,0.5,2",
                "--reduction",
                "mean",
            ],
            DataSettings {
                density: Some("0.5".into()),
                importance: Some("1,0.5,2".into()),
                reduction: Some("mean".into()),
                ..DataSettings::default()
            },
        ),
        (
            &["--sparsity", "0.9", "--activation", "leaky_relu:0.1"],
            DataSettings {
                sparsity: Some("0.9".into()),
                activation: Some("leaky_relu:0.1".into()),
                ..DataSettings::default()
            },
        ),
        // One-hot drops the file's density instead of refusing it.
        (
            &["--distribution", "one-hot:0.5,0.25,0.25"],
            DataSettings {
                distribution: Some("one-hot:0.5,0.25,0.25".into()),
                ..DataSettings::default()
            },
        ),
        (
            &["--activation", "linear"],
            DataSettings {
                activation: Some("linear".into()),
                ..DataSettings::default()
            },
        ),
    ];
    let base = loss::loss(&f.model, &f.objective).unwrap().loss;
    for (flags, data) in cases {
        let mut args = vec!["loss", p, "--json"];
        args.extend_from_slice(flags);
        let got = json(&args)["loss"].as_f64().unwrap();
        let obj = data.apply(&f.objective).unwrap();
        let want = loss::loss(&f.model, &obj).unwrap().loss;
        assert_eq!(got, want, "{flags:?}");
        assert_ne!(got, base, "{flags:?} had no effect");
    }
    // The defaults with no file (what minimize/train will use).
    let obj = DataSettings::default().objective(3).unwrap();
    assert_eq!(obj.data().density(), &[1.0; 3]);
}

#[test]
fn examples_run_and_are_listed() {
    let v = json(&["loss", "--example", "antipodal", "--json"]);
    assert!((v["loss"].as_f64().unwrap() - 2.0 * 0.01 / 6.0).abs() < 1e-15);
    for name in ["dropped", "pentagon"] {
        let v = json(&["loss", "--example", name, "--json"]);
        assert!(v["loss"].as_f64().unwrap() > 0.0);
    }
    let list = stdout(&tms(&["loss", "--example", "list"]));
    let help = stdout(&tms(&["loss", "--help"]));
    for name in ["antipodal", "dropped", "pentagon"] {
        assert!(list.contains(name) && help.contains(name), "{name}");
    }
    assert!(stdout(&tms(&["--version"])).contains("tms-exact"));
}

#[test]
fn monte_carlo_is_seeded_and_agrees() {
    let args = [
        "loss",
        "--example",
        "pentagon",
        "--json",
        "--method",
        "mc",
        "--samples",
        "20000",
        "--seed",
        "7",
    ];
    let a = json(&args);
    let b = json(&args);
    assert_eq!(a, b, "same seed, same output");
    assert_eq!(a["method"], "mc");
    let f = example("pentagon").unwrap();
    let want = loss::loss(&f.model, &f.objective).unwrap().loss;
    let (l, se) = (a["loss"].as_f64().unwrap(), a["error"].as_f64().unwrap());
    assert!(
        se > 0.0 && (l - want).abs() <= 5.0 * se,
        "{l} ± {se} vs {want}"
    );
}

#[test]
fn quadrature_agrees_with_closed_form_and_monte_carlo() {
    for name in ["antipodal", "dropped"] {
        let closed = json(&["loss", "--example", name, "--json"])["loss"]
            .as_f64()
            .unwrap();
        let q = json(&[
            "loss",
            "--example",
            name,
            "--json",
            "--method",
            "quadrature",
        ]);
        assert_eq!(q["method"], "quadrature");
        let (l, err) = (q["loss"].as_f64().unwrap(), q["error"].as_f64().unwrap());
        assert!(
            (l - closed).abs() <= 1e-9,
            "{name}: {l} ± {err} vs {closed}"
        );
    }
    // A smooth activation: quadrature only, checked against Monte Carlo.
    let gelu = [
        "loss",
        "--example",
        "antipodal",
        "--json",
        "--activation",
        "gelu",
    ];
    let q = json(&[&gelu[..], &["--method", "quadrature"]].concat());
    let mc = json(&[&gelu[..], &["--method", "mc", "--samples", "50000"]].concat());
    let (l, se) = (mc["loss"].as_f64().unwrap(), mc["error"].as_f64().unwrap());
    let exactish = q["loss"].as_f64().unwrap();
    assert!((l - exactish).abs() <= 5.0 * se, "{l} ± {se} vs {exactish}");
}

/// A model file with n = 20, m = 2 (all 20 features active together under independent data).
fn twenty_features() -> String {
    let rows: Vec<String> = (0..2)
        .map(|r| {
            format!(
                "[{}]",
                vec![if r == 0 { "1" } else { "0.5" }; 20].join(", ")
            )
        })
        .collect();
    format!(
        r#"{{"W": [{}], "b": [{}]}}"#,
        rows.join(", "),
        vec!["0"; 20].join(", ")
    )
}

#[test]
fn bad_inputs_are_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = |name: &str, text: &str| write(d, name, text).to_str().unwrap().to_string();
    let good = model("good.json", r#"{"W": [[1, -1]], "b": [0, 0]}"#);
    let big = model("big.json", &twenty_features());
    let files: Vec<(&str, String, &str)> = vec![
        (
            "ragged W",
            model("ragged.json", r#"{"W": [[1, 0], [1]], "b": [0, 0]}"#),
            "ragged",
        ),
        (
            "mismatched b",
            model("b.json", r#"{"W": [[1, 0]], "b": [0]}"#),
            "b has 1 entries",
        ),
        (
            "1e999",
            model("inf.json", r#"{"W": [[1e999, 0]], "b": [0, 0]}"#),
            "out of range",
        ),
        (
            "density 1.5",
            model(
                "d.json",
                r#"{"W": [[1]], "b": [0], "data": {"density": 1.5}}"#,
            ),
            "outside [0, 1]",
        ),
        (
            "negative importance",
            model(
                "i.json",
                r#"{"W": [[1, 1]], "b": [0, 0], "data": {"importance": [1, -1]}}"#,
            ),
            "importance",
        ),
        (
            "unknown activation",
            model("a.json", r#"{"W": [[1]], "b": [0], "activation": "tanh"}"#),
            "unknown activation",
        ),
        (
            "unknown distribution",
            model(
                "u.json",
                r#"{"W": [[1]], "b": [0], "data": {"distribution": "zipf"}}"#,
            ),
            "unknown distribution",
        ),
        (
            "active sets not summing to 1",
            model(
                "s.json",
                r#"{"W": [[1, 1]], "b": [0, 0],
                    "data": {"distribution": {"active_sets": [[[0, 1], 0.3], [[1], 0.3]]}}}"#,
            ),
            "not 1",
        ),
        (
            "empty W",
            model("e.json", r#"{"W": [], "b": []}"#),
            "W has no rows",
        ),
        (
            "malformed JSON",
            model("m.json", r#"{"W": [[1,, 2]], "b": [0, 0]}"#),
            "line 1 column",
        ),
        (
            "truncated JSON",
            model("t.json", "{\"W\": [[1, -1]],\n \"b\": [0,"),
            "EOF",
        ),
        (
            "unknown key",
            model("k.json", r#"{"W": [[1]], "b": [0], "bias": [0]}"#),
            "unknown field",
        ),
        (
            "missing file",
            d.join("nope.json").to_str().unwrap().into(),
            "nope.json",
        ),
        (
            "not UTF-8",
            {
                let p = d.join("bin.json");
                std::fs::write(&p, [0x7b, 0xff, 0xfe]).unwrap();
                p.to_str().unwrap().into()
            },
            "UTF-8",
        ),
    ];
    for (label, path, want) in &files {
        assert_usage_error(label, &tms(&["loss", path]), want);
    }
    let flags: Vec<(&str, Vec<&str>, &str)> = vec![
        ("unknown flag", vec!["--foo"], "unexpected argument '--foo'"),
        (
            "density and sparsity",
            vec!["--density", "0.1", "--sparsity", "0.2"],
            "cannot be used",
        ),
        (
            "samples 0",
            vec!["--method", "mc", "--samples", "0"],
            "at least 1",
        ),
        (
            "samples beyond the limit",
            vec!["--method", "mc", "--samples", "100000000000"],
            "limit",
        ),
        (
            "samples not a number",
            vec!["--method", "mc", "--samples", "x"],
            "invalid value",
        ),
        (
            "samples without mc",
            vec!["--samples", "10"],
            "--method mc only",
        ),
        (
            "unknown method",
            vec!["--method", "simpson"],
            "invalid value",
        ),
        (
            "density flag 1.5",
            vec!["--density", "1.5"],
            "outside [0, 1]",
        ),
        (
            "negative importance flag",
            vec!["--importance", "-1"],
            "≥ 0",
        ),
        (
            "importance list length",
            vec!["--importance", "1,2,3"],
            "3 entries",
        ),
        (
            "unknown activation flag",
            vec!["--activation", "tanh"],
            "unknown activation",
        ),
        (
            "unknown distribution flag",
            vec!["--distribution", "zipf"],
            "unknown distribution",
        ),
        (
            "one-hot with density",
            vec!["--distribution", "one-hot", "--density", "0.1"],
            "density",
        ),
        (
            "smooth activation closed",
            vec!["--activation", "gelu", "--method", "closed"],
            "--method quadrature",
        ),
        (
            "bad tol",
            vec!["--method", "quadrature", "--tol", "-1"],
            "--tol",
        ),
    ];
    for (label, extra, want) in &flags {
        let mut args = vec!["loss", good.as_str()];
        args.extend(extra);
        assert_usage_error(label, &tms(&args), want);
    }
    assert_usage_error("no model", &tms(&["loss"]), "exactly one");
    assert_usage_error(
        "file and example",
        &tms(&["loss", &good, "--example", "antipodal"]),
        "exactly one",
    );
    assert_usage_error(
        "unknown example",
        &tms(&["loss", "--example", "hexagon"]),
        "antipodal",
    );
    assert_usage_error("unknown subcommand", &tms(&["lose"]), "lose");

    // n = 20 independent features: refused at once, never attempted.
    let start = Instant::now();
    assert_usage_error(
        "n too large",
        &tms(&["loss", &big, "--method", "closed"]),
        "too large",
    );
    assert_usage_error(
        "n too large, exact",
        &tms(&["loss", &big, "--exact"]),
        "too large",
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    // ... but Monte Carlo works at that size, and one-hot data keep the exact route cheap.
    let v = json(&[
        "loss",
        &big,
        "--json",
        "--method",
        "mc",
        "--samples",
        "1000",
    ]);
    assert_eq!(v["n"], 20);
    let v = json(&[
        "loss",
        &big,
        "--json",
        "--distribution",
        "one-hot",
        "--exact",
    ]);
    assert!(v["exact"].is_string());
}

#[test]
fn automatic_method_picks_the_cheapest_route_that_applies() {
    // ReLU: the closed form; GELU has none, so quadrature; the route is named in the output.
    let relu = json(&["loss", "--example", "antipodal", "--json"]);
    assert_eq!(relu["method"], "closed");
    let gelu = json(&[
        "loss",
        "--example",
        "antipodal",
        "--json",
        "--activation",
        "gelu",
    ]);
    assert_eq!(gelu["method"], "quadrature");
    let q = json(&[
        "loss",
        "--example",
        "antipodal",
        "--json",
        "--activation",
        "gelu",
        "--method",
        "quadrature",
    ]);
    assert_eq!(gelu["loss"], q["loss"]);
    // Too many features active together for every deterministic route: Monte Carlo, said
    // on stderr and in the method line.
    let dir = tempfile::tempdir().unwrap();
    let big = write(dir.path(), "big.json", &twenty_features());
    let o = tms(&[
        "loss",
        big.to_str().unwrap(),
        "--density",
        "0.1",
        "--activation",
        "gelu",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Monte Carlo (standard error"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Monte Carlo") && err.contains("closed"),
        "{err}"
    );
    // The exact route prints the rational and its f64, with zero reported error.
    let exact = json(&[
        "loss",
        "--example",
        "antipodal",
        "--json",
        "--method",
        "exact",
    ]);
    assert_eq!(exact["method"], "exact");
    assert_eq!(exact["error"], 0.0);
    let beside = json(&["loss", "--example", "antipodal", "--json", "--exact"]);
    assert_eq!(exact["exact"], beside["exact"]);
    // s = f64(0.1), so the exact value is 2·s²/6 of that dyadic, within 1e-16 of 1/300.
    let l = exact["loss"].as_f64().unwrap();
    assert!((l - 1.0 / 300.0).abs() <= 1e-16, "{l}");
}
