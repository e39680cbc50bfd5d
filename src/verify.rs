//! Is a trained model at the optimum? Inspects each model at its own weights, minimises
//! exactly from there, compares with the best critical point a multi-start search finds, and
//! says what that means in words.

use std::fmt;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::objective::Objective;
use crate::optimize::{self, census_with, CensusOptions, Kind, LocalMinimum, SearchOptions};
use crate::progress::{Progress, Silent};
use crate::route::{ClosedForm, RouteHessian};
use crate::tolerance;

/// What the numbers mean.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The trained model is (within the stated gap) at the best critical point known.
    AtOptimum { gap: f64 },
    /// Converged to a local minimum whose loss is above the best known by `excess` (relative).
    WorseLocalMinimum { excess: f64 },
    /// Local minimisation still lowers the loss by `improvement` (relative).
    NotConverged { grad_norm: f64, improvement: f64 },
    /// At (or stuck next to) a saddle point.
    Saddle { grad_norm: f64 },
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Verdict::AtOptimum { gap } => write!(
                f,
                "at the optimum (loss within {} of the best known)",
                percent(gap)
            ),
            Verdict::WorseLocalMinimum { excess } => write!(
                f,
                "near a local minimum that is not the best known (+{})",
                percent(excess)
            ),
            Verdict::NotConverged {
                grad_norm,
                improvement,
            } => write!(
                f,
                "not converged (‖∇L‖ = {grad_norm:.3e}; exact minimisation lowers the loss by {})",
                percent(improvement)
            ),
            Verdict::Saddle { grad_norm } => {
                write!(f, "at a saddle (‖∇L‖ = {grad_norm:.3e})")
            }
        }
    }
}

/// A relative amount as a percentage with sensible digits.
fn percent(x: f64) -> String {
    let p = 100.0 * x;
    if p == 0.0 {
        "0 %".to_string()
    } else if p.abs() >= 0.1 {
        format!("{p:.2} %")
    } else {
        format!("{p:.2e} %")
    }
}

/// The verification of one model.
#[derive(Debug, Clone)]
pub struct Report {
    /// The model as given, inspected in place (loss, gradient, Hessian spectrum and kind).
    pub at_weights: LocalMinimum,
    /// The critical point exact local minimisation reaches from the given weights.
    pub local: LocalMinimum,
    /// Distance (parameter space) from the given weights to `local`.
    pub local_distance: f64,
    /// The best critical point known: the global search's best, or `local` if lower.
    pub best: LocalMinimum,
    /// How many of the search's starts reached the best point (0 if it came from `local`).
    pub best_count: usize,
    /// The verdict.
    pub verdict: Verdict,
}

/// Verifies each model (all of the objective's n features). One global search is run per
/// distinct shape (m, tied) and shared by the models of that shape.
pub fn verify(models: &[Model], obj: &Objective, opts: &SearchOptions) -> Result<Vec<Report>> {
    verify_with(&ClosedForm::new(obj.clone())?, models, opts, &Silent)
}

/// [`verify`] through any route with a Hessian, reporting the search's starts to `progress`.
pub fn verify_with<R: RouteHessian + Clone + Sync>(
    route: &R,
    models: &[Model],
    opts: &SearchOptions,
    progress: &dyn Progress,
) -> Result<Vec<Report>> {
    if models.is_empty() {
        return Err(Error::invalid("no model to verify"));
    }
    for model in models {
        route.objective().check_model(model)?;
    }
    let mut searches: Vec<((usize, bool), optimize::Census)> = Vec::new();
    let mut reports = Vec::with_capacity(models.len());
    for model in models {
        let shape = (model.m(), model.is_tied());
        if !searches.iter().any(|(s, _)| *s == shape) {
            let copts = CensusOptions::new(model.n(), model.m())?
                .with_untied(!model.is_tied())
                .with_search(opts.clone());
            searches.push((shape, census_with(route, &copts, progress)?));
        }
        let search = &searches
            .iter()
            .find(|(s, _)| *s == shape)
            .expect("just added")
            .1;
        reports.push(verify_one(route, model, opts, search)?);
    }
    Ok(reports)
}

fn verify_one<R: RouteHessian + Clone>(
    route: &R,
    model: &Model,
    opts: &SearchOptions,
    search: &optimize::Census,
) -> Result<Report> {
    let at_weights = optimize::inspect_with(route.clone(), model, opts.minimize())?;
    let local = optimize::minimize_local_with(route.clone(), model, opts.minimize())?;
    let local_distance = optimize::distance(model, &local.model);
    let searched = &search.best().minimum;
    let (best, best_count) = if local.loss < searched.loss {
        (local.clone(), 0)
    } else {
        (searched.clone(), search.best().count)
    };
    let verdict = judge(&at_weights, &local, &best);
    Ok(Report {
        at_weights,
        local,
        local_distance,
        best,
        best_count,
        verdict,
    })
}

/// Relative difference `(a − b) / max(|b|, floor · scale)` where tiny losses would make ratios
/// noise (the floor is relative to the loss's scale).
fn rel(a: f64, b: f64, scale: f64) -> f64 {
    (a - b) / b.abs().max(tolerance::VERDICT_LOSS_FLOOR * scale)
}

/// The verdict from the three points (see [`tolerance::NOT_CONVERGED_REL`] and
/// [`tolerance::SAME_OPTIMUM_REL`]).
fn judge(at: &LocalMinimum, local: &LocalMinimum, best: &LocalMinimum) -> Verdict {
    let scale = at.scale;
    let improvement = rel(at.loss, local.loss, scale).max(0.0);
    if at.spectrum.kind == Kind::Saddle && at.is_critical() {
        return Verdict::Saddle {
            grad_norm: at.grad_norm,
        };
    }
    if improvement > tolerance::NOT_CONVERGED_REL {
        return Verdict::NotConverged {
            grad_norm: at.grad_norm,
            improvement,
        };
    }
    if local.spectrum.kind == Kind::Saddle {
        return Verdict::Saddle {
            grad_norm: at.grad_norm,
        };
    }
    let excess = rel(local.loss, best.loss, scale).max(0.0);
    if excess <= tolerance::SAME_OPTIMUM_REL {
        Verdict::AtOptimum {
            gap: rel(at.loss, best.loss, scale).max(0.0),
        }
    } else {
        Verdict::WorseLocalMinimum { excess }
    }
}
