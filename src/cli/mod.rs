//! The command line: argument definitions (clap derive) and the subcommands.
//!
//! `main.rs` only parses arguments and turns errors into one line and an exit status; every
//! command is [`run`] here so it can be tested in-process and reused.

// Argument doc comments are clap's plain-text help ("W[h,j]", "[:alpha]"), not rustdoc links.
#![allow(rustdoc::broken_intra_doc_links)]

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::data::{Distribution, PerFeature};
use crate::error::{Error, Result};
use crate::integrals::{montecarlo, quadrature, rational, Estimate};
use crate::io::model_file::{build_data, parse_distribution, ModelFile};
use crate::loss::{self, Gradient, Objective, Reduction};
use crate::model::{Activation, Model};
use crate::tolerance;

mod boundary;
mod formula;
mod minimize;
mod train;
mod verify;

pub use boundary::{BoundaryArgs, BoundaryMethod};
pub use formula::FormulaArgs;
pub use minimize::{MinimizeArgs, SearchArgs, ShapeArgs};
pub use train::TrainArgs;
pub use verify::VerifyArgs;

/// Exact expected loss of the toy models of superposition.
#[derive(Debug, Parser)]
#[command(name = "tms-exact", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the expected loss of a model (and optionally its gradient and exact value).
    Loss(LossArgs),
    /// Find the exact minima: seeded multi-start L-BFGS + Newton polish, a census of the
    /// distinct critical points.
    Minimize(MinimizeArgs),
    /// Train models the way the Anthropic notebook does (sampled batches, AdamW) and report
    /// their exact loss.
    Train(TrainArgs),
    /// Check trained models (JSON, .npy, .npz, .safetensors): are they at the optimum?
    Verify(VerifyArgs),
    /// Print the loss as a formula: a polynomial in the density, a rational function of the
    /// weights in a region, or McGrath's n = 2, m = 1 piecewise formula (plain, LaTeX, sympy).
    Formula(FormulaArgs),
    /// The phase boundary between two fixed configurations, exactly (roots or a formula in r).
    Boundary(BoundaryArgs),
}

/// Data and objective flags shared by every subcommand. A flag overrides the model file's
/// value; with no file the defaults are relu, density 1, importance 1, independent, sum.
#[derive(Debug, Clone, Default, Args)]
pub struct DataArgs {
    /// Density p_i = P(x_i ≠ 0), independent data only: one value, a list "0.1,0.2,…" or
    /// "decay:r"
    #[arg(
        long,
        value_name = "P",
        allow_hyphen_values = true,
        conflicts_with = "sparsity"
    )]
    pub density: Option<String>,
    /// Sparsity S_i = 1 − p_i (the paper's name); same forms as --density
    #[arg(long, value_name = "S", allow_hyphen_values = true)]
    pub sparsity: Option<String>,
    /// Importance I_i ≥ 0: one value, a list "1,0.5,…" or "decay:r" (I_i = r^i)
    #[arg(long, value_name = "I", allow_hyphen_values = true)]
    pub importance: Option<String>,
    /// Output activation: relu, linear, leaky_relu[:alpha], gelu, softplus
    #[arg(long, value_name = "ACT")]
    pub activation: Option<String>,
    /// Which features are active together: independent, one-hot, one-hot:q1,q2,… (explicit
    /// active sets only in a model file)
    #[arg(long, value_name = "DIST")]
    pub distribution: Option<String>,
    /// sum (the paper's loss) or mean (sum / n, the Anthropic notebook's)
    #[arg(long, value_name = "sum|mean")]
    pub reduction: Option<String>,
}

impl DataArgs {
    /// The objective for `n` features from the defaults and these flags (no model file).
    pub fn objective(&self, n: usize) -> Result<Objective> {
        self.apply(&Objective::new(crate::data::Data::new(n)?))
    }

    /// `base` with every given flag overriding its value. A density from `base` is kept only
    /// while the data stay independent (switching to one-hot drops it); an explicit
    /// --density/--sparsity for non-independent data is an error.
    pub fn apply(&self, base: &Objective) -> Result<Objective> {
        let n = base.n();
        let old = base.data();
        let distribution = match &self.distribution {
            Some(s) => parse_distribution(s)?,
            None => old.distribution().clone(),
        };
        let importance = match &self.importance {
            Some(s) => PerFeature::parse("importance", s)?,
            None => PerFeature::List(old.importance().to_vec()),
        };
        let density = self
            .density
            .as_deref()
            .map(|s| PerFeature::parse("density", s))
            .transpose()?;
        let sparsity = self
            .sparsity
            .as_deref()
            .map(|s| PerFeature::parse("sparsity", s))
            .transpose()?;
        // Density 1 is the default, left unset so the result stays free to change distribution.
        let keep_old_density = density.is_none()
            && sparsity.is_none()
            && distribution == Distribution::Independent
            && *old.distribution() == Distribution::Independent
            && old.density().iter().any(|&p| p != 1.0);
        let old_density = keep_old_density.then(|| PerFeature::List(old.density().to_vec()));
        let data = build_data(
            n,
            Some(&importance),
            Some(distribution),
            density.as_ref().or(old_density.as_ref()),
            sparsity.as_ref(),
        )?;
        let activation = match &self.activation {
            Some(s) => s.parse::<Activation>()?,
            None => base.activation(),
        };
        let reduction = match &self.reduction {
            Some(s) => s.parse::<Reduction>()?,
            None => base.reduction(),
        };
        Ok(Objective::new(data)
            .with_activation(activation)
            .with_reduction(reduction))
    }
}

/// How the loss is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// Closed form (piecewise-linear activations; within 1e-12 relative of the exact value)
    Closed,
    /// Adaptive quadrature split at the kinks, with an error estimate (any activation)
    Quadrature,
    /// Seeded Monte Carlo with a standard error (any activation, any size)
    Mc,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Closed => "closed",
            Method::Quadrature => "quadrature",
            Method::Mc => "mc",
        }
    }
}

/// Arguments of `tms-exact loss`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES_HELP)]
pub struct LossArgs {
    /// The model file (JSON; see the README for the format)
    #[arg(value_name = "MODEL.json")]
    pub model: Option<PathBuf>,
    /// Use a built-in example model instead of a file ("list" lists them)
    #[arg(long, value_name = "NAME")]
    pub example: Option<String>,
    /// Print JSON instead of a text table
    #[arg(long)]
    pub json: bool,
    /// Also print the gradient (∂L/∂W, ∂L/∂b, ∂L/∂W_out)
    #[arg(long)]
    pub grad: bool,
    /// Print the loss term of each feature (a table in text; in JSON it is always there)
    #[arg(long)]
    pub per_feature: bool,
    /// Also compute the exact rational loss p/q (piecewise-linear activations, small sizes)
    #[arg(long)]
    pub exact: bool,
    /// How to compute the loss
    #[arg(long, value_enum, default_value_t = Method::Closed)]
    pub method: Method,
    /// Monte Carlo samples (--method mc) [default: 100000]
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Monte Carlo seed (--method mc) [default: 0]
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Absolute error target of --method quadrature [default: 1e-10]
    #[arg(long, value_name = "TOL", allow_hyphen_values = true)]
    pub tol: Option<f64>,
    #[command(flatten)]
    pub data: DataArgs,
}

const EXAMPLES_HELP: &str = "Built-in examples (--example NAME):
  antipodal  n=2, m=1: W = [1, −1], b = 0, density 0.1 (an antipodal pair)
  dropped    n=2, m=1: W = [1, 0], b = [0, 0.45], importance (1, 0.5), density 0.9
             (feature 1 not represented; its bias is its mean p/2)
  pentagon   n=5, m=2: a regular pentagon of unit vectors, b = 0, density 0.05";

/// Runs a parsed command line, writing results to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<()> {
    match cli.command {
        Command::Loss(args) => run_loss(&args, out),
        Command::Minimize(args) => minimize::run(&args, out),
        Command::Train(args) => train::run(&args, out),
        Command::Verify(args) => verify::run(&args, out),
        Command::Formula(args) => formula::run(&args, out),
        Command::Boundary(args) => boundary::run(&args, out),
    }
}

/// Tells the user on stderr, before a long computation starts, roughly how long it will take
/// (the estimate is within a factor of a few; it is only printed above half a minute).
pub(crate) fn announce_duration(what: &str, seconds: f64, hint: &str) {
    if seconds > 30.0 {
        let t = if seconds < 120.0 {
            format!("{seconds:.0} s")
        } else if seconds < 7200.0 {
            format!("{:.0} minutes", seconds / 60.0)
        } else {
            format!("{:.1} hours", seconds / 3600.0)
        };
        eprintln!("note: {what} will take roughly {t} on this machine; {hint}");
    }
}

/// A built-in example model by name (see `tms-exact loss --help`).
pub fn example(name: &str) -> Result<ModelFile> {
    let (rows, b, density, importance): (Vec<Vec<f64>>, Vec<f64>, f64, Vec<f64>) = match name {
        "antipodal" => (vec![vec![1.0, -1.0]], vec![0.0, 0.0], 0.1, vec![1.0, 1.0]),
        "dropped" => (vec![vec![1.0, 0.0]], vec![0.0, 0.45], 0.9, vec![1.0, 0.5]),
        "pentagon" => {
            let angle = |k: usize| 2.0 * std::f64::consts::PI * k as f64 / 5.0;
            (
                vec![
                    (0..5).map(|k| angle(k).cos()).collect(),
                    (0..5).map(|k| angle(k).sin()).collect(),
                ],
                vec![0.0; 5],
                0.05,
                vec![1.0; 5],
            )
        }
        other => {
            return Err(Error::invalid(format!(
                "unknown example '{other}' (examples: {})",
                EXAMPLE_NAMES.join(", ")
            )))
        }
    };
    let model = Model::from_rows(&rows, &b)?;
    let data = build_data(
        model.n(),
        Some(&PerFeature::List(importance)),
        None,
        Some(&PerFeature::Constant(density)),
        None,
    )?;
    Ok(ModelFile {
        model,
        objective: Objective::new(data),
    })
}

/// Names accepted by [`example`].
pub const EXAMPLE_NAMES: [&str; 3] = ["antipodal", "dropped", "pentagon"];

/// Everything `loss` prints, computed once and rendered as text or JSON.
struct LossReport {
    source: String,
    model: Model,
    objective: Objective,
    method: Method,
    loss: f64,
    per_feature: Vec<f64>,
    /// Closed: the stated bound; quadrature: its error estimate; mc: the standard error.
    error: f64,
    gradient: Option<Gradient>,
    exact: Option<rational::ExactLoss>,
}

fn run_loss(args: &LossArgs, out: &mut dyn Write) -> Result<()> {
    if args.example.as_deref() == Some("list") {
        let text = format!("{}\n", EXAMPLES_HELP);
        return write_out(out, &text);
    }
    let file = load(args.model.as_deref(), args.example.as_deref())?;
    let source = match (&args.model, &args.example) {
        (Some(p), _) => p.display().to_string(),
        (_, name) => format!("example '{}'", name.as_deref().unwrap_or("")),
    };
    let objective = args.data.apply(&file.objective)?;
    let model = file.model;
    objective.check_model(&model)?;
    check_method_flags(args)?;

    let (loss, per_feature, error, gradient) = match args.method {
        Method::Closed => {
            if !objective.activation().has_closed_form() {
                return Err(Error::invalid(format!(
                    "the {} activation has no closed form: use --method quadrature or --method mc",
                    objective.activation()
                )));
            }
            let (value, grad) = if args.grad {
                let (v, g) = loss::loss_and_gradient(&model, &objective)?;
                (v, Some(g))
            } else {
                (loss::loss(&model, &objective)?, None)
            };
            let total_weight: f64 = objective.weights().iter().sum();
            let bound = tolerance::LOSS_REL * value.loss.abs()
                + tolerance::LOSS_ABS_PER_IMPORTANCE * total_weight;
            (value.loss, value.per_feature, bound, grad)
        }
        Method::Quadrature => {
            let tol = args.tol.unwrap_or(tolerance::QUADRATURE_DEFAULT);
            let est = quadrature::quadrature_loss(&model, &objective, tol, args.grad)?;
            estimate(&model, est)
        }
        Method::Mc => {
            let samples = args.samples.unwrap_or(100_000);
            let seed = args.seed.unwrap_or(0);
            let est = montecarlo::monte_carlo_loss(&model, &objective, samples, seed, args.grad)?;
            estimate(&model, est)
        }
    };
    let exact = if args.exact {
        Some(rational::exact_loss(&model, &objective)?)
    } else {
        None
    };
    let report = LossReport {
        source,
        model,
        objective,
        method: args.method,
        loss,
        per_feature,
        error,
        gradient,
        exact,
    };
    let text = if args.json {
        report.json(args.per_feature)
    } else {
        report.text(args.per_feature || args.grad)
    };
    write_out(out, &text)
}

/// Refuses flags that belong to another method, so a typo'd method never silently ignores them.
fn check_method_flags(args: &LossArgs) -> Result<()> {
    if args.samples == Some(0) {
        return Err(Error::invalid("--samples must be at least 1"));
    }
    if let Some(t) = args.tol {
        if !(t.is_finite() && t > 0.0) {
            return Err(Error::invalid(format!(
                "--tol must be a positive number, not {t}"
            )));
        }
    }
    if args.method != Method::Mc && (args.samples.is_some() || args.seed.is_some()) {
        return Err(Error::invalid(
            "--samples and --seed apply to --method mc only",
        ));
    }
    if args.method != Method::Quadrature && args.tol.is_some() {
        return Err(Error::invalid("--tol applies to --method quadrature only"));
    }
    Ok(())
}

fn estimate(model: &Model, e: Estimate) -> (f64, Vec<f64>, f64, Option<Gradient>) {
    let grad = e.gradient.map(|g| Gradient::from_vec_like(model, &g));
    (e.loss, e.per_feature, e.error, grad)
}

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

#[derive(Serialize)]
struct JsonGradient {
    #[serde(rename = "W")]
    w: Vec<Vec<f64>>,
    b: Vec<f64>,
    #[serde(rename = "W_out", skip_serializing_if = "Option::is_none")]
    w_out: Option<Vec<Vec<f64>>>,
}

#[derive(Serialize)]
struct JsonLoss<'a> {
    loss: f64,
    per_feature: &'a [f64],
    #[serde(skip_serializing_if = "Option::is_none")]
    gradient: Option<JsonGradient>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exact: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exact_per_feature: Option<Vec<String>>,
    method: &'static str,
    error: f64,
    n: usize,
    m: usize,
}

impl LossReport {
    fn json(&self, exact_per_feature: bool) -> String {
        let out = JsonLoss {
            loss: self.loss,
            per_feature: &self.per_feature,
            gradient: self.gradient.as_ref().map(|g| JsonGradient {
                w: rows_of(&g.w),
                b: g.b.iter().copied().collect(),
                w_out: g.w_out.as_ref().map(rows_of),
            }),
            exact: self
                .exact
                .as_ref()
                .map(|e| rational::fraction_string(&e.loss)),
            exact_per_feature: self.exact.as_ref().filter(|_| exact_per_feature).map(|e| {
                e.per_feature
                    .iter()
                    .map(rational::fraction_string)
                    .collect()
            }),
            method: self.method.name(),
            error: self.error,
            n: self.model.n(),
            m: self.model.m(),
        };
        // Serialising plain numbers, strings and lists cannot fail; non-finite numbers
        // (a one-sample standard error) become null.
        let mut s = serde_json::to_string_pretty(&out).unwrap_or_default();
        s.push('\n');
        s
    }

    fn text(&self, table: bool) -> String {
        let obj = &self.objective;
        let data = obj.data();
        let mut s = format!(
            "{}: n = {} features, m = {} hidden, {}{}, {} data, reduction {}\n",
            self.source,
            self.model.n(),
            self.model.m(),
            obj.activation(),
            if self.model.is_tied() {
                ""
            } else {
                " (untied)"
            },
            data.distribution(),
            obj.reduction(),
        );
        if table {
            s.push('\n');
            let mut rows: Vec<Vec<String>> = vec![];
            let mut header = vec!["feature", "importance", "density", "loss term"];
            if self.gradient.is_some() {
                header.push("∂L/∂b");
                header.push("‖∂L/∂W_i‖");
                if !self.model.is_tied() {
                    header.push("‖∂L/∂W_out,i‖");
                }
            }
            rows.push(header.iter().map(|h| h.to_string()).collect());
            let density = data.marginal_density();
            let columns = data
                .importance()
                .iter()
                .zip(&density)
                .zip(&self.per_feature);
            for (i, ((importance, density), term)) in columns.enumerate() {
                let mut r = vec![
                    i.to_string(),
                    format!("{importance}"),
                    format!("{density}"),
                    format!("{term:.6e}"),
                ];
                if let Some(g) = &self.gradient {
                    r.push(format!("{:+.6e}", g.b[i]));
                    r.push(format!("{:.6e}", g.w.column(i).norm()));
                    if let Some(wo) = &g.w_out {
                        r.push(format!("{:.6e}", wo.row(i).norm()));
                    }
                }
                rows.push(r);
            }
            s.push_str(&align(&rows));
            s.push('\n');
        }
        s.push_str(&format!("loss      {}\n", self.loss));
        let how = match self.method {
            Method::Closed => format!(
                "closed form (|error| ≤ {:.1e}: {:.0e} relative + {:.0e} × Σ importance)",
                self.error,
                tolerance::LOSS_REL,
                tolerance::LOSS_ABS_PER_IMPORTANCE
            ),
            Method::Quadrature => format!("quadrature (estimated |error| {:.1e})", self.error),
            Method::Mc => format!("Monte Carlo (standard error {:.1e})", self.error),
        };
        s.push_str(&format!("method    {how}\n"));
        if let Some(g) = &self.gradient {
            s.push_str(&format!("‖∇L‖     {:.6e}\n", g.norm()));
        }
        if let Some(e) = &self.exact {
            // The decimal first: the fraction can have hundreds of digits.
            s.push_str(&format!(
                "exact     {}\n          = {}\n",
                rational::to_f64(&e.loss),
                rational::fraction_string(&e.loss)
            ));
        }
        s
    }
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

/// Reads the model file or example named on a command line (shared by future subcommands).
pub fn load(model: Option<&Path>, example_name: Option<&str>) -> Result<ModelFile> {
    match (model, example_name) {
        (Some(p), None) => ModelFile::read(p),
        (None, Some(name)) => example(name),
        _ => Err(Error::invalid(
            "give exactly one of a model file (MODEL.json) or --example NAME",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Data;

    fn file_objective() -> Objective {
        let data = Data::new(3)
            .unwrap()
            .with_importance(&PerFeature::List(vec![1.0, 0.5, 0.25]))
            .unwrap()
            .with_density(&PerFeature::Constant(0.1))
            .unwrap();
        Objective::new(data).with_activation(Activation::LeakyRelu { alpha: 0.1 })
    }

    fn args(f: impl FnOnce(&mut DataArgs)) -> DataArgs {
        let mut a = DataArgs::default();
        f(&mut a);
        a
    }

    #[test]
    fn no_flags_keep_the_file() {
        let base = file_objective();
        assert_eq!(DataArgs::default().apply(&base).unwrap(), base);
    }

    #[test]
    fn flags_override_only_what_they_name() {
        let base = file_objective();
        let o = args(|a| a.sparsity = Some("0.75".into()))
            .apply(&base)
            .unwrap();
        assert_eq!(o.data().density(), &[0.25; 3]);
        assert_eq!(o.data().importance(), base.data().importance());
        assert_eq!(o.activation(), base.activation());
        let o = args(|a| {
            a.importance = Some("decay:0.5".into());
            a.reduction = Some("mean".into());
            a.activation = Some("relu".into());
        })
        .apply(&base)
        .unwrap();
        assert_eq!(o.data().importance(), &[1.0, 0.5, 0.25]);
        assert_eq!(o.data().density(), &[0.1; 3]);
        assert_eq!(
            (o.reduction(), o.activation()),
            (Reduction::Mean, Activation::Relu)
        );
    }

    #[test]
    fn one_hot_drops_the_file_density_but_refuses_a_flag_density() {
        let base = file_objective();
        let o = args(|a| a.distribution = Some("one-hot".into()))
            .apply(&base)
            .unwrap();
        assert_eq!(o.data().marginal_density(), vec![1.0 / 3.0; 3]);
        let both = args(|a| {
            a.distribution = Some("one-hot".into());
            a.density = Some("0.5".into());
        });
        assert!(both.apply(&base).is_err());
        let both = args(|a| {
            a.density = Some("0.5".into());
            a.sparsity = Some("0.5".into());
        });
        assert!(both.objective(3).is_err());
    }

    #[test]
    fn objective_without_a_file_uses_the_defaults() {
        let o = DataArgs::default().objective(4).unwrap();
        assert_eq!(o, Objective::new(Data::new(4).unwrap()));
        assert!(DataArgs::default().objective(0).is_err());
    }
}
