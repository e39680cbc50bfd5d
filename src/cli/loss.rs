//! `tms-exact loss`: the expected loss of one model (and its gradient, exact value, per-feature
//! terms) by any route.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::output::{align, rows_of, write_out};
use super::weights::WeightsArgs;
use super::DataArgs;
use tms_exact::error::{Error, Result};
use tms_exact::io::model_file::ModelFile;
use tms_exact::model::Model;
use tms_exact::objective::Objective;
use tms_exact::presets::{example, EXAMPLES_HELP};
use tms_exact::route::rational::{self, ExactLoss};
use tms_exact::route::{Accuracy, Evaluation, Method};
use tms_exact::settings::MethodSettings;
use tms_exact::tolerance;

/// How the loss is computed (the command-line names of [`Method`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// The cheapest feasible route: the closed form where it applies, else quadrature, else
    /// Monte Carlo
    Auto,
    /// Closed form (piecewise-linear activations; within 1e-12 relative of the exact value)
    Closed,
    /// Exact rational arithmetic (piecewise-linear activations, small sizes)
    Exact,
    /// Adaptive quadrature split at the kinks, with an error estimate (any activation)
    Quadrature,
    /// Seeded Monte Carlo with a standard error (any activation, any size)
    Mc,
    /// One-dimensional integrals of characteristic functions: independent data, any n, an
    /// error estimate (relative target --tol, default 1e-10); milliseconds at n = 20, about a
    /// second at n = 400
    Onedim,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Method {
        match m {
            MethodArg::Auto => Method::Auto,
            MethodArg::Closed => Method::Closed,
            MethodArg::Exact => Method::Exact,
            MethodArg::Quadrature => Method::Quadrature,
            MethodArg::Mc => Method::Mc,
            MethodArg::Onedim => Method::Onedim,
        }
    }
}

/// Arguments of `tms-exact loss`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES_HELP)]
pub struct LossArgs {
    /// The model file (JSON; see the README for the format), or trained weights (.npy, .npz,
    /// .safetensors, .pt/.pth; a 3-D [instances, features, hidden] stack gives one loss per
    /// instance)
    #[arg(value_name = "FILE")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub weights: WeightsArgs,
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
    #[arg(long, value_enum, default_value_t = MethodArg::Auto)]
    pub method: MethodArg,
    /// Monte Carlo samples (--method mc) [default: 100000]
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Monte Carlo seed (--method mc) [default: 0]
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Error target: absolute for --method quadrature, relative for onedim [default: 1e-10]
    #[arg(long, value_name = "TOL", allow_hyphen_values = true)]
    pub tol: Option<f64>,
    #[command(flatten)]
    pub data: DataArgs,
}

/// Everything `loss` prints, computed once and rendered as text or JSON.
struct LossReport {
    source: String,
    model: Model,
    objective: Objective,
    /// The name of the route that computed `evaluation`.
    method: &'static str,
    evaluation: Evaluation,
    exact: Option<ExactLoss>,
}

pub(crate) fn run(args: &LossArgs, out: &mut dyn Write) -> Result<()> {
    if args.example.as_deref() == Some("list") {
        let text = format!("{}\n", EXAMPLES_HELP);
        return write_out(out, &text);
    }
    let input = inputs(args)?;
    let (method, settings) = MethodSettings {
        method: Some(args.method.into()),
        samples: args.samples,
        seed: args.seed,
        tol: args.tol,
    }
    .resolve()?;
    for (model, objective) in &input.models {
        objective.check_model(model)?;
        if args.exact {
            // Refuse an impossible --exact before any other work is done or announced.
            use tms_exact::route::Route;
            tms_exact::route::ExactRational::new(objective.clone())?.cost(model.shape())?;
        }
    }
    let mut routes = Vec::with_capacity(input.models.len());
    let mut seconds = 0.0;
    for (model, objective) in &input.models {
        let route = tms_exact::route::select(method, objective, model.shape(), &settings)?;
        seconds += route.cost(model.shape())?.seconds;
        routes.push(route);
    }
    let name = routes[0].name();
    super::output::announce_duration(
        &format!("the {name} route"),
        seconds,
        "a smaller --samples or another --method shortens it",
    );
    if let Some(note) = &input.source_note {
        eprintln!("note: {note}");
    }
    for note in &input.notes {
        eprintln!("note: {note}");
    }
    if method == Method::Auto && name == "mc" {
        let (model, objective) = &input.models[0];
        eprintln!(
            "note: no exact route can evaluate this model ({}); using Monte Carlo with {} samples \
             (--samples needs --method mc)",
            refusals(objective, model),
            settings.samples()
        );
    }
    let mut reports = Vec::with_capacity(routes.len());
    for (mut route, (model, objective)) in routes.into_iter().zip(input.models) {
        let name = route.name();
        let mut evaluation = if args.grad {
            route
                .as_gradient()
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "--grad is not available with --method {name}; the closed form gives the \
                         gradient of the same function (add --exact to see the exact value too)"
                    ))
                })?
                .evaluate_with_gradient(&model)?
        } else {
            route.evaluate(&model)?
        };
        let exact = match evaluation.exact.take() {
            Some(e) => Some(e),
            None if args.exact => Some(rational::exact_loss(&model, &objective)?),
            None => None,
        };
        reports.push(LossReport {
            source: input.source.clone(),
            model,
            objective,
            method: name,
            evaluation,
            exact,
        });
    }
    let text = match (input.stacked, args.json) {
        (false, true) => reports[0].json(args.per_feature),
        (false, false) => reports[0].text(args.per_feature || args.grad),
        (true, true) => {
            let list: Vec<_> = reports
                .iter()
                .map(|r| r.json_value(args.per_feature))
                .collect();
            let mut s = serde_json::to_string_pretty(&serde_json::json!({ "instances": list }))
                .unwrap_or_default();
            s.push('\n');
            s
        }
        (true, false) => stack_text(&reports, args.per_feature || args.grad),
    };
    write_out(out, &text)
}

/// What `loss` evaluates: one model (a model file or example, or 2-D weights) or every
/// instance of a weights stack, each with its objective.
struct Inputs {
    source: String,
    models: Vec<(Model, Objective)>,
    stacked: bool,
    notes: Vec<String>,
    source_note: Option<String>,
}

fn inputs(args: &LossArgs) -> Result<Inputs> {
    let weights_file = args
        .model
        .as_deref()
        .filter(|p| !super::weights::is_model_file(p));
    if let (Some(path), None) = (weights_file, &args.example) {
        let loaded = args.weights.load(path, &args.data.settings())?;
        return Ok(Inputs {
            source: path.display().to_string(),
            models: loaded.models,
            stacked: loaded.stacked,
            notes: loaded.notes,
            source_note: loaded.source_note,
        });
    }
    args.weights.refuse_for_model_file()?;
    let file = load(args.model.as_deref(), args.example.as_deref())?;
    let source = match (&args.model, &args.example) {
        (Some(p), _) => p.display().to_string(),
        (_, name) => format!("example '{}'", name.as_deref().unwrap_or("")),
    };
    let objective = args.data.settings().apply(&file.objective)?;
    Ok(Inputs {
        source,
        models: vec![(file.model, objective)],
        stacked: false,
        notes: Vec::new(),
        source_note: None,
    })
}

/// One line per instance of a stack (with `detail`, each instance's full report after it).
fn stack_text(reports: &[LossReport], detail: bool) -> String {
    let first = &reports[0];
    let obj = &first.objective;
    let mut s = format!(
        "{}: {} instances, n = {} features, m = {} hidden, {}, {} data, reduction {}\n\n",
        first.source,
        reports.len(),
        first.model.n(),
        first.model.m(),
        obj.activation(),
        obj.data().distribution(),
        obj.reduction(),
    );
    let summary = |v: &[f64]| -> String {
        if v.iter().all(|&x| x == v[0]) {
            format!("{}", v[0])
        } else {
            v.iter()
                .map(|x| format!("{x}"))
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    let mut header = vec!["instance", "density", "importance", "loss", "error"];
    if first.evaluation.gradient.is_some() {
        header.push("‖∇L‖");
    }
    if first.exact.is_some() {
        header.push("exact");
    }
    let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    for (k, r) in reports.iter().enumerate() {
        let data = r.objective.data();
        let mut row = vec![
            k.to_string(),
            summary(&data.marginal_density()),
            summary(data.importance()),
            format!("{}", r.evaluation.loss),
            format!("{:.1e}", r.evaluation.accuracy.value()),
        ];
        if let Some(g) = &r.evaluation.gradient {
            row.push(format!("{:.6e}", g.norm()));
        }
        if let Some(e) = &r.exact {
            row.push(format!("{}", rational::to_f64(&e.loss)));
        }
        rows.push(row);
    }
    s.push_str(&align(&rows));
    s.push_str(&format!("\nmethod    {}\n", first.how()));
    if detail {
        for (k, r) in reports.iter().enumerate() {
            s.push_str(&format!("\ninstance {k}: "));
            s.push_str(&r.text(true));
        }
    }
    s
}

/// Why the deterministic routes refused, for the note above.
fn refusals(objective: &Objective, model: &Model) -> String {
    [Method::Closed, Method::Quadrature, Method::Onedim]
        .into_iter()
        .filter_map(|m| {
            tms_exact::route::select(m, objective, model.shape(), &Default::default())
                .err()
                .map(|e| format!("{}: {e}", m.name()))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Reads the model file or example named on a command line.
fn load(model: Option<&std::path::Path>, example_name: Option<&str>) -> Result<ModelFile> {
    match (model, example_name) {
        (Some(p), None) => ModelFile::read(p),
        (None, Some(name)) => example(name),
        _ => Err(Error::invalid(
            "give exactly one of a model file (MODEL.json) or --example NAME",
        )),
    }
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
        let mut s =
            serde_json::to_string_pretty(&self.json_value(exact_per_feature)).unwrap_or_default();
        s.push('\n');
        s
    }

    fn json_value(&self, exact_per_feature: bool) -> serde_json::Value {
        let out = JsonLoss {
            loss: self.evaluation.loss,
            per_feature: &self.evaluation.per_feature,
            gradient: self.evaluation.gradient.as_ref().map(|g| JsonGradient {
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
            method: self.method,
            error: self.evaluation.accuracy.value(),
            n: self.model.n(),
            m: self.model.m(),
        };
        // Serialising plain numbers, strings and lists cannot fail; non-finite numbers
        // (a one-sample standard error) become null.
        serde_json::to_value(&out).unwrap_or_default()
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
            if self.evaluation.gradient.is_some() {
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
                .zip(&self.evaluation.per_feature);
            for (i, ((importance, density), term)) in columns.enumerate() {
                let mut r = vec![
                    i.to_string(),
                    format!("{importance}"),
                    format!("{density}"),
                    format!("{term:.6e}"),
                ];
                if let Some(g) = &self.evaluation.gradient {
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
        s.push_str(&format!("loss      {}\n", self.evaluation.loss));
        s.push_str(&format!("method    {}\n", self.how()));
        if let Some(g) = &self.evaluation.gradient {
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

    /// How the loss was computed, with its error.
    fn how(&self) -> String {
        match self.evaluation.accuracy {
            Accuracy::Estimate(e) if self.method == "onedim" => format!(
                "one-dimensional integrals (estimated |error| {e:.1e}: rigorous aliasing and \
                 rounding bounds, truncation estimated from the partial sums)"
            ),
            Accuracy::Bound(e) => format!(
                "closed form (|error| ≤ {e:.1e}: {:.0e} relative + {:.0e} × Σ importance)",
                tolerance::LOSS_REL,
                tolerance::LOSS_ABS_PER_IMPORTANCE
            ),
            Accuracy::Estimate(e) => format!("quadrature (estimated |error| {e:.1e})"),
            Accuracy::StandardError(e) => format!("Monte Carlo (standard error {e:.1e})"),
            Accuracy::Exact => "exact rational arithmetic (rounded once to f64)".to_string(),
        }
    }
}
