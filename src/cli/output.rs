//! Rendering shared by the subcommands: tables, matrices, JSON of points, writing stdout.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{json, Value};
use tms_exact::error::{Error, Result};
use tms_exact::model::Model;
use tms_exact::optimize::{Kind, LocalMinimum};
use tms_exact::progress::Progress;

/// Writes `text` to `out` and flushes; a failure names stdout.
pub(crate) fn write_out(out: &mut dyn Write, text: &str) -> Result<()> {
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|source| Error::Io {
            path: PathBuf::from("<stdout>"),
            source,
        })
}

/// Rows of a matrix as vectors (the model file's layout).
pub(crate) fn rows_of(m: &nalgebra::DMatrix<f64>) -> Vec<Vec<f64>> {
    (0..m.nrows())
        .map(|r| m.row(r).iter().copied().collect())
        .collect()
}

/// Right-aligns columns of a table.
pub(crate) fn align(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|x| x.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut s = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, x)| {
                let pad = width[c] - x.chars().count();
                format!("{}{x}", " ".repeat(pad))
            })
            .collect();
        s.push_str(cells.join("  ").trim_end());
        s.push('\n');
    }
    s
}

/// The JSON of one point: loss, W (m rows), b, W_out, ‖∇L‖, kind, Hessian spectrum.
pub(crate) fn point_json(p: &LocalMinimum) -> Value {
    let mut v = json!({
        "loss": p.loss,
        "W": rows_of(p.model.w()),
        "b": p.model.b().as_slice(),
        "grad_norm": p.grad_norm,
        "kind": p.kind_name(),
        "curvature": p.spectrum.kind,
        "hessian_eigenvalues": p.spectrum.eigenvalues,
        "symmetry_modes": p.spectrum.symmetry_modes,
    });
    if let Some(wo) = p.model.w_out() {
        v["W_out"] = json!(rows_of(wo));
    }
    v
}

/// One-word label of a point's kind for tables (the JSON's name; for a point that is not
/// critical, the curvature there too).
pub(crate) fn short_kind(p: &LocalMinimum) -> String {
    if p.is_critical() {
        return p.kind_name().into();
    }
    match p.spectrum.kind {
        Kind::StrictMinimum => "not critical, H>0".into(),
        Kind::Saddle => "not critical, H indefinite".into(),
        Kind::Degenerate => "not critical, H>=0".into(),
        Kind::Undetermined => "not critical, H undetermined".into(),
    }
}

/// W (m rows), b and W_out as aligned text.
pub(crate) fn model_text(model: &Model) -> String {
    let mut s = String::new();
    let fmt_rows = |m: &nalgebra::DMatrix<f64>| -> Vec<Vec<String>> {
        (0..m.nrows())
            .map(|r| m.row(r).iter().map(|v| format!("{v:.6}")).collect())
            .collect()
    };
    s.push_str("W =\n");
    s.push_str(&indent(&align(&fmt_rows(model.w()))));
    s.push_str("b =\n");
    s.push_str(&indent(&align(&[model
        .b()
        .iter()
        .map(|v| format!("{v:.6}"))
        .collect()])));
    if let Some(wo) = model.w_out() {
        s.push_str("W_out =\n");
        s.push_str(&indent(&align(&fmt_rows(wo))));
    }
    s
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

/// Tells the user on stderr, before a long computation starts, roughly how long it will take
/// (the estimate is within a factor of a few; it is only printed above half a minute).
pub(crate) fn announce_duration(what: &str, seconds: f64, hint: &str) {
    if seconds > 30.0 {
        let t = tms_exact::progress::duration_text(seconds);
        eprintln!("note: {what} will take roughly {t} on this machine; {hint}");
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal. The library calls it from
/// worker threads through `&self`, so the bar is created once, in `start`, behind a `OnceLock`.
pub(crate) struct Bar {
    bar: OnceLock<indicatif::ProgressBar>,
    verb: &'static str,
}

impl Bar {
    /// A bar whose line starts with `verb` ("minimising", "training").
    pub(crate) fn new(verb: &'static str) -> Self {
        Bar {
            bar: OnceLock::new(),
            verb,
        }
    }
}

impl Progress for Bar {
    fn start(&self, total: u64, label: &str) {
        if !std::io::stderr().is_terminal() {
            return;
        }
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
            "{} {{bar:40}} {{pos}}/{{len}} {label} [{{elapsed_precise}}<{{eta_precise}}]",
            self.verb
        )) {
            bar.set_style(style);
        }
        let _ = self.bar.set(bar);
    }

    fn advance(&self, units: u64) {
        if let Some(b) = self.bar.get() {
            b.inc(units);
        }
    }

    fn finish(&self) {
        if let Some(b) = self.bar.get() {
            b.finish_and_clear();
        }
    }
}
