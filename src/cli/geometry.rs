//! `tms-exact geometry`: per-feature geometry of a model, its shape, and a picture.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::output::{align, announce_duration, write_out, Bar};
use super::weights::WeightsArgs;
use super::{DataArgs, SearchArgs};
use tms_exact::dimensionality;
use tms_exact::error::{Error, Result};
use tms_exact::geometry::{self, Geometry};
use tms_exact::model::Model;
use tms_exact::objective::Objective;
use tms_exact::optimize::CensusOptions;
use tms_exact::shape::Shape;

/// Arguments of `tms-exact geometry`.
#[derive(Debug, Args)]
pub struct GeometryArgs {
    /// Model files (JSON) or weights files (.npy, .npz, .safetensors, .pt: every instance of
    /// a stack); several models are drawn side by side in one picture
    #[arg(value_name = "FILE", required_unless_present = "sweep")]
    pub models: Vec<PathBuf>,
    /// From each weights stack, only instance K (0-based)
    #[arg(long, value_name = "K")]
    pub instance: Option<usize>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// Draw the feature directions: writes PREFIX.png and PREFIX.svg (with --sweep also
    /// PREFIX.csv)
    #[arg(long, value_name = "PREFIX", required_if_eq("sweep", "true"))]
    pub out: Option<PathBuf>,
    /// Panel titles for the models, one --label per model (default: the file names)
    #[arg(long, value_name = "TEXT")]
    pub label: Vec<String>,
    /// Models per row of the picture (default: all in one row)
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub columns: usize,
    /// Draw the paper's "basic results" panels instead of the feature directions: per model
    /// the matrix WᵀW (untied: W_out W) with the bias b as an extra column, and a bar per
    /// feature (length ‖W_i‖, colour its superposition); any m; needs --out
    #[arg(long, requires = "out", conflicts_with = "sweep")]
    pub matrices: bool,
    /// Instead of model files: the exact optimum at each density of a sweep (census plus
    /// continuation), D* and every D_i against 1/(1−S), with the sticky fractions
    #[arg(long, conflicts_with_all = ["models", "label", "instance"])]
    pub sweep: bool,
    /// Features of the sweep's models
    #[arg(long, value_name = "N", requires = "sweep")]
    pub n: Option<usize>,
    /// Hidden dimensions of the sweep's models
    #[arg(long, value_name = "M", requires = "sweep")]
    pub m: Option<usize>,
    /// Density range of the sweep, "lo:hi" (log-spaced, hi first)
    #[arg(
        long,
        value_name = "LO:HI",
        default_value = "0.01:1",
        requires = "sweep"
    )]
    pub densities: String,
    /// Number of densities in the sweep
    #[arg(long, value_name = "K", default_value_t = 20, requires = "sweep")]
    pub points: usize,
    #[command(flatten)]
    pub search: SearchArgs,
    #[command(flatten)]
    pub weights: WeightsArgs,
    #[command(flatten)]
    pub data: DataArgs,
}

pub(crate) fn run(args: &GeometryArgs, out: &mut dyn Write) -> Result<()> {
    if args.sweep {
        return sweep(args, out);
    }
    // Every model of every file, named "file" or "file #k" for an instance of a stack.
    let mut files = Vec::new();
    for path in &args.models {
        let loaded = args.weights.load_any(path, &args.data.settings())?;
        let count = loaded.models.len();
        if let Some(k) = args.instance.filter(|_| loaded.stacked) {
            if k >= count {
                return Err(Error::invalid(format!(
                    "--instance {k}: {} holds {count} instance{}",
                    path.display(),
                    if count == 1 { "" } else { "s" }
                )));
            }
        }
        for (k, (model, obj)) in loaded.models.into_iter().enumerate() {
            if loaded.stacked && args.instance.is_some_and(|i| i != k) {
                continue;
            }
            obj.check_model(&model)?;
            let name = if loaded.stacked {
                format!("{} #{k}", display_name(path))
            } else {
                display_name(path)
            };
            files.push((path, name, model, obj));
        }
    }
    if !args.label.is_empty() && args.label.len() != files.len() {
        return Err(Error::invalid(format!(
            "{} --label for {} models: give one per model or none",
            args.label.len(),
            files.len()
        )));
    }
    if let Some(prefix) = &args.out {
        let (png, svg) = tms_exact::plot::output_paths(prefix);
        tms_exact::io::check_output_path(&png)?;
        tms_exact::io::check_output_path(&svg)?;
    }
    if files.len() > 1
        && !args.matrices
        && files
            .iter()
            .any(|(_, _, m, _)| (m.m() >= 3) != (files[0].2.m() >= 3))
    {
        return Err(Error::invalid(
            "models drawn together need m = 2 (one panel each) or all m ≥ 3 (two panels each)",
        ));
    }
    let mut texts = Vec::new();
    let mut values = Vec::new();
    let mut items = Vec::new();
    for (k, (path, name, model, obj)) in files.iter().enumerate() {
        let g = geometry::geometry(model);
        let groups = geometry::recognize(model.w(), &g.dropped);
        let importance = obj.data().importance().to_vec();
        let name = name.clone();
        let mut v = serde_json::to_value(&g).expect("JSON of plain numbers");
        v["groups"] = serde_json::to_value(&groups).expect("JSON of plain numbers");
        v["importance"] = serde_json::json!(importance);
        if files.len() > 1 {
            v["file"] = serde_json::json!(path.display().to_string());
            texts.push(format!(
                "== {name}\n{}",
                text(&g, &groups, &importance, model.m())
            ));
        } else {
            texts.push(text(&g, &groups, &importance, model.m()));
        }
        values.push(v);
        let label = args.label.get(k).cloned().unwrap_or(name);
        items.push((model, importance, label));
    }
    if let Some(prefix) = &args.out {
        let (_, _, model, obj) = &files[0];
        let setting = tms_exact::surface::describe(obj);
        let fig = if args.matrices {
            matrices_figure(&files, &items, args.columns)?
        } else if files.len() == 1 {
            let title = format!(
                "{}: n = {}, m = {} · {setting}",
                items[0].2,
                model.n(),
                model.m(),
            );
            geometry::figure(model, &items[0].1, &title)
        } else {
            let common = shared_setting(&files);
            let same_n = files.iter().all(|(_, _, m, _)| m.n() == model.n());
            let mut title = if same_n {
                format!("n = {}, m = {}", model.n(), model.m())
            } else {
                format!("m = {}", model.m())
            };
            for part in common {
                title.push_str(" · ");
                title.push_str(&part);
            }
            let refs: Vec<(&tms_exact::model::Model, &[f64], String)> = items
                .iter()
                .map(|(m, imp, l)| (*m, &imp[..], l.clone()))
                .collect();
            geometry::figure_many(&refs, &title, args.columns)
        };
        tms_exact::plot::render(&fig, prefix)?;
    }
    let text = if args.json {
        let v = if values.len() == 1 {
            values.pop().expect("one value")
        } else {
            serde_json::Value::Array(values)
        };
        format!(
            "{}\n",
            serde_json::to_string_pretty(&v).expect("JSON of plain numbers")
        )
    } else {
        texts.join("\n")
    };
    write_out(out, &text)?;
    if let (Some(prefix), false) = (&args.out, args.json) {
        let (png, svg) = tms_exact::plot::output_paths(prefix);
        write_out(
            out,
            &format!("picture written to {}, {}\n", png.display(), svg.display()),
        )?;
    }
    Ok(())
}

/// `--matrices`: every model's matrix and bars panels under one title (the setting's parts
/// the models share), after checking the picture fits in memory.
fn matrices_figure(
    files: &[(&PathBuf, String, Model, Objective)],
    items: &[(&Model, Vec<f64>, String)],
    columns: usize,
) -> Result<tms_exact::plot::Figure> {
    // The SVG holds up to one rectangle (~120 bytes) per matrix cell, built twice over
    // (document and output buffer); the PNG buffers are bounded by the figure's pixel limit.
    let cells: f64 = files
        .iter()
        .map(|(_, _, m, _)| (m.n() * (m.n() + 2)) as f64)
        .sum();
    tms_exact::limits::check_memory(2.0 * 120.0 * cells, "the matrix picture")?;
    let common = shared_setting(files);
    let first = &files[0].2;
    let mut title = if files.iter().all(|(_, _, m, _)| m.n() == first.n()) {
        format!("n = {}", first.n())
    } else {
        String::new()
    };
    if files.iter().all(|(_, _, m, _)| m.m() == first.m()) {
        if !title.is_empty() {
            title.push_str(", ");
        }
        title.push_str(&format!("m = {}", first.m()));
    }
    for part in common {
        if !title.is_empty() {
            title.push_str(" · ");
        }
        title.push_str(&part);
    }
    let models: Vec<(&Model, String)> = items
        .iter()
        .map(|(m, _, label)| (*m, label.clone()))
        .collect();
    Ok(geometry::figure_matrices(&models, &title, columns))
}

/// The parts of the setting's description (" · "-separated) every model shares, in the first
/// model's order (densities often differ between the models drawn together).
fn shared_setting(files: &[(&PathBuf, String, Model, Objective)]) -> Vec<String> {
    let descriptions: Vec<String> = files
        .iter()
        .map(|(_, _, _, o)| tms_exact::surface::describe(o))
        .collect();
    descriptions[0]
        .split(" · ")
        .filter(|part| {
            descriptions
                .iter()
                .all(|d| d.split(" · ").any(|q| q == *part))
        })
        .map(str::to_string)
        .collect()
}

fn display_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// `--sweep`: the exact optimum at each density, D* and D_i, CSV + picture.
fn sweep(args: &GeometryArgs, out: &mut dyn Write) -> Result<()> {
    let (Some(n), Some(m)) = (args.n, args.m) else {
        return Err(Error::invalid("--sweep needs --n and --m"));
    };
    if args.data.density.is_some() || args.data.sparsity.is_some() {
        return Err(Error::invalid(
            "--sweep sets the density itself: give --densities lo:hi instead of --density/--sparsity",
        ));
    }
    let (lo, hi) = args
        .densities
        .split_once(':')
        .and_then(|(a, b)| Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?)))
        .ok_or_else(|| {
            Error::invalid(format!(
                "--densities {}: expected lo:hi, e.g. 0.01:1",
                args.densities
            ))
        })?;
    let densities = dimensionality::densities(lo, hi, args.points)?;
    let base = args.data.objective(n)?;
    let shape = Shape::new(n, m, true);
    let copts =
        CensusOptions::new(n, m)?.with_search(args.search.settings().search_options(shape)?);
    let prefix = args.out.as_ref().expect("clap requires --out with --sweep");
    for ext in ["csv", "png", "svg"] {
        tms_exact::io::check_output_path(&tms_exact::plot::with_suffix(prefix, ext))?;
    }
    let seconds = dimensionality::sweep_seconds(&base, &copts, densities.len());
    tms_exact::limits::check_seconds(
        seconds,
        &format!(
            "the sweep ({} densities × {} starts)",
            densities.len(),
            copts.restarts()
        ),
        "fewer --points or --restarts, or a smaller model",
    )?;
    announce_duration(
        &format!("the sweep ({} densities)", densities.len()),
        seconds,
        "fewer --points or --restarts shorten it",
    );
    let title = format!(
        "exact optima, n = {n}, m = {m}{} · {}",
        if args.search.no_bias { ", b = 0" } else { "" },
        tms_exact::surface::describe(&base)
            .split(" · ")
            .filter(|p| !p.starts_with("density"))
            .collect::<Vec<_>>()
            .join(" · ")
    );
    let s = dimensionality::sweep(&base, &copts, &densities, title, &Bar::new("sweeping"))?;
    dimensionality::write(&s, prefix)?;
    let text = if args.json {
        let pts: Vec<serde_json::Value> = s
            .points
            .iter()
            .map(|p| {
                serde_json::json!({
                    "density": p.density,
                    "loss": p.optimum.loss,
                    "grad_norm": p.optimum.grad_norm,
                    "kind": p.optimum.kind_name(),
                    "source": p.source,
                    "dimensions_per_feature": p.geometry.dimensions_per_feature,
                    "dimensionality": p.geometry.dimensionality,
                    "dropped": p.geometry.dropped,
                    "shape": p.geometry.shape,
                })
            })
            .collect();
        format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({"title": s.title, "points": pts}))
                .expect("JSON of plain numbers")
        )
    } else {
        let mut rows = vec![vec![
            "density".to_string(),
            "1/(1−S)".into(),
            "loss".into(),
            "D*".into(),
            "shape".into(),
            "from".into(),
        ]];
        for p in &s.points {
            rows.push(vec![
                format!("{:.4}", p.density),
                format!("{:.2}", 1.0 / p.density),
                format!("{:.10}", p.optimum.loss),
                format!("{:.4}", p.geometry.dimensions_per_feature),
                p.geometry.shape.clone(),
                p.source.into(),
            ]);
        }
        let mut t = format!("{}\n\n", s.title);
        t.push_str(&align(&rows));
        let (png, svg) = tms_exact::plot::output_paths(prefix);
        t.push_str(&format!(
            "\nwritten: {}, {}, {}\n",
            tms_exact::plot::with_suffix(prefix, "csv").display(),
            png.display(),
            svg.display()
        ));
        t
    };
    write_out(out, &text)
}

fn text(g: &Geometry, groups: &[geometry::ShapeGroup], importance: &[f64], m: usize) -> String {
    let mut rows = vec![vec![
        "i".to_string(),
        "importance".into(),
        "‖W_i‖".into(),
        "superposition".into(),
        "D_i".into(),
    ]];
    for (i, imp) in importance.iter().enumerate().take(g.norms.len()) {
        rows.push(vec![
            i.to_string(),
            format!("{imp:.6}"),
            format!("{:.6}", g.norms[i]),
            format!("{:.6}", g.superposition[i]),
            format!("{:.6}", g.dimensionality[i]),
        ]);
    }
    let mut s = align(&rows);
    s.push_str(&format!(
        "\nD* = m / ‖W‖²_F = {:.6} (m = {m})\n",
        g.dimensions_per_feature
    ));
    let list = |v: &[usize]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    s.push_str(&format!("dropped: {}\n", list(&g.dropped)));
    s.push_str(&format!(
        "antipodal pairs: {}\n",
        if g.antipodal_pairs.is_empty() {
            "none".into()
        } else {
            g.antipodal_pairs
                .iter()
                .map(|(a, b)| format!("{a}-{b}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    s.push_str(&format!("shape: {}\n", g.shape));
    for gr in groups {
        s.push_str(&format!(
            "  {} (features {}; {} dimension{})\n",
            gr.name,
            list(&gr.features),
            gr.dims,
            if gr.dims == 1 { "" } else { "s" }
        ));
    }
    s
}
