//! `tms-exact verify`: is a trained model at the optimum, and if not, how far off?

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::output::{
    align, announce_duration, model_text, point_json, rows_of, short_kind, write_out, Bar,
};
use super::weights::WeightsArgs;
use super::{DataArgs, SearchArgs};
use tms_exact::error::{Error, Result};
use tms_exact::io::model_file::ModelFile;
use tms_exact::objective::Objective;
use tms_exact::optimize::{census_seconds, minimize_seconds, CensusOptions};
use tms_exact::route::HvpRoute;
use tms_exact::tolerance;
use tms_exact::verify::{verify_instances, Report};

/// The verdict rule, for `--help` (the thresholds from `tolerance`).
fn verdict_help() -> String {
    format!(
        "Verdicts ask which basin the weights are in (constant-lr training ends in a noise ball \
         around a critical point, not on it). Exact local minimisation runs from the weights; \
         'rel. dist.' is how far it moves them, relative to the parameters' norm, and 'gap' how \
         far their loss is above the best critical point known.\n\
         - not converged: relative distance > {dist} and the minimisation lowers the loss by \
         more than {gap} % (a short move is noise in a steep basin, a small gain noise along a \
         flat valley)\n\
         - at the optimum up to training noise: otherwise, when it ends at the best critical \
         point known\n\
         - near a local minimum that is not the best known: otherwise, when it ends at a worse \
         minimum (+x % is that minimum's excess)\n\
         - at a saddle: the weights are a critical saddle, or it ends at a saddle\n\
         Weights stacks: --density, --sparsity and --importance also take instances:v1,v2,… (one \
         value per instance); the file's feature_probability and importance arrays are used when \
         present (--density-key, --importance-key), and flags override them.",
        dist = tolerance::VERDICT_NOISE_DISTANCE,
        gap = 100.0 * tolerance::VERDICT_NOISE_GAP,
    )
}

/// Arguments of `tms-exact verify`.
#[derive(Debug, Args)]
#[command(after_help = verdict_help())]
pub struct VerifyArgs {
    /// Trained weights: a model file (.json), .npy (W), .npz, .safetensors or a torch.save file
    /// (.pt/.pth) (W and bias, and the notebook's feature_probability and importance arrays
    /// when present)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub weights: WeightsArgs,
    #[command(flatten)]
    pub search: SearchArgs,
    /// Write the best critical point known (the search's best, or a lower one any model here
    /// reaches) as a model file, which `loss` and `geometry` read; every instance must share
    /// one objective
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

pub(crate) fn run(args: &VerifyArgs, out: &mut dyn Write) -> Result<()> {
    let loaded = args.weights.load_any(&args.file, &args.data.settings())?;
    let (models, notes, source_note) = (loaded.models, loaded.notes, loaded.source_note);
    let shape = models[0].0.shape();
    let vopts = args.search.settings().search_options(shape)?;
    if let Some(path) = &args.out {
        ModelFile::check_output(path)?;
        if models.iter().any(|(_, obj)| *obj != models[0].1) {
            return Err(Error::invalid(format!(
                "--out {}: the instances have different objectives (densities or importances), \
                 so there is no one best critical point to write; verify them separately",
                path.display()
            )));
        }
    }
    // One census per distinct objective (instances trained alike share it).
    let mut seconds = 0.0;
    let mut seen: Vec<&Objective> = Vec::new();
    for (model, obj) in &models {
        if !seen.contains(&obj) {
            // A route refuses what it cannot hold (memory) before any estimate of time.
            HvpRoute::select(obj, shape)?;
            let copts = CensusOptions::new(shape.n, shape.m)?
                .with_untied(!shape.tied)
                .with_search(vopts.clone());
            seconds += census_seconds(obj, &copts);
            seen.push(obj);
        }
        seconds += 2.0 * minimize_seconds(obj, model.shape());
    }
    let what = format!("verifying {} model(s)", models.len());
    tms_exact::limits::check_seconds(seconds, &what, "fewer --restarts, or fewer instances")?;
    announce_duration(
        &what,
        seconds,
        "fewer --restarts shorten the search for the best critical point",
    );
    for (m, obj) in &models {
        obj.check_model(m)?;
    }
    if let Some(note) = source_note {
        // Said once every input was accepted, so a refused input stays one line.
        eprintln!("note: {note}");
    }
    let reports = verify_instances(&models, &vopts, &Bar::new("minimising"))?;
    if let Some(path) = &args.out {
        // Every report's best is the lowest point known for the shared objective.
        let best = reports
            .iter()
            .map(|r| &r.best)
            .min_by(|a, b| a.loss.total_cmp(&b.loss))
            .expect("at least one model");
        ModelFile {
            model: best.model.clone(),
            objective: models[0].1.clone(),
        }
        .write(path)?;
    }
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
        // The numbers the verdict rests on (see the verify module's rule).
        "verdict_kind": r.verdict.name(),
        "relative_distance": r.relative_distance,
        "gap": r.gap,
        "improvement": r.improvement,
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
        "rel. dist.".into(),
        "best known".into(),
        "gap".into(),
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
            format!("{:.2e}", r.relative_distance),
            format!("{:.10}", r.best.loss),
            gap_text(r.gap),
            r.verdict.to_string(),
        ]);
    }
    s.push_str(&format!(
        "{} model{} from {} (best known: {} starts, seed {}, or a lower critical point any model here reaches):\n\n",
        reports.len(),
        if reports.len() == 1 { "" } else { "s" },
        args.file.display(),
        args.search.restarts,
        args.search.seed
    ));
    s.push_str(&align(&rows));
    if let Some(path) = &args.out {
        s.push_str(&format!(
            "best critical point known written to {}\n",
            path.display()
        ));
    }
    if reports.len() == 1 {
        let r = &reports[0];
        // The point minimisation ends at is called critical only when it is (below the best
        // known it is not: see `Verdict::BelowBestKnown`).
        if r.local.is_critical() {
            s.push_str("\nthe critical point exact minimisation reaches from these weights:\n");
        } else {
            s.push_str(&format!(
                "\nthe point exact minimisation reaches from these weights (not critical: \
                 ‖∇L‖ = {:.3e}):\n",
                r.local.grad_norm
            ));
        }
        s.push_str(&model_text(&r.local.model));
        if r.local.loss != r.best.loss {
            s.push_str("the best critical point known:\n");
            s.push_str(&model_text(&r.best.model));
        }
    }
    s
}

/// A relative gap as a signed percentage, readable at training-noise size (1e-4) and below
/// (negative when the weights are below the best critical point known).
fn gap_text(gap: f64) -> String {
    let p = 100.0 * gap;
    if p == 0.0 {
        "0 %".to_string()
    } else if (0.01..1e4).contains(&p.abs()) {
        format!("{p:+.3} %")
    } else {
        format!("{p:+.1e} %")
    }
}

#[cfg(test)]
mod tests {
    use super::gap_text;

    #[test]
    fn gaps_print_with_their_sign() {
        assert_eq!(gap_text(0.0), "0 %");
        assert_eq!(gap_text(0.40456), "+40.456 %");
        assert_eq!(gap_text(-0.04767), "-4.767 %");
        assert_eq!(gap_text(1.4e-6), "+1.4e-4 %");
        assert_eq!(gap_text(-1.4e-6), "-1.4e-4 %");
    }
}
