//! `tms-exact verify`: is a trained model at the optimum, and if not, how far off?

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use nalgebra::DVector;
use serde_json::json;

use super::output::{
    align, announce_duration, model_text, point_json, rows_of, short_kind, write_out, Bar,
};
use super::{DataArgs, SearchArgs};
use tms_exact::error::{Error, Result};
use tms_exact::io::model_file::ModelFile;
use tms_exact::io::weights::{read_weights, Layout, WeightNames};
use tms_exact::model::Model;
use tms_exact::optimize::{census_seconds, minimize_seconds, CensusOptions};
use tms_exact::route::ClosedForm;
use tms_exact::verify::{verify_with, Report};

/// Arguments of `tms-exact verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Trained weights: a model file (.json), .npy (W), .npz, .safetensors or a torch.save file
    /// (.pt/.pth) (W and bias)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Layout of W in .npy/.npz/.safetensors/.pt: features-hidden (the notebook's
    /// W[instance, feature, hidden]; default) or hidden-features (ARENA's)
    #[arg(long, value_name = "LAYOUT")]
    pub layout: Option<String>,
    /// Name of the weight array/tensor [default: W, then w]
    #[arg(long, value_name = "NAME")]
    pub w_name: Option<String>,
    /// Name of the bias array/tensor [default: b_final, then b, then bias; none → b = 0]
    #[arg(long, value_name = "NAME")]
    pub b_name: Option<String>,
    #[command(flatten)]
    pub search: SearchArgs,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

pub(crate) fn run(args: &VerifyArgs, out: &mut dyn Write) -> Result<()> {
    let is_json = args
        .file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let (models, obj, notes) = if is_json {
        if args.layout.is_some() || args.w_name.is_some() || args.b_name.is_some() {
            return Err(Error::invalid(
                "--layout, --w-name and --b-name apply to .npy/.npz/.safetensors files, not model files",
            ));
        }
        let file = ModelFile::read(&args.file)?;
        let obj = args.data.settings().apply(&file.objective)?;
        (vec![file.model], obj, Vec::new())
    } else {
        let layout = args
            .layout
            .as_deref()
            .map(str::parse::<Layout>)
            .transpose()?;
        let names = WeightNames {
            w: args.w_name.clone(),
            b: args.b_name.clone(),
        };
        let instances = read_weights(&args.file, layout, &names)?;
        let n = instances[0].w.ncols();
        let mut notes = Vec::new();
        let mut models = Vec::with_capacity(instances.len());
        for inst in instances {
            let b = match inst.b {
                Some(b) => b,
                None => {
                    if notes.is_empty() {
                        notes.push(format!("{} has no bias; using b = 0", args.file.display()));
                    }
                    DVector::zeros(n)
                }
            };
            models.push(Model::new(inst.w, b)?);
        }
        (models, args.data.objective(n)?, notes)
    };
    let shape = models[0].shape();
    let vopts = args.search.settings().search_options(shape)?;
    let route = ClosedForm::new(obj.clone())?;
    let copts = CensusOptions::new(shape.n, shape.m)?
        .with_untied(!shape.tied)
        .with_search(vopts.clone());
    let seconds =
        census_seconds(&obj, &copts) + 2.0 * models.len() as f64 * minimize_seconds(&obj, shape);
    tms_exact::limits::check_seconds(
        seconds,
        &format!("verifying {} model(s)", models.len()),
        "fewer --restarts, or fewer instances",
    )?;
    announce_duration(
        &format!("verifying {} model(s)", models.len()),
        seconds,
        "fewer --restarts shorten the search for the best critical point",
    );
    for m in &models {
        obj.check_model(m)?;
    }
    if !is_json && args.data.settings() == tms_exact::settings::DataSettings::default() {
        // A weights file carries no data settings: say what is assumed (once every input
        // was accepted) rather than verify a sparse model against dense data without a word.
        eprintln!(
            "note: no data settings given for {}: assuming density 1, importance 1, \
             independent data, reduction sum; give --density/--importance as trained{}",
            args.file.display(),
            if models.len() > 1 {
                " (the notebook's [instances, features, hidden] runs use --reduction mean)"
            } else {
                ""
            }
        );
    }
    let reports = verify_with(&route, &models, &vopts, &Bar::new("minimising"))?;
    let text = if args.json {
        let instances: Vec<_> = reports.iter().map(report_json).collect();
        let v = json!({ "instances": instances, "notes": notes });
        format!(
            "{}\n",
            serde_json::to_string_pretty(&v).expect("JSON of plain numbers")
        )
    } else {
        report_text(&reports, &notes, args)
    };
    write_out(out, &text)
}

fn report_json(r: &Report) -> serde_json::Value {
    let mut local = point_json(&r.local);
    local["distance"] = json!(r.local_distance);
    let mut best = point_json(&r.best);
    best["count"] = json!(r.best_count);
    let mut v = json!({
        "loss": r.at_weights.loss,
        "grad_norm": r.at_weights.grad_norm,
        "kind": r.at_weights.kind_name(),
        "curvature": r.at_weights.spectrum.kind,
        "hessian_eigenvalues": r.at_weights.spectrum.eigenvalues,
        "W": rows_of(r.at_weights.model.w()),
        "b": r.at_weights.model.b().as_slice(),
        "local": local,
        "best": best,
        "verdict": r.verdict.to_string(),
    });
    if let Some(wo) = r.at_weights.model.w_out() {
        v["W_out"] = json!(rows_of(wo));
    }
    v
}

fn report_text(reports: &[Report], notes: &[String], args: &VerifyArgs) -> String {
    let mut s = String::new();
    for note in notes {
        s.push_str(&format!("note: {note}\n"));
    }
    let mut rows = vec![vec![
        "instance".to_string(),
        "loss".into(),
        "‖∇L‖".into(),
        "kind".into(),
        "local min".into(),
        "distance".into(),
        "best known".into(),
        "verdict".into(),
    ]];
    for (k, r) in reports.iter().enumerate() {
        rows.push(vec![
            k.to_string(),
            format!("{:.10}", r.at_weights.loss),
            format!("{:.2e}", r.at_weights.grad_norm),
            short_kind(&r.at_weights),
            format!("{:.10}", r.local.loss),
            format!("{:.2e}", r.local_distance),
            format!("{:.10}", r.best.loss),
            r.verdict.to_string(),
        ]);
    }
    s.push_str(&format!(
        "{} model{} from {} (best known from {} starts, seed {}):\n\n",
        reports.len(),
        if reports.len() == 1 { "" } else { "s" },
        args.file.display(),
        args.search.restarts,
        args.search.seed
    ));
    s.push_str(&align(&rows));
    if reports.len() == 1 {
        let r = &reports[0];
        s.push_str("\nthe critical point exact minimisation reaches from these weights:\n");
        s.push_str(&model_text(&r.local.model));
        if r.local.loss > r.best.loss {
            s.push_str("the best critical point known:\n");
            s.push_str(&model_text(&r.best.model));
        }
    }
    s
}
