//! `tms-exact train`: notebook-style training, reported next to the exact loss.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use super::output::{align, rows_of, write_out, Bar};
use super::{DataArgs, ShapeArgs};
use tms_exact::error::Result;
use tms_exact::io::model_file::ModelFile;
use tms_exact::train::{train, Optimizer, Schedule, TrainConfig};

/// Arguments of `tms-exact train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// adamw (the notebook's), adam or sgd
    #[arg(long, value_name = "OPT", default_value = "adamw")]
    pub optimizer: String,
    /// Learning rate
    #[arg(
        long,
        value_name = "LR",
        default_value_t = 1e-3,
        allow_hyphen_values = true
    )]
    pub lr: f64,
    /// Weight decay [default: 0.01 for adamw, 0 otherwise]
    #[arg(long, value_name = "WD", allow_hyphen_values = true)]
    pub weight_decay: Option<f64>,
    /// Batch size
    #[arg(long, value_name = "B", default_value_t = 1024)]
    pub batch: usize,
    /// Optimisation steps
    #[arg(long, value_name = "STEPS", default_value_t = 10_000)]
    pub steps: usize,
    /// Models trained at once (each with its own random stream)
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub instances: usize,
    /// Learning-rate schedule: constant, linear or cosine (the notebook's three)
    #[arg(long, value_name = "SCHED", default_value = "constant")]
    pub schedule: String,
    /// Seed (same seed, same bits)
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Write the trained model(s) as model files: FILE for one instance, FILE-k.json for
    /// several; FILE.npz writes one stack as the notebook keeps it (W [instances, features,
    /// hidden], b_final, feature_probability, importance), which `verify` and `loss` read
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

/// The file instance `k` of `count` is written to: `base` itself for one instance, otherwise
/// `stem-k.ext` beside it.
pub fn instance_path(base: &Path, k: usize, count: usize) -> PathBuf {
    if count == 1 {
        return base.to_path_buf();
    }
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let ext = base
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "json".into());
    base.with_file_name(format!("{stem}-{k}.{ext}"))
}

pub(crate) fn run(args: &TrainArgs, out: &mut dyn Write) -> Result<()> {
    let ShapeArgs { n, m, untied } = args.shape;
    let obj = args.data.objective(n)?;
    let optimizer: Optimizer = args.optimizer.parse()?;
    let schedule: Schedule = args.schedule.parse()?;
    let mut cfg = TrainConfig::new(n, m)?
        .with_optimizer(optimizer)
        .with_lr(args.lr)?
        .with_batch(args.batch)?
        .with_steps(args.steps)?
        .with_instances(args.instances)?
        .with_schedule(schedule)
        .with_seed(args.seed)
        .with_untied(untied);
    if let Some(wd) = args.weight_decay {
        cfg = cfg.with_weight_decay(wd)?;
    }
    tms_exact::train::check(&obj, &cfg)?;
    // Every output path is checked before training, and all are written or none.
    // FILE.npz: one stack as the notebook keeps it; otherwise one JSON model file each.
    let stack = args
        .out
        .as_ref()
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("npz")));
    let paths: Vec<PathBuf> = match (&args.out, stack) {
        (_, Some(_)) => Vec::new(),
        (Some(path), None) => (0..cfg.instances())
            .map(|k| instance_path(path, k, cfg.instances()))
            .collect(),
        (None, None) => Vec::new(),
    };
    for p in &paths {
        ModelFile::check_output(p)?;
    }
    if let Some(p) = stack {
        if untied {
            return Err(tms_exact::Error::invalid(
                "--out FILE.npz holds tied models (W, b_final); write untied models as JSON",
            ));
        }
        tms_exact::io::check_output_path(p)?;
    }
    let trained = train(&obj, &cfg, &Bar::new("training"))?;
    if let Some(p) = stack {
        let models: Vec<_> = trained.iter().map(|t| (&t.model, &obj)).collect();
        tms_exact::io::write_atomic(p, &tms_exact::io::weights::npz_stack(&models)?)?;
    }
    if !paths.is_empty() {
        let files: Vec<(PathBuf, Vec<u8>)> = paths
            .iter()
            .zip(&trained)
            .map(|(p, t)| {
                let file = ModelFile {
                    model: t.model.clone(),
                    objective: obj.clone(),
                };
                (p.clone(), file.to_json().into_bytes())
            })
            .collect();
        let refs: Vec<(&std::path::Path, &[u8])> =
            files.iter().map(|(p, b)| (p.as_path(), &b[..])).collect();
        tms_exact::io::write_all_atomic(&refs)?;
    }
    let text = if args.json {
        let instances: Vec<_> = trained
            .iter()
            .map(|t| {
                let mut v = json!({
                    "W": rows_of(t.model.w()),
                    "b": t.model.b().as_slice(),
                    "sampled_loss": t.sampled_loss,
                    "exact_loss": t.exact_loss,
                });
                if let Some(wo) = t.model.w_out() {
                    v["W_out"] = json!(rows_of(wo));
                }
                v
            })
            .collect();
        format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({ "instances": instances }))
                .expect("JSON of plain numbers")
        )
    } else {
        let mut rows = vec![vec![
            "instance".to_string(),
            "sampled loss (last batch)".into(),
            "exact loss".into(),
        ]];
        for (k, t) in trained.iter().enumerate() {
            rows.push(vec![
                k.to_string(),
                format!("{:.9}", t.sampled_loss),
                t.exact_loss.map_or(
                    if obj.activation().has_closed_form() {
                        "(too large for the exact routes)".into()
                    } else {
                        "(no closed form)".into()
                    },
                    |l| format!("{l:.12}"),
                ),
            ]);
        }
        let mut s = format!(
            "trained {} model{} (n = {}, m = {}): {}, lr {}, weight decay {}, batch {}, {} steps, {} schedule, seed {}\n\n",
            trained.len(),
            if trained.len() == 1 { "" } else { "s" },
            n,
            m,
            cfg.optimizer(),
            cfg.lr(),
            cfg.weight_decay(),
            cfg.batch(),
            cfg.steps(),
            cfg.schedule(),
            cfg.seed()
        );
        s.push_str(&align(&rows));
        if !paths.is_empty() {
            let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            let shown = if names.len() <= 3 {
                names.join(", ")
            } else {
                format!("{} … {}", names[0], names[names.len() - 1])
            };
            s.push_str(&format!(
                "\nmodel file{} written to {shown}\n",
                if names.len() == 1 { "" } else { "s" },
            ));
        }
        s
    };
    write_out(out, &text)
}
