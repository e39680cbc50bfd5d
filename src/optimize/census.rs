//! Multi-start global search: many seeded starts minimised in parallel, the results merged
//! modulo the symmetries and listed with how often each was reached.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use super::{minimize_local_with, LocalMinimum, MinimizeOptions};
use crate::error::{Error, Result};
use crate::geometry::{geometry, Geometry};
use crate::model::Model;
use crate::objective::Objective;
use crate::progress::{Progress, Silent};
use crate::route::{HvpRoute, Route, RouteHvp};
use crate::shape::Shape;
use crate::tolerance;
use nalgebra::{DMatrix, DVector};

/// Most starts one search may run.
pub const MAX_RESTARTS: usize = 100_000;

/// How critical points are searched for: the number of seeded starts, their seed, and the
/// options of each local minimisation (shared by [`census`] and [`crate::verify::verify`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    restarts: usize,
    seed: u64,
    minimize: MinimizeOptions,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            restarts: 16,
            seed: 0,
            minimize: MinimizeOptions::default(),
        }
    }
}

impl SearchOptions {
    /// 16 starts, seed 0, default minimisation.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of starts (≥ 1).
    pub fn with_restarts(mut self, k: usize) -> Result<Self> {
        if k == 0 {
            return Err(Error::invalid("--restarts must be at least 1"));
        }
        if k > MAX_RESTARTS {
            return Err(Error::TooLarge(format!(
                "--restarts {k}: at most {MAX_RESTARTS} starts (each start is a full exact minimisation)"
            )));
        }
        self.restarts = k;
        Ok(self)
    }

    /// The seed of all starts.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Options of each local minimisation (fixed biases or entries).
    pub fn with_minimize(mut self, opts: MinimizeOptions) -> Self {
        self.minimize = opts;
        self
    }

    /// Number of starts.
    pub fn restarts(&self) -> usize {
        self.restarts
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Options of each local minimisation.
    pub fn minimize(&self) -> &MinimizeOptions {
        &self.minimize
    }
}

/// Options of a census: the model's shape and the search.
#[derive(Debug, Clone, PartialEq)]
pub struct CensusOptions {
    shape: Shape,
    search: SearchOptions,
}

impl CensusOptions {
    /// A census of models with n features and m hidden dimensions, tied, default search.
    pub fn new(n: usize, m: usize) -> Result<Self> {
        if n == 0 || m == 0 {
            return Err(Error::invalid(format!(
                "n and m must be at least 1 (got n = {n}, m = {m})"
            )));
        }
        Ok(CensusOptions {
            shape: Shape::new(n, m, true),
            search: SearchOptions::default(),
        })
    }

    /// Untied models (a separate W_out).
    pub fn with_untied(mut self, untied: bool) -> Self {
        self.shape.tied = !untied;
        self
    }

    /// The models' shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The search.
    pub fn with_search(mut self, search: SearchOptions) -> Self {
        self.search = search;
        self
    }

    /// Number of starts (≥ 1); shorthand for the search's.
    pub fn with_restarts(mut self, k: usize) -> Result<Self> {
        self.search = self.search.with_restarts(k)?;
        Ok(self)
    }

    /// Number of starts.
    pub fn restarts(&self) -> usize {
        self.search.restarts
    }

    /// The search.
    pub fn search(&self) -> &SearchOptions {
        &self.search
    }
}

/// One distinct critical point found by the census.
#[derive(Debug, Clone)]
pub struct CriticalPoint {
    /// The point (the representative with the smallest gradient among those merged).
    pub minimum: LocalMinimum,
    /// How many starts reached it.
    pub count: usize,
    /// Its geometry.
    pub geometry: Geometry,
}

/// The distinct critical points, lowest loss first.
#[derive(Debug, Clone)]
pub struct Census {
    /// Distinct points.
    pub points: Vec<CriticalPoint>,
    /// Number of starts.
    pub starts: usize,
    /// Starts whose minimisation ended with ‖∇L‖ above `grad_tol` × the loss's scale (plus the
    /// gradient's error bound); they are not listed.
    pub unconverged: usize,
    /// That gradient tolerance: [`tolerance::CENSUS_GRAD`], or
    /// [`tolerance::CENSUS_GRAD_HESSIAN_FREE`] for routes without a direct Hessian.
    pub grad_tol: f64,
}

impl Census {
    /// The lowest-loss point.
    pub fn best(&self) -> &CriticalPoint {
        &self.points[0]
    }
}

/// Start `k` of a census: even k — the notebook's xavier-normal scale (std √(2/(n+m)), b = 0);
/// odd k — wider (std 1, b ~ U[−½, ½]) to reach basins xavier starts miss.
pub fn start_model(shape: Shape, seed: u64, k: usize) -> Result<Model> {
    let (n, m, untied) = (shape.n, shape.m, !shape.tied);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(k as u64);
    let wide = k % 2 == 1;
    let std = if wide {
        1.0
    } else {
        (2.0 / (n + m) as f64).sqrt()
    };
    let normal = |rng: &mut ChaCha8Rng| -> f64 { std * rng.sample::<f64, _>(StandardNormal) };
    let w = DMatrix::from_fn(m, n, |_, _| normal(&mut rng));
    let w_out = untied.then(|| DMatrix::from_fn(n, m, |_, _| normal(&mut rng)));
    let b = DVector::from_fn(n, |_, _| {
        if wide {
            rng.random_range(-0.5..0.5)
        } else {
            0.0
        }
    });
    let model = Model::new(w, b)?;
    match w_out {
        Some(wo) => model.with_w_out(wo),
        None => Ok(model),
    }
}

/// Rough wall-clock seconds of one local minimisation of a model of `shape` through the route
/// [`HvpRoute::select`] picks.
///
/// # Formula
/// Closed form: `S · (4e-6 + 2.3e-9 · N²)` seconds, with `S` the closed form's cost in states
/// ([`ClosedForm::states`]) and N parameters (the N² term is the exact Hessians, one
/// dual-number sweep per parameter). Fitted on the 2-core development machine to one start at
/// (5, 2): 4.5 ms, (8, 3): 0.28 s, (10, 3): 2.5 s and (12, 4): 78 s; within a factor of 2 of
/// each. One-dimensional route: [`ONEDIM_EVALUATIONS`] × its cost estimate for one evaluation.
/// Infinite when neither route accepts the objective.
pub fn minimize_seconds(obj: &Objective, shape: Shape) -> f64 {
    let params = shape.num_params() as f64;
    match HvpRoute::select(obj, shape) {
        Ok(HvpRoute::Closed(c)) => c.states() * (4e-6 + 2.3e-9 * params * params),
        Ok(r) => r
            .cost(shape)
            .map_or(f64::INFINITY, |c| ONEDIM_EVALUATIONS * c.seconds),
        Err(_) => f64::INFINITY,
    }
}

/// One minimisation through the one-dimensional route, in units of the route's estimate for
/// one evaluation. That estimate is kept pessimistic for choosing routes (4e-3 n² s: 1.6 s at
/// n = 20); the minimisation takes 1000–1500 evaluations, but most at the coarse tolerances of
/// the L-BFGS stages and at points where the closed parts leave few nodes. Measured at (20, 5),
/// density 0.1, 0.7^i: 22–120 s per start (14–75 units).
const ONEDIM_EVALUATIONS: f64 = 50.0;

/// Whether one evaluation already uses every core (then starts effectively run one by one).
fn parallel_outputs(obj: &Objective) -> bool {
    obj.data().active_sets().max_set_size() >= crate::route::closed::PARALLEL_MIN_COORDS
}

/// Rough wall-clock seconds of a census (see [`minimize_seconds`]).
pub fn census_seconds(obj: &Objective, opts: &CensusOptions) -> f64 {
    let starts = opts.search.restarts as f64;
    let rounds = if parallel_outputs(obj) {
        starts
    } else {
        (starts / rayon::current_num_threads().max(1) as f64).ceil()
    };
    rounds * minimize_seconds(obj, opts.shape)
}

/// Runs the census with the closed form: `restarts` seeded starts, minimised in parallel,
/// merged modulo symmetry.
pub fn census(obj: &Objective, opts: &CensusOptions) -> Result<Census> {
    census_with(&HvpRoute::select(obj, opts.shape)?, opts, &Silent)
}

/// [`census`] through any route with a Hessian, reporting the starts done to `progress`.
pub fn census_with<R: RouteHvp + Clone + Sync>(
    route: &R,
    opts: &CensusOptions,
    progress: &dyn Progress,
) -> Result<Census> {
    let obj = route.objective();
    if obj.n() != opts.shape.n {
        return Err(Error::invalid(format!(
            "the data describe {} features but the census is for n = {}",
            obj.n(),
            opts.shape.n
        )));
    }
    route.cost(opts.shape)?;
    let search = &opts.search;
    progress.start(search.restarts as u64, "starts");
    let results: Vec<Result<LocalMinimum>> = (0..search.restarts)
        .into_par_iter()
        .map(|k| {
            let start = start_model(opts.shape, search.seed, k)?;
            let r = minimize_local_with(route.clone(), &start, &search.minimize);
            progress.advance(1);
            r
        })
        .collect();
    progress.finish();
    let relu = obj.activation() == crate::model::Activation::Relu;
    let classes = interchangeable_features(obj);
    let mut points: Vec<CriticalPoint> = Vec::new();
    let mut unconverged = 0;
    let grad_tol = if route.has_direct_hessian() {
        tolerance::CENSUS_GRAD
    } else {
        tolerance::CENSUS_GRAD_HESSIAN_FREE
    };
    // The start that came nearest: (‖∇L‖, its error bound), relative to the scale.
    let mut nearest: Option<(f64, f64)> = None;
    for r in results {
        let lm = r?;
        if lm.grad_norm > grad_tol * lm.scale + lm.grad_error {
            unconverged += 1;
            let here = (lm.grad_norm / lm.scale, lm.grad_error / lm.scale);
            if nearest.is_none_or(|(g, _)| here.0 < g) {
                nearest = Some(here);
            }
            continue;
        }
        match points
            .iter_mut()
            .find(|p| same_point(&p.minimum, &lm, relu, &classes))
        {
            Some(p) => {
                p.count += 1;
                if lm.grad_norm < p.minimum.grad_norm {
                    p.geometry = geometry(&lm.model);
                    p.minimum = lm;
                }
            }
            None => points.push(CriticalPoint {
                geometry: geometry(&lm.model),
                minimum: lm,
                count: 1,
            }),
        }
    }
    if points.is_empty() {
        let (g, e) = nearest.unwrap_or((f64::NAN, f64::NAN));
        return Err(Error::Numerical(format!(
            "none of the {} starts reached a critical point (‖∇L‖ ≤ {grad_tol:.0e} × the loss's \
             scale plus the gradient's error bound); the nearest ended at ‖∇L‖ = {g:.1e} × the \
             scale, error bound {e:.1e} (more --restarts, or a different --seed)",
            search.restarts,
        )));
    }
    points.sort_by(|a, b| a.minimum.loss.total_cmp(&b.minimum.loss));
    Ok(Census {
        points,
        starts: search.restarts,
        unconverged,
        grad_tol,
    })
}

/// Classes of features the data cannot tell apart: equal density (or one-hot probability)
/// and equal importance. With explicit active sets every feature is its own class.
pub fn interchangeable_features(obj: &Objective) -> Vec<usize> {
    let data = obj.data();
    let n = obj.n();
    let key = |i: usize| -> Option<(u64, u64)> {
        match data.distribution() {
            crate::data::Distribution::ActiveSets(_) => None,
            _ => Some((
                data.marginal_density()[i].to_bits(),
                data.importance()[i].to_bits(),
            )),
        }
    };
    let mut classes = vec![0; n];
    for i in 0..n {
        classes[i] = match key(i) {
            None => i,
            Some(k) => (0..i)
                .find(|&j| key(j) == Some(k))
                .map_or(i, |j| classes[j]),
        };
    }
    classes
}

/// Same critical point modulo the symmetries: the hidden-space symmetries (equal
/// `M = W_out W`) and permutations of features the data cannot tell apart (`classes`, see
/// [`interchangeable_features`]): some such permutation π has `M_b[π i, π j] = M_a[i, j]` and
/// `b_b[π i] = b_a[i]`. With a ReLU output, a feature whose output is identically 0
/// (`b_i + Σ_j max(M_ij, 0) ≤ 0`) has a flat bias, so its bias is compared only through that
/// condition.
pub fn same_point(a: &LocalMinimum, b: &LocalMinimum, relu: bool, classes: &[usize]) -> bool {
    let scale = a.scale.max(a.loss.abs());
    if (a.loss - b.loss).abs() > tolerance::SAME_LOSS_REL * scale {
        return false;
    }
    let (ga, gb) = (a.model.gram(), b.model.gram());
    let n = ga.nrows();
    let tol = tolerance::SAME_POINT * 1.0f64.max(ga.amax());
    let silent = |g: &DMatrix<f64>, bias: f64, i: usize| {
        relu && bias + g.row(i).iter().map(|v| v.max(0.0)).sum::<f64>() <= 0.0
    };
    let bias_a: Vec<Option<f64>> = (0..n)
        .map(|i| (!silent(&ga, a.model.b()[i], i)).then_some(a.model.b()[i]))
        .collect();
    let bias_b: Vec<Option<f64>> = (0..n)
        .map(|i| (!silent(&gb, b.model.b()[i], i)).then_some(b.model.b()[i]))
        .collect();
    let close = |x: f64, y: f64| (x - y).abs() <= tol;
    let same_bias = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (None, None) => true,
        (Some(x), Some(y)) => close(x, y),
        _ => false,
    };
    // Backtracking over π, feature by feature; each candidate must agree with every
    // assignment made so far. The budget keeps pathological ties from running long.
    let mut perm = vec![usize::MAX; n];
    let mut used = vec![false; n];
    let mut budget = PERMUTATION_SEARCH_BUDGET;
    fn assign(
        i: usize,
        perm: &mut [usize],
        used: &mut [bool],
        budget: &mut usize,
        fits: &dyn Fn(usize, usize, &[usize]) -> bool,
    ) -> bool {
        if i == perm.len() {
            return true;
        }
        for j in 0..perm.len() {
            if used[j] || *budget == 0 {
                continue;
            }
            *budget -= 1;
            if fits(i, j, perm) {
                perm[i] = j;
                used[j] = true;
                if assign(i + 1, perm, used, budget, fits) {
                    return true;
                }
                used[j] = false;
                perm[i] = usize::MAX;
            }
        }
        false
    }
    // A silent output (ReLU, never positive on the data's support) is 0 whatever its row of
    // M, so only the rows of live outputs must agree: two points are the same when they
    // compute the same function on the support (one entry per flat plateau).
    let live = |bias: &[Option<f64>], i: usize| bias[i].is_some();
    let fits = |i: usize, j: usize, perm: &[usize]| {
        classes[i] == classes[j]
            && same_bias(bias_a[i], bias_b[j])
            && (!live(&bias_a, i) || close(ga[(i, i)], gb[(j, j)]))
            && (0..i).all(|k| {
                (!live(&bias_a, i) || close(ga[(i, k)], gb[(j, perm[k])]))
                    && (!live(&bias_a, k) || close(ga[(k, i)], gb[(perm[k], j)]))
            })
    };
    assign(0, &mut perm, &mut used, &mut budget, &fits)
}

/// Candidate assignments the permutation search may try before giving up (then the points
/// are listed separately, never merged wrongly).
const PERMUTATION_SEARCH_BUDGET: usize = 200_000;
