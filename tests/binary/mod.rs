//! Running the real binary from integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn tms(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tms-exact"))
        .args(args)
        .output()
        .expect("run tms-exact")
}

pub fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}, stderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn json(args: &[&str]) -> Value {
    serde_json::from_str(&stdout(&tms(args))).expect("valid JSON")
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

/// Exit status 2, exactly one `error: ` line on stderr, nothing on stdout, no panic.
pub fn assert_usage_error(label: &str, o: &Output, want: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{label}: stderr {err}");
    assert!(o.stdout.is_empty(), "{label}: stdout not empty");
    assert!(!err.contains("panicked"), "{label}: {err}");
    assert_eq!(err.lines().count(), 1, "{label}: not one line: {err}");
    assert!(
        err.ends_with('\n') && err.starts_with("error: "),
        "{label}: {err}"
    );
    assert!(
        err.to_lowercase().contains(&want.to_lowercase()),
        "{label}: '{}' lacks '{want}'",
        err.trim_end()
    );
}

/// Writes an `.npz` of f64 arrays (name, shape, C-order values), as numpy's `savez` does.
pub fn write_npz(p: &Path, arrays: &[(&str, &[u64], &[f64])]) {
    use npyz::WriterBuilder;
    let mut npz = npyz::npz::NpzWriter::create(p).unwrap();
    for (name, shape, data) in arrays {
        let mut w = npz
            .array::<f64>(name, Default::default())
            .unwrap()
            .default_dtype()
            .shape(shape)
            .begin_nd()
            .unwrap();
        w.extend(data.iter().copied()).unwrap();
        w.finish().unwrap();
    }
}
