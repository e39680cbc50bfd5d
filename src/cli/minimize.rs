//! `tms-exact minimize`: the census of exact critical points for given data.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde_json::{json, Value};

use super::output::{align, announce_duration, model_text, point_json, short_kind, write_out, Bar};
use super::{DataArgs, SearchArgs, ShapeArgs};
use tms_exact::error::Result;
use tms_exact::io::model_file::ModelFile;
use tms_exact::optimize::{census_seconds, census_with, Census, CensusOptions, CriticalPoint};
use tms_exact::route::HvpRoute;

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

pub(crate) fn run(args: &MinimizeArgs, out: &mut dyn Write) -> Result<()> {
    let shape = args.shape.shape();
    let obj = args.data.objective(shape.n)?;
    let copts = CensusOptions::new(shape.n, shape.m)?
        .with_untied(!shape.tied)
        .with_search(args.search.settings().search_options(shape)?);
    let route = HvpRoute::select(&obj, shape)?;
    if let Some(path) = &args.out {
        ModelFile::check_output(path)?;
    }
    let seconds = census_seconds(&obj, &copts);
    tms_exact::limits::check_seconds(
        seconds,
        &format!("the search ({} starts)", copts.restarts()),
        "fewer --restarts, or a smaller model",
    )?;
    announce_duration(
        &format!(
            "the search ({} start{})",
            copts.restarts(),
            if copts.restarts() == 1 { "" } else { "s" }
        ),
        census_seconds(&obj, &copts),
        "fewer --restarts shorten it",
    );
    let result = census_with(&route, &copts, &Bar::new("minimising"))?;
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
            "unconverged_starts": result.unconverged,
        });
        format!(
            "{}\n",
            serde_json::to_string_pretty(&v).expect("JSON of plain numbers")
        )
    } else {
        census_text(&result, args)
    };
    write_out(out, &text)
}

fn critical_json(c: &CriticalPoint) -> Value {
    let mut v = point_json(&c.minimum);
    v["count"] = json!(c.count);
    v["geometry"] = json!(c.geometry);
    v
}

fn census_text(census: &Census, args: &MinimizeArgs) -> String {
    let (points, starts) = (&census.points, census.starts);
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
    if census.unconverged > 0 {
        s.push_str(&format!(
            "({} start{} ended with ‖∇L‖ above {:.0e} × the loss's scale {:.3e} and {} not listed)\n",
            census.unconverged,
            if census.unconverged == 1 { "" } else { "s" },
            census.grad_tol,
            best_scale(points),
            if census.unconverged == 1 { "is" } else { "are" },
        ));
    }
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

fn list(v: &[usize]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The loss scale the census's tolerances were relative to.
fn best_scale(points: &[CriticalPoint]) -> f64 {
    points.first().map_or(1.0, |p| p.minimum.scale)
}
