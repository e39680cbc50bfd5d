//! `tms-exact minimize`: the census of exact critical points for given data.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde_json::{json, Value};

use super::{align, rows_of, write_out, DataArgs};
use crate::error::{Error, Result};
use crate::io::model_file::ModelFile;
use crate::model::Model;
use crate::optimize::{
    census_seconds, census_with_progress, CensusOptions, CriticalPoint, LocalMinimum,
    MinimizeOptions, SearchOptions,
};

/// The model's shape.
#[derive(Debug, Args)]
pub struct ShapeArgs {
    /// Number of features
    #[arg(long, value_name = "N")]
    pub n: usize,
    /// Number of hidden dimensions
    #[arg(long, value_name = "M")]
    pub m: usize,
    /// Untied model: a separate read-out W_out (n×m)
    #[arg(long)]
    pub untied: bool,
}

/// How critical points are searched for (shared by `minimize` and `verify`).
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Number of seeded starts of the global search (half xavier-normal like the notebook,
    /// half wider)
    #[arg(long, value_name = "K", default_value_t = 16)]
    pub restarts: usize,
    /// Seed of the starts
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Hold every bias at 0 in every minimisation (McGrath's setting, models without bias)
    #[arg(long)]
    pub no_bias: bool,
    /// Hold one parameter fixed: "W[h,j]=v", "b[i]=v" or "W_out[i,h]=v" (repeatable)
    #[arg(long, value_name = "SPEC")]
    pub fix: Vec<String>,
}

impl SearchArgs {
    /// The search these flags describe for an (n, m) model.
    pub fn search_options(&self, n: usize, m: usize, untied: bool) -> Result<SearchOptions> {
        let mut opts = MinimizeOptions::new().with_no_bias(self.no_bias);
        for spec in &self.fix {
            let (k, v) = parse_fix(spec, n, m, untied)?;
            opts = opts.with_fixed(k, v)?;
        }
        Ok(SearchOptions::new()
            .with_restarts(self.restarts)?
            .with_seed(self.seed)
            .with_minimize(opts))
    }
}

/// Arguments of `tms-exact minimize`.
#[derive(Debug, Args)]
pub struct MinimizeArgs {
    #[command(flatten)]
    pub shape: ShapeArgs,
    #[command(flatten)]
    pub search: SearchArgs,
    /// Write the best model as a model file (which `tms-exact loss` reads back)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

/// Index in [`Model::to_vec`] order of a parameter named like `W[0,1]`, `b[2]`, `W_out[1,0]`.
pub fn parse_fix(spec: &str, n: usize, m: usize, untied: bool) -> Result<(usize, f64)> {
    let bad = || {
        Error::invalid(format!(
            "--fix '{spec}': expected W[h,j]=value, b[i]=value or W_out[i,h]=value"
        ))
    };
    let (name, value) = spec.split_once('=').ok_or_else(bad)?;
    let value: f64 = value.trim().parse().map_err(|_| bad())?;
    let (name, idx) = name.trim().split_once('[').ok_or_else(bad)?;
    let idx: Vec<usize> = idx
        .strip_suffix(']')
        .ok_or_else(bad)?
        .split(',')
        .map(|t| t.trim().parse::<usize>().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let out_of_range = |what: &str| {
        Error::invalid(format!(
            "--fix '{spec}': index out of range for {what} (n = {n}, m = {m})"
        ))
    };
    let index = match (name.trim(), idx.as_slice()) {
        ("W", &[h, j]) => {
            if h >= m || j >= n {
                return Err(out_of_range("W (m×n)"));
            }
            h + m * j
        }
        ("W_out", &[i, h]) => {
            if !untied {
                return Err(Error::invalid(format!(
                    "--fix '{spec}': W_out exists only with --untied"
                )));
            }
            if i >= n || h >= m {
                return Err(out_of_range("W_out (n×m)"));
            }
            m * n + i + n * h
        }
        ("b", &[i]) => {
            if i >= n {
                return Err(out_of_range("b"));
            }
            m * n + if untied { n * m } else { 0 } + i
        }
        _ => return Err(bad()),
    };
    Ok((index, value))
}

pub(crate) fn run(args: &MinimizeArgs, out: &mut dyn Write) -> Result<()> {
    let ShapeArgs { n, m, untied } = args.shape;
    let obj = args.data.objective(n)?;
    let copts = CensusOptions::new(n, m)?
        .with_untied(untied)
        .with_search(args.search.search_options(n, m, untied)?);
    obj.check_closed_form_size()?;
    if let Some(path) = &args.out {
        crate::io::check_output_path(path)?;
    }
    super::announce_duration(
        &format!(
            "the search ({} start{})",
            copts.restarts(),
            if copts.restarts() == 1 { "" } else { "s" }
        ),
        census_seconds(&obj, &copts),
        "fewer --restarts shorten it",
    );
    let result = census_with_progress(&obj, &copts, true)?;
    if let Some(path) = &args.out {
        let file = ModelFile {
            model: result.best().minimum.model.clone(),
            objective: obj.clone(),
        };
        file.write(path)?;
    }
    let text = if args.json {
        let best = &result.best().minimum;
        let mut b = point_json(best);
        b.as_object_mut().map(|o| o.remove("hessian_eigenvalues"));
        let v = json!({
            "best": b,
            "minima": result.points.iter().map(critical_json).collect::<Vec<_>>(),
            "starts": result.starts,
        });
        format!(
            "{}\n",
            serde_json::to_string_pretty(&v).expect("JSON of plain numbers")
        )
    } else {
        census_text(&result.points, result.starts, args)
    };
    write_out(out, &text)
}

/// The JSON of one point: loss, W (m rows), b, W_out, ‖∇L‖, kind, Hessian spectrum.
pub(crate) fn point_json(p: &LocalMinimum) -> Value {
    let mut v = json!({
        "loss": p.loss,
        "W": rows_of(p.model.w()),
        "b": p.model.b().as_slice(),
        "grad_norm": p.grad_norm,
        "kind": p.spectrum.kind,
        "hessian_eigenvalues": p.spectrum.eigenvalues,
        "symmetry_modes": p.spectrum.symmetry_modes,
    });
    if let Some(wo) = p.model.w_out() {
        v["W_out"] = json!(rows_of(wo));
    }
    v
}

fn critical_json(c: &CriticalPoint) -> Value {
    let mut v = point_json(&c.minimum);
    v["count"] = json!(c.count);
    v["geometry"] = json!(c.geometry);
    v
}

fn census_text(points: &[CriticalPoint], starts: usize, args: &MinimizeArgs) -> String {
    let mut rows = vec![vec![
        "#".to_string(),
        "loss".into(),
        "‖∇L‖".into(),
        "λ_min".into(),
        "kind".into(),
        "starts".into(),
        "dropped".into(),
        "antipodal".into(),
    ]];
    for (k, p) in points.iter().enumerate() {
        let lm = &p.minimum;
        rows.push(vec![
            (k + 1).to_string(),
            format!("{:.12}", lm.loss),
            format!("{:.1e}", lm.grad_norm),
            lm.spectrum
                .eigenvalues
                .first()
                .map_or("-".into(), |l| format!("{l:.3e}")),
            short_kind(lm),
            p.count.to_string(),
            list(&p.geometry.dropped),
            p.geometry
                .antipodal_pairs
                .iter()
                .map(|(a, b)| format!("{a}-{b}"))
                .collect::<Vec<_>>()
                .join(","),
        ]);
    }
    let best = &points[0];
    let mut s = format!(
        "{} distinct critical point{} from {starts} start{} (n = {}, m = {}{}{}), lowest loss first:\n\n",
        points.len(),
        if points.len() == 1 { "" } else { "s" },
        if starts == 1 { "" } else { "s" },
        args.shape.n,
        args.shape.m,
        if args.shape.untied { ", untied" } else { "" },
        if args.search.no_bias { ", b = 0" } else { "" },
    );
    s.push_str(&align(&rows));
    s.push_str(&format!(
        "\nbest: loss {:.15}, {} ({} symmetry modes separated)\n",
        best.minimum.loss, best.minimum.spectrum.kind, best.minimum.spectrum.symmetry_modes
    ));
    s.push_str(&model_text(&best.minimum.model));
    s.push_str(&format!(
        "dimensionality D_i: {}\n",
        best.geometry
            .dimensionality
            .iter()
            .map(|d| format!("{d:.4}"))
            .collect::<Vec<_>>()
            .join("  ")
    ));
    if let Some(path) = &args.out {
        s.push_str(&format!("best model written to {}\n", path.display()));
    }
    s
}

/// One-word label of a point's kind for tables.
pub(crate) fn short_kind(p: &LocalMinimum) -> String {
    match p.spectrum.kind {
        crate::optimize::Kind::StrictMinimum => "minimum".into(),
        crate::optimize::Kind::Saddle => "saddle".into(),
        crate::optimize::Kind::Degenerate => "degenerate".into(),
    }
}

fn list(v: &[usize]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
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
