//! The command line: argument definitions (clap derive), one file per subcommand, and the
//! rendering they share. Not library API: everything a subcommand computes comes from the
//! `tms_exact` library, and flags become library objects through `tms_exact::settings`.

// Argument doc comments are clap's plain-text help ("W[h,j]", "[:alpha]"), not rustdoc links.
#![allow(rustdoc::broken_intra_doc_links)]

use std::io::Write;

use clap::{Args, Parser, Subcommand};
use tms_exact::error::Result;
use tms_exact::objective::Objective;
use tms_exact::settings::{DataSettings, SearchSettings};
use tms_exact::shape::Shape;

mod boundary;
mod formula;
mod geometry;
mod loss;
mod minimize;
mod output;
mod phase;
mod reproduce;
mod surface;
mod train;
mod verify;
mod weights;

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
    Loss(loss::LossArgs),
    /// Find the exact minima: seeded multi-start L-BFGS + Newton polish, a census of the
    /// distinct critical points.
    Minimize(minimize::MinimizeArgs),
    /// Train models the way the Anthropic notebook does (sampled batches, AdamW) and report
    /// their exact loss.
    Train(train::TrainArgs),
    /// Check trained models (JSON, .npy, .npz, .safetensors, .pt/.pth): are they at the optimum?
    Verify(verify::VerifyArgs),
    /// The exact loss over a 2-D grid (n = 2, m = 1 weights, or a plane through a model file)
    /// as PNG + SVG + CSV, with critical points marked.
    Surface(surface::SurfaceArgs),
    /// Per-feature geometry of a model (norms, superposition, dimensionality), its shape
    /// (regular polygons, common polytopes) and a picture of the feature directions.
    Geometry(geometry::GeometryArgs),
    /// Print the loss as a formula: a polynomial in the density, a rational function of the
    /// weights in a region, or McGrath's n = 2, m = 1 piecewise formula (plain, LaTeX, sympy).
    Formula(formula::FormulaArgs),
    /// The phase boundary between two fixed configurations, exactly (roots or a formula in r).
    Boundary(boundary::BoundaryArgs),
    /// Run the studies under analysis/ (recipe.toml): figures into figures/<study>/, a report
    /// analysis/<study>/README.md.
    Reproduce(reproduce::ReproduceArgs),
    /// Phase diagrams over (r, density): fixed-configuration theory, the exact optimum and the
    /// SGD protocol, with located boundaries; `phase merge` joins shards.
    Phase(phase::PhaseArgs),
}

/// Runs a parsed command line, writing results to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<()> {
    match cli.command {
        Command::Loss(args) => loss::run(&args, out),
        Command::Minimize(args) => minimize::run(&args, out),
        Command::Train(args) => train::run(&args, out),
        Command::Verify(args) => verify::run(&args, out),
        Command::Surface(args) => surface::run(&args, out),
        Command::Geometry(args) => geometry::run(&args, out),
        Command::Formula(args) => formula::run(&args, out),
        Command::Boundary(args) => boundary::run(&args, out),
        Command::Reproduce(args) => reproduce::run(&args, out),
        Command::Phase(args) => phase::run(&args, out),
    }
}

/// The message of a clap error: its `error:` line, plus the indented lines that complete it
/// when it ends with a colon ("required arguments were not provided:"), without usage or tips.
pub fn clap_message(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let mut lines = rendered.lines().filter(|l| !l.trim().is_empty());
    let first = lines
        .by_ref()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("invalid command line");
    let mut msg = first.trim_start_matches("error:").trim().to_string();
    if msg.ends_with(':') {
        let rest: Vec<&str> = lines
            .take_while(|l| l.starts_with(' '))
            .map(str::trim)
            .collect();
        msg.push(' ');
        msg.push_str(&rest.join(", "));
    }
    msg
}

/// Data and objective flags shared by every subcommand. A flag overrides the model file's
/// value; with no file the defaults are relu, density 1, importance 1, independent, sum.
#[derive(Debug, Clone, Default, Args)]
pub struct DataArgs {
    /// Density p_i = P(x_i ≠ 0), independent data only: one value, a list "0.1,0.2,…" (per
    /// feature), "decay:r", or "instances:v1,v2,…" (one per instance of a weights stack)
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
    /// Importance I_i ≥ 0: one value, a list "1,0.5,…", "decay:r" (I_i = r^i) or
    /// "instances:v1,v2,…"
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
    /// The library's settings object for these flags.
    pub fn settings(&self) -> DataSettings {
        DataSettings {
            density: self.density.clone(),
            sparsity: self.sparsity.clone(),
            importance: self.importance.clone(),
            activation: self.activation.clone(),
            distribution: self.distribution.clone(),
            reduction: self.reduction.clone(),
        }
    }

    /// The objective for `n` features from the defaults and these flags (no model file).
    pub fn objective(&self, n: usize) -> Result<Objective> {
        self.settings().objective(n)
    }
}

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

impl ShapeArgs {
    /// The library's shape.
    pub fn shape(&self) -> Shape {
        Shape::new(self.n, self.m, !self.untied)
    }
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
    /// The library's settings object for these flags.
    pub fn settings(&self) -> SearchSettings {
        SearchSettings {
            restarts: self.restarts,
            seed: self.seed,
            no_bias: self.no_bias,
            fix: self.fix.clone(),
        }
    }
}
