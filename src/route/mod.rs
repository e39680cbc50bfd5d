//! Evaluation routes: the ways the expected loss can be computed, behind one seam.
//!
//! As argmin separates `CostFunction`, `Gradient` and `Hessian`, a route states what it can do
//! through small capability traits:
//!
//! * [`Route`]: its name, what a model of a given [`Shape`] would cost ([`Route::cost`], the one
//!   place a route refuses work it cannot do in reasonable time or memory), and the loss with
//!   its per-feature terms as an [`Evaluation`] that carries its [`Accuracy`];
//! * [`RouteGradient`]: the loss and gradient on a flat parameter vector (what optimisers and
//!   trainers call in their inner loops);
//! * [`RouteHessian`]: the Hessian (what classification of critical points needs).
//!
//! The routes: [`closed::ClosedForm`] (the non-negative cut-cube recurrence; loss, gradient,
//! Hessian), [`rational::ExactRational`] (exact rationals; ground truth),
//! [`quadrature::Quadrature`] (nested adaptive quadrature split at the kinks; any activation)
//! and [`montecarlo::MonteCarlo`] (seeded sampling with a standard error; any size).
//! [`Method`] names them, and [`Method::Auto`] picks the cheapest feasible deterministic one
//! (ripgrep-style engine choice). A new route is one new file here implementing the traits,
//! one [`Method`] variant, and one arm in [`select`].

pub mod closed;
pub mod hvp;
pub mod montecarlo;
pub mod onedim;
pub mod quadrature;
pub mod rational;

use std::fmt;
use std::str::FromStr;

use nalgebra::{DMatrix, DVector};

use crate::error::{Error, Result};
use crate::model::Model;
use crate::objective::Objective;
use crate::shape::Shape;
use crate::tolerance;

pub use closed::ClosedForm;
pub use hvp::HvpRoute;
pub use montecarlo::MonteCarlo;
pub use quadrature::Quadrature;
pub use rational::{ExactLoss, ExactRational};

/// How accurate a route's number is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Accuracy {
    /// Exact rational arithmetic; the f64 is the exact value rounded once.
    Exact,
    /// A stated bound on the absolute error (the closed form's tolerance).
    Bound(f64),
    /// An estimate of the absolute error (quadrature).
    Estimate(f64),
    /// The standard error of a sampled mean (Monte Carlo).
    StandardError(f64),
}

impl Accuracy {
    /// The error measure as a number (0 for exact values).
    pub fn value(&self) -> f64 {
        match *self {
            Accuracy::Exact => 0.0,
            Accuracy::Bound(e) | Accuracy::Estimate(e) | Accuracy::StandardError(e) => e,
        }
    }
}

/// The gradient in the model's shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradient {
    /// ∂L/∂W (m×n).
    pub w: DMatrix<f64>,
    /// ∂L/∂W_out (n×m) for untied models.
    pub w_out: Option<DMatrix<f64>>,
    /// ∂L/∂b (n).
    pub b: DVector<f64>,
}

impl Gradient {
    /// Builds the gradient from a vector in [`Model::to_vec`]'s layout for `shape`.
    pub fn from_flat(shape: Shape, v: &[f64]) -> Self {
        let (m, n) = (shape.m, shape.n);
        Gradient {
            w: DMatrix::from_column_slice(m, n, &v[shape.w()]),
            w_out: shape
                .w_out()
                .map(|r| DMatrix::from_column_slice(n, m, &v[r])),
            b: DVector::from_column_slice(&v[shape.b()]),
        }
    }

    /// Builds the gradient from a vector in `model`'s [`Model::to_vec`] layout.
    pub fn from_vec_like(model: &Model, v: &[f64]) -> Self {
        Gradient::from_flat(model.shape(), v)
    }

    /// Flattened in [`Model::to_vec`]'s layout.
    pub fn to_vec(&self) -> Vec<f64> {
        let mut v = self.w.as_slice().to_vec();
        if let Some(wo) = &self.w_out {
            v.extend_from_slice(wo.as_slice());
        }
        v.extend_from_slice(self.b.as_slice());
        v
    }

    /// Largest absolute entry.
    pub fn norm_inf(&self) -> f64 {
        self.to_vec().iter().fold(0.0, |a, x| a.max(x.abs()))
    }

    /// Euclidean norm.
    pub fn norm(&self) -> f64 {
        crate::numeric::norm(&self.to_vec())
    }
}

/// What one route computed: the loss, its per-feature terms, how accurate they are, and the
/// gradient and exact rational value when the route produced them.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The loss.
    pub loss: f64,
    /// `I_i E[(x_i − x'_i)²]` (divided by n for `mean`); they sum to `loss`.
    pub per_feature: Vec<f64>,
    /// The error measure of `loss`.
    pub accuracy: Accuracy,
    /// The gradient, when asked for.
    pub gradient: Option<Gradient>,
    /// The exact rational values (the rational route only).
    pub exact: Option<ExactLoss>,
}

impl Evaluation {
    /// An evaluation from per-feature terms (the loss is their sum).
    pub fn from_terms(per_feature: Vec<f64>, accuracy: Accuracy) -> Self {
        Evaluation {
            loss: per_feature.iter().sum(),
            per_feature,
            accuracy,
            gradient: None,
            exact: None,
        }
    }
}

/// What a route would spend on one evaluation of a model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// Rough time of one loss evaluation on this machine (2 cores), in seconds.
    pub seconds: f64,
    /// Working memory, in bytes.
    pub bytes: f64,
}

/// A way to compute the loss of one objective.
pub trait Route: Send {
    /// Short name (`closed`, `exact`, `quadrature`, `mc`).
    fn name(&self) -> &'static str;

    /// The objective this route evaluates.
    fn objective(&self) -> &Objective;

    /// What one evaluation of a model of `shape` costs; [`Error::TooLarge`] (with the numbers)
    /// when it is beyond what this route does in reasonable time or memory, and
    /// [`Error::Invalid`] when the route does not apply (e.g. no closed form).
    fn cost(&self, shape: Shape) -> Result<Cost>;

    /// The loss and its per-feature terms at `model`.
    fn evaluate(&mut self, model: &Model) -> Result<Evaluation>;

    /// This route's gradient capability, if it has one (a route chosen at run time behind
    /// `dyn Route` is asked this way).
    fn as_gradient(&mut self) -> Option<&mut dyn RouteGradient> {
        None
    }
}

/// A route that also gives the gradient.
pub trait RouteGradient: Route {
    /// Loss at the flat parameters `params` ([`Model::to_vec`] layout of `shape`); overwrites
    /// `grad` with ∂L/∂params. No validation: an inner loop for optimisers, called only after
    /// [`Route::cost`] accepted `shape`.
    fn loss_grad_flat(&mut self, shape: Shape, params: &[f64], grad: &mut [f64]) -> f64;

    /// The loss, its per-feature terms and the gradient at `model`.
    fn evaluate_with_gradient(&mut self, model: &Model) -> Result<Evaluation> {
        let mut e = self.evaluate(model)?;
        let shape = model.shape();
        let mut grad = vec![0.0; shape.num_params()];
        self.loss_grad_flat(shape, &model.to_vec(), &mut grad);
        e.gradient = Some(Gradient::from_flat(shape, &grad));
        Ok(e)
    }
}

/// A route that also gives the Hessian.
pub trait RouteHessian: RouteGradient {
    /// The (symmetric) Hessian at the flat parameters `params` of `shape`. No validation.
    fn hessian_flat(&mut self, shape: Shape, params: &[f64]) -> DMatrix<f64>;
}

/// A route that gives Hessian-vector products: what Newton–CG and Lanczos need at sizes where
/// the whole Hessian is not worth forming. Every [`RouteHessian`] has them (as `H·v`) and also
/// hands over its whole matrix ([`RouteHvp::direct_hessian`]); the one-dimensional route gives
/// products only.
pub trait RouteHvp: RouteGradient {
    /// Whether [`RouteHvp::direct_hessian`] gives the whole Hessian (then the small-model path:
    /// exact Hessian, trust-region polish and a full eigen-decomposition, is used).
    fn has_direct_hessian(&self) -> bool;

    /// The whole Hessian at `params` when the route computes it directly.
    fn direct_hessian(&mut self, shape: Shape, params: &[f64]) -> Option<DMatrix<f64>>;

    /// `out = H v` at the flat parameters `params`; returns an estimate of the largest absolute
    /// error of an entry of `out` (non-finite when the products could not be computed).
    fn hvp_flat(&mut self, shape: Shape, params: &[f64], v: &[f64], out: &mut [f64]) -> f64;

    /// A bound on the absolute error of each entry of the gradient of the last
    /// [`RouteGradient::loss_grad_flat`] call (0 when the gradient is exact up to rounding).
    fn gradient_error(&self) -> f64 {
        0.0
    }

    /// A copy that works to the looser relative tolerance `tol` (for a minimiser's early
    /// iterations, where the gradient only needs to be known well against its own size), or
    /// `None` when the route's accuracy does not depend on a tolerance.
    fn coarsened(&self, _tol: f64) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

impl<T: RouteHessian> RouteHvp for T {
    fn has_direct_hessian(&self) -> bool {
        true
    }

    fn direct_hessian(&mut self, shape: Shape, params: &[f64]) -> Option<DMatrix<f64>> {
        Some(self.hessian_flat(shape, params))
    }

    fn hvp_flat(&mut self, shape: Shape, params: &[f64], v: &[f64], out: &mut [f64]) -> f64 {
        let h = self.hessian_flat(shape, params);
        let hv = h * DVector::from_column_slice(v);
        out.copy_from_slice(hv.as_slice());
        0.0
    }
}

/// Which route computes a loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// The cheapest feasible deterministic route (closed form, quadrature, one-dimensional);
    /// Monte Carlo only when none can do it.
    #[default]
    Auto,
    /// The closed form (piecewise-linear activations; within 1e-12 relative of the exact value).
    Closed,
    /// Exact rational arithmetic (piecewise-linear activations, small sizes).
    Exact,
    /// Adaptive quadrature split at the kinks, with an error estimate (any activation).
    Quadrature,
    /// Seeded Monte Carlo with a standard error (any activation, any size).
    Mc,
    /// The one-dimensional (characteristic-function) route: independent data, any n, an error
    /// estimate (loss and gradient about 0.1 s at n = 20, m = 5).
    Onedim,
}

impl Method {
    /// Every method, in the order [`Method::Auto`] tries the deterministic ones.
    pub const ALL: [Method; 6] = [
        Method::Auto,
        Method::Closed,
        Method::Exact,
        Method::Quadrature,
        Method::Mc,
        Method::Onedim,
    ];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Closed => "closed",
            Method::Exact => "exact",
            Method::Quadrature => "quadrature",
            Method::Mc => "mc",
            Method::Onedim => "onedim",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s.trim())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown method '{s}' (expected auto, closed, exact, quadrature, mc or onedim)"
                ))
            })
    }
}

/// Settings of the approximate routes, validated by their builders.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteSettings {
    tol: f64,
    samples: usize,
    seed: u64,
}

impl Default for RouteSettings {
    fn default() -> Self {
        RouteSettings {
            tol: tolerance::QUADRATURE_DEFAULT,
            samples: montecarlo::DEFAULT_SAMPLES,
            seed: 0,
        }
    }
}

impl RouteSettings {
    /// Defaults: quadrature target 1e-10, 100 000 Monte Carlo samples, seed 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Absolute error target of the quadrature route (positive, finite).
    pub fn with_tol(mut self, tol: f64) -> Result<Self> {
        if !(tol.is_finite() && tol > 0.0) {
            return Err(Error::invalid(format!(
                "the tolerance must be a positive number, not {tol}"
            )));
        }
        self.tol = tol;
        Ok(self)
    }

    /// Number of Monte Carlo samples (≥ 1).
    pub fn with_samples(mut self, samples: usize) -> Result<Self> {
        if samples == 0 {
            return Err(Error::invalid("Monte Carlo needs at least one sample"));
        }
        self.samples = samples;
        Ok(self)
    }

    /// Monte Carlo seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The quadrature tolerance.
    pub fn tol(&self) -> f64 {
        self.tol
    }

    /// The Monte Carlo sample count.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// The Monte Carlo seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

/// The route `method` names for `obj` at `shape`, after checking its cost. [`Method::Auto`]
/// takes the cheapest of the deterministic routes that accept the request, and Monte Carlo
/// only when none does; the error then names why each refused.
pub fn select(
    method: Method,
    obj: &Objective,
    shape: Shape,
    settings: &RouteSettings,
) -> Result<Box<dyn Route>> {
    let build = |m: Method| -> Result<Box<dyn Route>> {
        let route: Box<dyn Route> = match m {
            Method::Closed => Box::new(ClosedForm::new(obj.clone())?),
            Method::Exact => Box::new(ExactRational::new(obj.clone())?),
            Method::Quadrature => Box::new(Quadrature::new(obj.clone(), settings.tol())?),
            Method::Mc => Box::new(MonteCarlo::new(
                obj.clone(),
                settings.samples(),
                settings.seed(),
            )?),
            Method::Onedim => Box::new(onedim::OneDim::new(obj.clone(), settings.tol())?),
            Method::Auto => unreachable!("Auto is resolved below"),
        };
        route.cost(shape)?;
        Ok(route)
    };
    if method != Method::Auto {
        return build(method);
    }
    let mut best: Option<(f64, Box<dyn Route>)> = None;
    let mut refusals = Vec::new();
    for m in [Method::Closed, Method::Quadrature, Method::Onedim] {
        match build(m).and_then(|r| Ok((r.cost(shape)?.seconds, r))) {
            Ok((t, r)) => {
                if best.as_ref().is_none_or(|(bt, _)| t < *bt) {
                    best = Some((t, r));
                }
            }
            Err(e) => refusals.push(format!("{}: {e}", m.name())),
        }
    }
    match best {
        Some((_, r)) => Ok(r),
        None => build(Method::Mc).map_err(|e| {
            refusals.push(format!("mc: {e}"));
            Error::TooLarge(format!(
                "no route can evaluate this ({})",
                refusals.join("; ")
            ))
        }),
    }
}

/// Size of the largest set of features that can be active together (the dimension every
/// integral-based route integrates over).
pub fn max_active(obj: &Objective) -> usize {
    obj.data().active_sets().max_set_size()
}
