//! Phase diagrams over (r, density) with computed boundaries (issue 9).
//!
//! Feature 0 (and every feature but the last) has importance 1; the *extra* feature — the
//! last one — has importance `r`; all features share one density `s`. At each cell of a
//! log-spaced grid ([`grid`]) a method names the phase:
//!
//! - [`theory`]: the cheapest of a few fixed configurations (the paper's, or from a file),
//!   nothing optimised;
//! - [`exact`]: the global exact minimum, by multi-start search plus continuation along the
//!   density axis, classified by its geometry ([`classify`]);
//! - [`sgd`]: the paper's training protocol (ten models, the worst discarded), classified the
//!   same way.
//!
//! [`boundary`] locates the boundary between two phases by root finding on the difference of
//! their (followed) optimal losses; [`csv`] writes, reads and merges the per-cell tables
//! (shards merge byte for byte into the unsharded table); [`figure`] describes the pictures
//! for `crate::plot`.

pub mod boundary;
pub mod classify;
pub mod csv;
pub mod exact;
pub mod figure;
pub mod grid;
pub mod sgd;
pub mod theory;

use crate::data::{Data, PerFeature};
use crate::error::{Error, Result};
use crate::model::{Activation, Model};
use crate::objective::Objective;
use crate::optimize::descent::minimize_gradient_with;
use crate::optimize::{minimize_local_with, MinimizeOptions};
use crate::route::{self, ClosedForm, Method, Quadrature, Route, RouteSettings};
use crate::shape::Shape;

/// Which method produced a diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseMethod {
    Theory,
    Exact,
    Sgd,
}

impl PhaseMethod {
    /// The name on the command line and in CSV headers.
    pub fn name(self) -> &'static str {
        match self {
            PhaseMethod::Theory => "theory",
            PhaseMethod::Exact => "exact",
            PhaseMethod::Sgd => "sgd",
        }
    }

    /// Parses `theory`, `exact` or `sgd`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim() {
            "theory" => Ok(PhaseMethod::Theory),
            "exact" => Ok(PhaseMethod::Exact),
            "sgd" => Ok(PhaseMethod::Sgd),
            other => Err(Error::invalid(format!(
                "unknown phase method '{other}' (expected theory, exact or sgd)"
            ))),
        }
    }
}

/// The model family of a diagram: shape, activation and bias handling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    pub n: usize,
    pub m: usize,
    pub activation: Activation,
    /// Biases held at 0 (McGrath's setting) instead of free.
    pub no_bias: bool,
}

impl Setting {
    /// A tied model with `n ≥ 2` features and `1 ≤ m < n` hidden dimensions.
    pub fn new(n: usize, m: usize, activation: Activation, no_bias: bool) -> Result<Self> {
        if n < 2 || m == 0 || m >= n {
            return Err(Error::invalid(format!(
                "a phase diagram needs n ≥ 2 features and 1 ≤ m < n hidden dimensions (got n = \
                 {n}, m = {m})"
            )));
        }
        Ok(Setting {
            n,
            m,
            activation,
            no_bias,
        })
    }

    /// Index of the extra feature (the last; importance r).
    pub fn extra(&self) -> usize {
        self.n - 1
    }

    /// The importances: 1, …, 1, r.
    pub fn importance(&self, r: f64) -> Vec<f64> {
        (0..self.n)
            .map(|i| if i == self.extra() { r } else { 1.0 })
            .collect()
    }

    /// The shape (tied).
    pub fn shape(&self) -> Shape {
        Shape::new(self.n, self.m, true)
    }

    /// The objective at importance `r` and density `s` (independent data, reduction sum).
    pub fn objective(&self, r: f64, s: f64) -> Result<Objective> {
        let data = Data::new(self.n)?
            .with_density(&PerFeature::Constant(s))?
            .with_importance(&PerFeature::List(self.importance(r)))?;
        Ok(Objective::new(data).with_activation(self.activation))
    }

    /// Options of every local minimisation (biases held at 0 when asked).
    pub fn minimize_options(&self) -> MinimizeOptions {
        MinimizeOptions::new().with_no_bias(self.no_bias)
    }

    /// "n = 2, m = 1 · relu · biases free".
    pub fn describe(&self) -> String {
        format!(
            "n = {}, m = {} · {} · {}",
            self.n,
            self.m,
            self.activation,
            if self.no_bias {
                "biases held at 0"
            } else {
                "biases free"
            }
        )
    }

    /// The engine at (r, s), chosen by [`route::select`] with [`Method::Auto`].
    pub fn engine(&self, r: f64, s: f64) -> Result<Engine> {
        let obj = self.objective(r, s)?;
        let settings = RouteSettings::new();
        let chosen = route::select(Method::Auto, &obj, self.shape(), &settings)?;
        match chosen.name() {
            "closed" => Ok(Engine::Closed(ClosedForm::new(obj)?)),
            "quadrature" => Ok(Engine::Quadrature(Quadrature::new(obj, settings.tol())?)),
            other => Err(Error::TooLarge(format!(
                "phase diagrams minimise through the closed form or quadrature, but the {} \
                 activation at n = {} needs the {other} route",
                self.activation, self.n
            ))),
        }
    }
}

/// The route a cell is minimised through: the closed form (exact Hessian, Newton polish,
/// classified critical points) or quadrature (smooth activations; gradient only).
#[derive(Debug, Clone)]
pub enum Engine {
    Closed(ClosedForm),
    Quadrature(Quadrature),
}

/// A minimised point of one cell.
#[derive(Debug, Clone)]
pub struct Optimum {
    pub model: Model,
    pub loss: f64,
    pub grad_norm: f64,
    /// `strict_minimum`, `saddle`, `degenerate` or `not_critical` (closed form), or
    /// `gradient_only` (quadrature: no Hessian, curvature not checked).
    pub kind: &'static str,
}

impl Engine {
    /// Local minimisation from `start`.
    pub fn minimize(&self, start: &Model, opts: &MinimizeOptions) -> Result<Optimum> {
        match self {
            Engine::Closed(c) => {
                let lm = minimize_local_with(c.clone(), start, opts)?;
                Ok(Optimum {
                    kind: lm.kind_name(),
                    model: lm.model,
                    loss: lm.loss,
                    grad_norm: lm.grad_norm,
                })
            }
            Engine::Quadrature(q) => {
                let p = minimize_gradient_with(q.clone(), start, opts)?;
                Ok(Optimum {
                    model: p.model,
                    loss: p.loss,
                    grad_norm: p.grad_norm,
                    kind: "gradient_only",
                })
            }
        }
    }

    /// The loss of `model`.
    pub fn loss(&self, model: &Model) -> Result<f64> {
        match self {
            Engine::Closed(c) => Ok(c.clone().evaluate(model)?.loss),
            Engine::Quadrature(q) => Ok(q.clone().evaluate(model)?.loss),
        }
    }
}

/// What a diagram is computed with, besides the setting and the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    pub exact: exact::ExactOptions,
    pub sgd: sgd::SgdOptions,
    /// The fixed configurations of `theory`.
    pub candidates: Vec<theory::Candidate>,
    /// Where they come from, for the table's settings line (`paper` or a file name).
    pub candidates_label: String,
}

impl RunOptions {
    /// Defaults with the paper's configurations for `setting` (none when it has none).
    pub fn new(setting: &Setting) -> Self {
        RunOptions {
            // One start per cell suffices at n = 2 (continuation spreads the best along each
            // row); larger models have more basins.
            exact: exact::ExactOptions {
                restarts: if setting.n <= 2 { 1 } else { 6 },
                ..exact::ExactOptions::default()
            },
            sgd: sgd::SgdOptions::default(),
            candidates: theory::default_candidates(setting).unwrap_or_default(),
            candidates_label: "paper".into(),
        }
    }

    /// The options string of the settings line for `method`.
    pub fn label(&self, method: PhaseMethod) -> String {
        match method {
            PhaseMethod::Theory => format!("configs:{}", self.candidates_label.replace(' ', "_")),
            PhaseMethod::Exact => format!(
                "restarts:{},seed:{},passes:{}",
                self.exact.restarts, self.exact.seed, self.exact.max_passes
            ),
            PhaseMethod::Sgd => format!(
                "models:{},steps:{},batch:{},seed:{}",
                self.sgd.models, self.sgd.steps, self.sgd.batch, self.sgd.seed
            ),
        }
    }
}

/// Computes the diagram of `method` on the shard's rows of `grid`.
pub fn run(
    method: PhaseMethod,
    setting: &Setting,
    grid: &grid::Grid,
    shard: grid::Shard,
    opts: &RunOptions,
    progress: &dyn crate::progress::Progress,
) -> Result<csv::Table> {
    use rayon::prelude::*;
    let meta = csv::Meta {
        method,
        setting: *setting,
        grid: *grid,
        options: opts.label(method),
        shard,
    };
    let ns = grid.density.count;
    let mut records: Vec<Option<csv::Record>> = vec![None; grid.cells()];
    let method_columns: Vec<String> = match method {
        PhaseMethod::Exact => {
            for (ir, cells) in exact::sweep(setting, grid, shard, &opts.exact, progress)? {
                for (is, c) in cells.into_iter().enumerate() {
                    records[ir * ns + is] = Some(csv::Record {
                        phase: c.phase.to_string(),
                        loss: c.optimum.loss,
                        values: vec![csv::num(c.optimum.grad_norm), c.optimum.kind.to_string()],
                        model: c.optimum.model,
                    });
                }
            }
            vec!["grad_norm".into(), "kind".into()]
        }
        PhaseMethod::Sgd => {
            for (ir, cells) in sgd::sweep(setting, grid, shard, &opts.sgd, progress)? {
                for (is, c) in cells.into_iter().enumerate() {
                    records[ir * ns + is] = Some(csv::Record {
                        phase: c.phase.to_string(),
                        loss: c.mean_loss,
                        values: vec![
                            csv::num(c.agreement),
                            csv::num(c.min_loss),
                            csv::num(c.max_loss),
                        ],
                        model: c.best,
                    });
                }
            }
            vec!["agreement".into(), "loss_min".into(), "loss_max".into()]
        }
        PhaseMethod::Theory => {
            let cands = &opts.candidates;
            if cands.is_empty() {
                return Err(Error::invalid(format!(
                    "no fixed configurations for n = {}, m = {}: give --configs FILE",
                    setting.n, setting.m
                )));
            }
            let cells: Vec<(usize, usize)> = shard
                .rows(grid.r.count)
                .into_iter()
                .flat_map(|ir| (0..ns).map(move |is| (ir, is)))
                .collect();
            progress.start(cells.len() as u64, "cells");
            let done = cells
                .par_iter()
                .map(|&(ir, is)| {
                    let s = grid.density.value(is);
                    let c = theory::cell(setting, cands, grid.r.value(ir), s);
                    progress.advance(1);
                    let c = c?;
                    Ok(csv::Record {
                        phase: cands[c.best].name.clone(),
                        loss: c.losses[c.best],
                        values: c.losses.iter().map(|&l| csv::num(l)).collect(),
                        model: cands[c.best].model(s, setting.no_bias)?,
                    })
                })
                .collect::<Result<Vec<_>>>();
            progress.finish();
            for ((ir, is), rec) in cells.into_iter().zip(done?) {
                records[ir * ns + is] = Some(rec);
            }
            cands.iter().map(|c| format!("loss[{}]", c.name)).collect()
        }
    };
    Ok(csv::Table {
        meta,
        method_columns,
        records,
    })
}

/// Rough wall-clock seconds of a diagram of `cells` cells on this machine.
///
/// # Formula
/// `exact`: `cells · (restarts + 4) · t₁ / threads`, with t₁ one local minimisation
/// ([`crate::optimize::minimize_seconds`], ×50 through quadrature) and 4 the continuation
/// starts of the usual two sweep pairs; `theory`: `cells · configurations · 2e-5 s / threads`;
/// `sgd`: [`sgd::seconds_per_cell`] `· cells / threads`.
pub fn seconds(method: PhaseMethod, setting: &Setting, cells: usize, opts: &RunOptions) -> f64 {
    let threads = rayon::current_num_threads().max(1) as f64;
    let cells = cells as f64;
    match method {
        PhaseMethod::Theory => cells * opts.candidates.len() as f64 * 2e-5 / threads,
        PhaseMethod::Sgd => sgd::seconds_per_cell(setting, &opts.sgd) * cells / threads,
        PhaseMethod::Exact => {
            let one = match setting.objective(1.0, 0.5) {
                Ok(obj) => {
                    let t = crate::optimize::minimize_seconds(&obj, setting.shape());
                    if setting.activation.has_closed_form() {
                        t
                    } else {
                        50.0 * crate::optimize::minimize_seconds(
                            &obj.with_activation(Activation::Relu),
                            setting.shape(),
                        )
                    }
                }
                Err(_) => f64::INFINITY,
            };
            cells * (opts.exact.restarts + 4) as f64 * one / threads
        }
    }
}
