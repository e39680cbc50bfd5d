//! Exact loss surfaces over a 2-D grid (a study: it computes data; drawing is `plot`'s job).
//!
//! Two kinds: the n = 2, m = 1 model over its weights (w₁, w₂) with the biases fixed or
//! *profiled* (minimised exactly at every grid point), and the plane through any model's
//! parameters along two directions. [`Surface`] holds the grid values and the marked critical
//! points; [`write`] stores it as `PREFIX.csv` (one row per grid point, header first),
//! `PREFIX.json` (setting and marked points) and the picture `PREFIX.png` / `PREFIX.svg`.

use std::path::Path;

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::objective::Objective;
use crate::optimize::{self, CensusOptions, Kind, MinimizeOptions, SearchOptions};
use crate::plot;
use crate::progress::Progress;
use crate::route::{ClosedForm as Evaluator, Route, RouteGradient, RouteHessian};
use crate::shape::Shape;
use crate::tolerance;

/// Largest number of grid points per axis.
pub const MAX_GRID: usize = 2000;

/// A square grid of `points × points` over `[x.0, x.1] × [y.0, y.1]`, endpoints included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridSpec {
    pub points: usize,
    pub x: (f64, f64),
    pub y: (f64, f64),
}

impl GridSpec {
    /// Validates the grid: at least 2 and at most [`MAX_GRID`] points per axis; finite,
    /// non-empty, increasing ranges.
    pub fn new(points: usize, x: (f64, f64), y: (f64, f64)) -> Result<Self> {
        if points < 2 {
            return Err(Error::invalid(format!(
                "--grid {points}: a surface needs at least 2 points per axis"
            )));
        }
        if points > MAX_GRID {
            return Err(Error::TooLarge(format!(
                "--grid {points} is {} points (limit {MAX_GRID} per axis, {} points)",
                points * points,
                MAX_GRID * MAX_GRID
            )));
        }
        for (name, (a, b)) in [("first", x), ("second", y)] {
            if !(a.is_finite() && b.is_finite()) {
                return Err(Error::invalid(format!(
                    "the {name} range {a}:{b} is not finite"
                )));
            }
            if a >= b {
                return Err(Error::invalid(format!(
                    "the {name} range {a}:{b} is empty or inverted (write low:high)"
                )));
            }
        }
        Ok(GridSpec { points, x, y })
    }

    /// Grid coordinates along one axis.
    fn coords(&self, (a, b): (f64, f64)) -> Vec<f64> {
        let k = self.points - 1;
        (0..self.points)
            .map(|i| {
                if i == k {
                    b
                } else {
                    a + (b - a) * i as f64 / k as f64
                }
            })
            .collect()
    }

    /// The x coordinates.
    pub fn xs(&self) -> Vec<f64> {
        self.coords(self.x)
    }

    /// The y coordinates.
    pub fn ys(&self) -> Vec<f64> {
        self.coords(self.y)
    }
}

/// Parses `a:b` (both axes) or `a:b,c:d`.
pub fn parse_range(s: &str) -> Result<((f64, f64), (f64, f64))> {
    let one = |t: &str| -> Result<(f64, f64)> {
        let bad = || {
            Error::invalid(format!(
                "--range '{s}': expected low:high or low:high,low:high"
            ))
        };
        let (a, b) = t.split_once(':').ok_or_else(bad)?;
        let a: f64 = a.trim().parse().map_err(|_| bad())?;
        let b: f64 = b.trim().parse().map_err(|_| bad())?;
        Ok((a, b))
    };
    match s.split_once(',') {
        Some((x, y)) => Ok((one(x)?, one(y)?)),
        None => {
            let r = one(s)?;
            Ok((r, r))
        }
    }
}

/// How the biases of the n = 2, m = 1 surface are handled.
#[derive(Debug, Clone, PartialEq)]
pub enum BiasMode {
    /// Held at these values.
    Fixed(Vec<f64>),
    /// Minimised exactly at every grid point with W held fixed.
    Profiled,
}

/// A marked point of a surface.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurfaceMark {
    pub x: f64,
    pub y: f64,
    pub loss: f64,
    /// "minimum", "saddle", "degenerate" or "point" (a named model).
    pub kind: String,
    /// Where it comes from: "census" (exact critical point of the full problem, in the plane),
    /// "grid" (a grid minimum refined exactly within the plane) or a model's name.
    pub source: String,
    /// Minima: the share of grid points whose steepest descent on the grid ends at this
    /// minimum (see [`assign_basins`]); `None` for other marks.
    pub basin_share: Option<f64>,
}

/// One panel's values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layer {
    /// Panel title ("b fixed at (0, 0)").
    pub name: String,
    /// Prefix of this layer's CSV columns ("" for the first layer, "profiled_" …).
    pub csv_prefix: String,
    /// Loss at each grid point, row by row (`iy * points + ix`).
    pub loss: Vec<f64>,
    /// Biases used at each grid point (n = 2, m = 1 surfaces), row by row.
    pub biases: Option<Vec<Vec<f64>>>,
    pub marks: Vec<SurfaceMark>,
}

/// A computed surface.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Surface {
    /// The setting (n, m, data, bias handling).
    pub title: String,
    /// CSV column names of the two coordinates ("w1", "w2" or "alpha", "beta").
    pub x_name: String,
    pub y_name: String,
    /// Axis labels of the picture ("w₁", "α (towards other.json)").
    pub x_label: String,
    pub y_label: String,
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
    pub layers: Vec<Layer>,
    /// A path drawn over the surface (the straight path of `--to`).
    pub path: Option<Vec<(f64, f64)>>,
    /// The plane's origin and directions in [`Model::to_vec`] order (model planes).
    pub origin: Option<Vec<f64>>,
    pub directions: Option<[Vec<f64>; 2]>,
}

/// A short description of the data: "density 0.1 · importance (1, 0.5) · relu".
pub fn describe(obj: &Objective) -> String {
    let list = |v: &[f64]| -> String {
        if v.iter().all(|&x| x == v[0]) {
            plot_number(v[0])
        } else {
            format!(
                "({})",
                v.iter()
                    .map(|&x| plot_number(x))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    let data = obj.data();
    let mut parts = Vec::new();
    match data.distribution() {
        crate::data::Distribution::Independent => {
            parts.push(format!("density {}", list(data.density())))
        }
        d => parts.push(d.to_string()),
    }
    parts.push(format!("importance {}", list(data.importance())));
    parts.push(obj.activation().to_string());
    if obj.reduction() != crate::objective::Reduction::Sum {
        parts.push(format!("{} loss", obj.reduction()));
    }
    parts.join(" · ")
}

fn plot_number(v: f64) -> String {
    let s = format!("{:.4}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// Rough seconds of one closed-form evaluation for `obj` (fitted on the 2-core development
/// machine: about 0.15 µs per cut-cube state plus 0.5 µs overhead).
fn eval_seconds(obj: &Objective) -> f64 {
    0.5e-6 + 0.15e-6 * Evaluator::new(obj.clone()).map_or(f64::INFINITY, |c| c.states())
}

/// Evaluations per grid point of the exact bias profile (scan + refinement).
const PROFILE_EVALS: f64 = 130.0;

/// Refuses a grid whose estimated time is beyond the tool's one time limit
/// ([`crate::limits::check_seconds`]), saying what it would cost.
fn check_cost(grid: &GridSpec, per_point: f64) -> Result<f64> {
    let points = (grid.points * grid.points) as f64;
    let secs = points * per_point / rayon::current_num_threads().max(1) as f64;
    crate::limits::check_seconds(
        secs,
        &format!(
            "a {0} × {0} grid ({1} points)",
            grid.points,
            grid.points * grid.points
        ),
        "use a smaller --grid",
    )?;
    Ok(secs)
}

/// Biases minimising the loss exactly for the weights of `model` (its biases are ignored), and
/// that minimum.
///
/// The loss is a sum of per-feature terms and term i depends on b only through b_i, so each
/// b_i is a 1-D problem. With z_i = Σ_j M_ij x_j ∈ [z_min, z_max] (x ∈ [0,1]ⁿ), every
/// piecewise-linear activation is affine in z_i + b_i for b_i ≤ −z_max and for b_i ≥ −z_min,
/// so the term is a quadratic (convex or flat) there; between, a scan of the exact derivative
/// brackets every local minimum, each refined by bisection on the exact derivative; the
/// outer quadratics contribute their own minima. The lowest candidate wins (ties: the smaller
/// b_i).
pub fn profile_biases(eval: &mut Evaluator, model: &Model) -> Result<(DVector<f64>, f64)> {
    if !eval.objective().activation().has_closed_form() {
        return Err(Error::invalid(format!(
            "profiled biases need a piecewise-linear activation, not {}",
            eval.objective().activation()
        )));
    }
    let n = model.n();
    let gram = match model.w_out() {
        Some(wo) => wo * model.w(),
        None => model.gram(),
    };
    let mut lo = vec![0.0; n];
    let mut hi = vec![0.0; n];
    for i in 0..n {
        let (mut zmin, mut zmax) = (0.0, 0.0);
        for j in 0..n {
            let v = gram[(i, j)];
            if v > 0.0 {
                zmax += v;
            } else {
                zmin += v;
            }
        }
        lo[i] = -zmax;
        hi[i] = -zmin;
        if hi[i] - lo[i] < 1e-9 {
            // z_i ≡ 0 (a dropped feature): scan around the useful biases 0…1.
            lo[i] -= 1.0;
            hi[i] += 1.0;
        }
    }
    // Per-feature terms and ∂L/∂b_i at a bias vector (term i depends on b_i only).
    let mut at = |b: &[f64]| -> Result<(Vec<f64>, Vec<f64>)> {
        let m = model.clone().with_b(DVector::from_column_slice(b))?;
        let v = eval.evaluate_with_gradient(&m)?;
        let gb = v.gradient.as_ref().map(|g| g.b.as_slice().to_vec());
        Ok((v.per_feature, gb.unwrap_or_default()))
    };
    const SCAN: usize = 48;
    let ts: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..=SCAN)
                .map(|k| lo[i] + (hi[i] - lo[i]) * k as f64 / SCAN as f64)
                .collect()
        })
        .collect();
    let mut val = vec![vec![0.0; SCAN + 1]; n];
    let mut der = vec![vec![0.0; SCAN + 1]; n];
    for k in 0..=SCAN {
        let b: Vec<f64> = (0..n).map(|i| ts[i][k]).collect();
        let (v, g) = at(&b)?;
        for i in 0..n {
            val[i][k] = v[i];
            der[i][k] = g[i];
        }
    }
    // Candidates (b_i, term_i) per feature: the lowest scan point first.
    let mut best: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let k = (0..=SCAN)
                .min_by(|&a, &c| val[i][a].total_cmp(&val[i][c]))
                .unwrap_or(0);
            (ts[i][k], val[i][k])
        })
        .collect();
    let consider = |best: &mut Vec<(f64, f64)>, i: usize, b: f64, v: f64| {
        if v < best[i].1 || (v == best[i].1 && b < best[i].0) {
            best[i] = (b, v);
        }
    };
    // Brackets: derivative from negative to non-negative between neighbours.
    let brackets: Vec<Vec<(f64, f64)>> = (0..n)
        .map(|i| {
            (0..SCAN)
                .filter(|&k| der[i][k] < 0.0 && der[i][k + 1] >= 0.0)
                .map(|k| (ts[i][k], ts[i][k + 1]))
                .collect()
        })
        .collect();
    let rounds = brackets.iter().map(Vec::len).max().unwrap_or(0);
    for r in 0..rounds {
        // Bisection on every feature's r-th bracket at once (one evaluation serves all).
        let mut br: Vec<Option<(f64, f64)>> = (0..n).map(|i| brackets[i].get(r).copied()).collect();
        for _ in 0..60 {
            let b: Vec<f64> = (0..n)
                .map(|i| br[i].map_or(best[i].0, |(a, c)| 0.5 * (a + c)))
                .collect();
            let (_, g) = at(&b)?;
            let mut moved = false;
            for i in 0..n {
                if let Some((a, c)) = br[i] {
                    let mid = b[i];
                    if mid <= a || mid >= c {
                        continue;
                    }
                    moved = true;
                    br[i] = Some(if g[i] < 0.0 { (mid, c) } else { (a, mid) });
                }
            }
            if !moved {
                break;
            }
        }
        let b: Vec<f64> = (0..n)
            .map(|i| br[i].map_or(best[i].0, |(a, c)| 0.5 * (a + c)))
            .collect();
        let (v, _) = at(&b)?;
        for i in 0..n {
            if br[i].is_some() {
                consider(&mut best, i, b[i], v[i]);
            }
        }
    }
    // The outer quadratics: one Newton step from the scan's ends (exact: g' is affine there).
    for side in [0usize, 1] {
        let end: Vec<f64> = (0..n)
            .map(|i| if side == 0 { lo[i] } else { hi[i] })
            .collect();
        let step: Vec<f64> = (0..n)
            .map(|i| {
                if side == 0 {
                    end[i] - 1.0
                } else {
                    end[i] + 1.0
                }
            })
            .collect();
        let (_, g0) = at(&end)?;
        let (_, g1) = at(&step)?;
        let target: Vec<Option<f64>> = (0..n)
            .map(|i| {
                let curv = (g1[i] - g0[i]) / (step[i] - end[i]);
                let outward = if side == 0 { g0[i] > 0.0 } else { g0[i] < 0.0 };
                (outward && curv > 0.0).then(|| end[i] - g0[i] / curv)
            })
            .collect();
        if target.iter().any(Option::is_some) {
            let b: Vec<f64> = (0..n).map(|i| target[i].unwrap_or(best[i].0)).collect();
            let (v, _) = at(&b)?;
            for i in 0..n {
                if target[i].is_some() {
                    consider(&mut best, i, b[i], v[i]);
                }
            }
        }
    }
    let b = DVector::from_iterator(n, best.iter().map(|p| p.0));
    let m = model.clone().with_b(b.clone())?;
    let total = eval.evaluate(&m)?.loss;
    Ok((b, total))
}

/// The exact loss of the n = 2, m = 1 model over (w₁, w₂), one layer per bias mode.
/// Critical points of the full problem that lie in the plane (from the census, with W → −W and
/// — for interchangeable features and symmetric biases — the swap w₁ ↔ w₂) are marked.
pub fn pair_surface(
    obj: &Objective,
    grid: &GridSpec,
    modes: &[BiasMode],
    progress: &dyn Progress,
) -> Result<Surface> {
    if obj.n() != 2 {
        return Err(Error::invalid(format!(
            "the (w₁, w₂) surface is for n = 2 features; the data describe {}",
            obj.n()
        )));
    }
    if modes.is_empty() {
        return Err(Error::invalid("no bias mode requested"));
    }
    let base = Evaluator::new(obj.clone())?;
    let per_point: f64 = modes
        .iter()
        .map(|m| match m {
            BiasMode::Fixed(_) => eval_seconds(obj),
            BiasMode::Profiled => PROFILE_EVALS * 3.0 * eval_seconds(obj),
        })
        .sum();
    check_cost(grid, per_point)?;
    let (xs, ys) = (grid.xs(), grid.ys());
    let mut layers = Vec::new();
    for (k, mode) in modes.iter().enumerate() {
        progress.start(ys.len() as u64, "rows");
        let rows: Vec<Result<Row>> = ys
            .par_iter()
            .map_init(
                || base.clone(),
                |ev, &w2| {
                    let row = xs
                        .iter()
                        .map(|&w1| point(ev, w1, w2, mode))
                        .collect::<Result<Vec<_>>>();
                    progress.advance(1);
                    row
                },
            )
            .collect();
        progress.finish();
        let mut loss = Vec::with_capacity(xs.len() * ys.len());
        let mut biases = Vec::with_capacity(xs.len() * ys.len());
        for r in rows {
            for (l, b) in r? {
                loss.push(l);
                biases.push(b);
            }
        }
        let (name, prefix) = match mode {
            BiasMode::Fixed(b) => (
                format!("b fixed at ({}, {})", plot_number(b[0]), plot_number(b[1])),
                if k == 0 { "" } else { "fixed_" },
            ),
            BiasMode::Profiled => (
                "b profiled (minimised at each point)".to_string(),
                if k == 0 { "" } else { "profiled_" },
            ),
        };
        let marks = pair_marks(obj, mode, grid)?;
        layers.push(Layer {
            name,
            csv_prefix: prefix.to_string(),
            loss,
            biases: Some(biases),
            marks,
        });
    }
    for l in &mut layers {
        assign_basins(&xs, &ys, l);
    }
    Ok(Surface {
        title: format!("n = 2, m = 1 · {}", describe(obj)),
        x_name: "w1".into(),
        y_name: "w2".into(),
        x_label: "w₁".into(),
        y_label: "w₂".into(),
        xs,
        ys,
        layers,
        path: None,
        origin: None,
        directions: None,
    })
}

/// One grid row of (loss, biases).
type Row = Vec<(f64, Vec<f64>)>;

/// Loss and biases at one (w₁, w₂).
fn point(ev: &mut Evaluator, w1: f64, w2: f64, mode: &BiasMode) -> Result<(f64, Vec<f64>)> {
    match mode {
        BiasMode::Fixed(b) => {
            let p = [w1, w2, b[0], b[1]];
            Ok((ev.loss_flat(Shape::new(2, 1, true), &p), b.clone()))
        }
        BiasMode::Profiled => {
            let model = Model::from_rows(&[vec![w1, w2]], &[0.0, 0.0])?;
            let (b, l) = profile_biases(ev, &model)?;
            Ok((l, b.as_slice().to_vec()))
        }
    }
}

/// Census starts used to find the critical points marked on a (w₁, w₂) surface.
const MARK_RESTARTS: usize = 32;

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::StrictMinimum => "minimum",
        Kind::Saddle => "saddle",
        Kind::Degenerate => "degenerate",
        Kind::Undetermined => "undetermined",
    }
}

/// Critical points of the n = 2, m = 1 problem for a bias mode, with their images under the
/// symmetries that keep the mode, inside the grid's range.
fn pair_marks(obj: &Objective, mode: &BiasMode, grid: &GridSpec) -> Result<Vec<SurfaceMark>> {
    let mut opts = MinimizeOptions::new();
    let symmetric_bias = match mode {
        BiasMode::Fixed(b) => {
            if b.iter().all(|&v| v == 0.0) {
                opts = opts.with_no_bias(true);
            } else {
                for (i, &v) in b.iter().enumerate() {
                    opts = opts.with_fixed(2 + i, v)?;
                }
            }
            b[0] == b[1]
        }
        BiasMode::Profiled => true,
    };
    let copts = CensusOptions::new(2, 1)?.with_search(
        SearchOptions::new()
            .with_restarts(MARK_RESTARTS)?
            .with_seed(0)
            .with_minimize(opts),
    );
    let census = optimize::census(obj, &copts)?;
    let classes = optimize::census::interchangeable_features(obj);
    let swap = symmetric_bias && classes.first() == classes.get(1);
    let mut eval = Evaluator::new(obj.clone())?;
    let mut marks: Vec<SurfaceMark> = Vec::new();
    for p in &census.points {
        let lm = &p.minimum;
        // Only points the search actually converged to.
        if lm.grad_norm > tolerance::CRITICAL_GRAD * lm.loss.abs().max(1.0) {
            continue;
        }
        // On the profiled surface only points whose biases are the exact optimum for their W
        // belong (a census point with a bias in ReLU's dead zone lies above the surface).
        if *mode == BiasMode::Profiled {
            let (_, best) = profile_biases(&mut eval, &lm.model)?;
            if lm.loss > best + tolerance::SAME_LOSS_REL * best.abs().max(1e-12) {
                continue;
            }
        }
        let (w1, w2) = (lm.model.w()[(0, 0)], lm.model.w()[(0, 1)]);
        let mut images = vec![(w1, w2), (-w1, -w2)];
        if swap {
            images.push((w2, w1));
            images.push((-w2, -w1));
        }
        for (x, y) in images {
            let inside = x >= grid.x.0 && x <= grid.x.1 && y >= grid.y.0 && y <= grid.y.1;
            let dup = marks
                .iter()
                .any(|m| (m.x - x).abs() < 1e-9 && (m.y - y).abs() < 1e-9);
            if inside && !dup {
                marks.push(SurfaceMark {
                    x,
                    y,
                    loss: lm.loss,
                    kind: kind_name(lm.spectrum.kind).into(),
                    source: "census".into(),
                    basin_share: None,
                });
            }
        }
    }
    Ok(marks)
}

/// Directions of a model plane.
#[derive(Debug, Clone, PartialEq)]
pub enum Directions {
    /// Two random Gaussian directions, each filter-normalised (Li et al. 2018): the part of
    /// the direction on each feature's column of W (row of W_out) and on b is scaled to the
    /// model's norm there. Seeded.
    Random { seed: u64 },
    /// The two eigenvectors of the exact Hessian with the lowest eigenvalues on the
    /// complement of the symmetry directions, scaled to the model's norm.
    Hessian,
    /// α towards a second model (α = 1 is the other model) and β along a seeded random
    /// filter-normalised direction orthogonal to it, of the same length.
    Towards {
        other: Box<Model>,
        name: String,
        seed: u64,
    },
}

/// Default plane ranges for the directions.
pub fn default_plane_range(d: &Directions) -> ((f64, f64), (f64, f64)) {
    match d {
        Directions::Towards { .. } => ((-0.25, 1.25), (-0.75, 0.75)),
        _ => ((-1.0, 1.0), (-1.0, 1.0)),
    }
}

/// Filter groups of the parameter vector: each feature's column of W, its row of W_out, and b.
fn filter_groups(model: &Model) -> Vec<Vec<usize>> {
    let (m, n) = (model.m(), model.n());
    let mut groups: Vec<Vec<usize>> = (0..n)
        .map(|j| (0..m).map(|h| h + m * j).collect())
        .collect();
    if !model.is_tied() {
        let off = m * n;
        groups.extend((0..n).map(|i| (0..m).map(|h| off + i + n * h).collect()));
    }
    let np = model.num_params();
    groups.push((np - n..np).collect());
    groups
}

fn random_direction(model: &Model, seed: u64, stream: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let p = model.to_vec();
    let mut d: Vec<f64> = (0..p.len())
        .map(|_| rng.sample::<f64, _>(StandardNormal))
        .collect();
    for g in filter_groups(model) {
        let pn = g.iter().map(|&k| p[k] * p[k]).sum::<f64>().sqrt();
        let dn = g.iter().map(|&k| d[k] * d[k]).sum::<f64>().sqrt();
        for &k in &g {
            d[k] = if dn > 0.0 { d[k] * pn / dn } else { 0.0 };
        }
    }
    d
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The plane's two directions for `model`.
pub fn plane_directions(obj: &Objective, model: &Model, d: &Directions) -> Result<[Vec<f64>; 2]> {
    let p = model.to_vec();
    let scale = norm(&p);
    match d {
        Directions::Random { seed } => {
            let d1 = random_direction(model, *seed, 0);
            let d2 = random_direction(model, *seed, 1);
            if norm(&d1) == 0.0 {
                return Err(Error::invalid(
                    "random filter-normalised directions are zero for a model whose parameters are all zero; use --directions hessian",
                ));
            }
            let cos = dot(&d1, &d2) / (norm(&d1) * norm(&d2));
            if cos.is_nan() || cos.abs() >= 1.0 - 1e-9 {
                return Err(Error::invalid(
                    "the model has a single non-zero filter, so two filter-normalised random directions are parallel; use --directions hessian",
                ));
            }
            Ok([d1, d2])
        }
        Directions::Hessian => {
            let (m, n, tied) = (model.m(), model.n(), model.is_tied());
            let tangents = optimize::classify::symmetry_tangents(&p, Shape::new(n, m, tied));
            let np = p.len();
            // Orthonormal basis of the symmetry directions (Gram–Schmidt, rank-revealing).
            let mut sym: Vec<DVector<f64>> = Vec::new();
            for t in tangents {
                let mut u = DVector::from_vec(t);
                for _ in 0..2 {
                    for q in &sym {
                        let c = q.dot(&u);
                        u -= q * c;
                    }
                }
                let nu = u.norm();
                if nu > 1e-9 * scale.max(1.0) {
                    sym.push(u / nu);
                }
            }
            if np < sym.len() + 2 {
                return Err(Error::invalid(format!(
                    "the model has {np} parameters and {} symmetry directions: fewer than two Hessian directions off the symmetry modes",
                    sym.len()
                )));
            }
            let mut proj = DMatrix::<f64>::identity(np, np);
            for q in &sym {
                proj -= q * q.transpose();
            }
            let mut ev = Evaluator::new(obj.clone())?;
            let h = ev.hessian(model)?;
            // Eigenvectors of P H P with eigenvalue-1 projector directions kept: the symmetry
            // directions get a large shift so they never come out lowest.
            let shift = h.amax().max(1.0) * 1e3 + 1.0;
            let mut a = &proj * &h * &proj;
            for q in &sym {
                a += q * q.transpose() * shift;
            }
            let a = (&a + a.transpose()) * 0.5;
            let eig = SymmetricEigen::new(a);
            let mut order: Vec<usize> = (0..np).collect();
            order.sort_by(|&i, &j| eig.eigenvalues[i].total_cmp(&eig.eigenvalues[j]));
            let len = if scale > 0.0 { scale } else { 1.0 };
            let pick = |k: usize| -> Vec<f64> {
                let v = eig.eigenvectors.column(order[k]);
                // Deterministic sign: the largest entry positive.
                let big = v
                    .iter()
                    .copied()
                    .fold(0.0f64, |a, x| if x.abs() > a.abs() { x } else { a });
                let s = if big < 0.0 { -len } else { len };
                v.iter().map(|x| x * s / v.norm()).collect()
            };
            Ok([pick(0), pick(1)])
        }
        Directions::Towards { other, name, seed } => {
            let q = other.to_vec();
            if other.m() != model.m()
                || other.n() != model.n()
                || other.is_tied() != model.is_tied()
            {
                return Err(Error::invalid(format!(
                    "--to {name}: shape (m = {}, n = {}{}) differs from the model's (m = {}, n = {}{})",
                    other.m(),
                    other.n(),
                    if other.is_tied() { "" } else { ", untied" },
                    model.m(),
                    model.n(),
                    if model.is_tied() { "" } else { ", untied" }
                )));
            }
            let d1: Vec<f64> = q.iter().zip(&p).map(|(a, b)| a - b).collect();
            let l1 = norm(&d1);
            if l1 == 0.0 {
                return Err(Error::invalid(format!(
                    "--to {name}: the two models are identical, so there is no direction between them"
                )));
            }
            // A random direction of the same length, orthogonal to d1 (several draws if the
            // first happens to be parallel).
            for stream in 0..8u64 {
                let mut r = random_direction(model, *seed, stream);
                if norm(&r) == 0.0 {
                    let mut rng = ChaCha8Rng::seed_from_u64(*seed);
                    rng.set_stream(100 + stream);
                    r = (0..p.len())
                        .map(|_| rng.sample::<f64, _>(StandardNormal))
                        .collect();
                }
                let c = dot(&r, &d1) / (l1 * l1);
                let d2: Vec<f64> = r.iter().zip(&d1).map(|(a, b)| a - c * b).collect();
                let l2 = norm(&d2);
                if l2 > 1e-9 * norm(&r) {
                    return Ok([d1, d2.iter().map(|x| x * l1 / l2).collect()]);
                }
            }
            Err(Error::invalid(format!(
                "--to {name}: no direction orthogonal to the path (the model has one parameter)"
            )))
        }
    }
}

/// The exact loss on the plane `model + α d₁ + β d₂`, with grid minima refined exactly within
/// the plane and marked (and the named models marked where they lie on the plane).
pub fn plane_surface(
    obj: &Objective,
    model: &Model,
    model_name: &str,
    directions: &Directions,
    grid: &GridSpec,
    progress: &dyn Progress,
) -> Result<Surface> {
    obj.check_model(model)?;
    let base = Evaluator::new(obj.clone())?;
    let [d1, d2] = plane_directions(obj, model, directions)?;
    check_cost(grid, eval_seconds(obj))?;
    let p0 = model.to_vec();
    let (m, n, tied) = (model.m(), model.n(), model.is_tied());
    let (xs, ys) = (grid.xs(), grid.ys());
    let at = |a: f64, b: f64| -> Vec<f64> {
        p0.iter()
            .zip(d1.iter().zip(&d2))
            .map(|(p, (u, v))| p + a * u + b * v)
            .collect()
    };
    progress.start(ys.len() as u64, "rows");
    let loss: Vec<f64> = ys
        .par_iter()
        .map_init(
            || base.clone(),
            |ev, &b| {
                let row: Vec<f64> = xs
                    .iter()
                    .map(|&a| ev.loss_flat(Shape::new(n, m, tied), &at(a, b)))
                    .collect();
                progress.advance(1);
                row
            },
        )
        .flatten()
        .collect();
    progress.finish();
    let mut ev = base.clone();
    let mut marks = grid_minima(&mut ev, model, &p0, &d1, &d2, &xs, &ys, &loss, grid)?;
    let mut named = vec![(0.0, 0.0, model_name.to_string())];
    let (x_label, path) = match directions {
        Directions::Towards { name, .. } => {
            named.push((1.0, 0.0, name.clone()));
            (
                format!("α (towards {name})"),
                Some(vec![(0.0, 0.0), (1.0, 0.0)]),
            )
        }
        Directions::Hessian => ("α (lowest Hessian direction)".to_string(), None),
        Directions::Random { .. } => ("α (random direction 1)".to_string(), None),
    };
    let y_label = match directions {
        Directions::Hessian => "β (second-lowest Hessian direction)",
        Directions::Random { .. } => "β (random direction 2)",
        Directions::Towards { .. } => "β (random orthogonal direction)",
    };
    for (a, b, name) in named {
        if a >= grid.x.0 && a <= grid.x.1 && b >= grid.y.0 && b <= grid.y.1 {
            marks.push(SurfaceMark {
                x: a,
                y: b,
                loss: ev.loss_flat(Shape::new(n, m, tied), &at(a, b)),
                kind: "point".into(),
                source: name,
                basin_share: None,
            });
        }
    }
    let how = match directions {
        Directions::Random { seed } => format!("random filter-normalised directions (seed {seed})"),
        Directions::Hessian => "lowest Hessian directions".into(),
        Directions::Towards { name, .. } => format!("towards {name}"),
    };
    let mut plane_layer = Layer {
        name: "loss on the plane".into(),
        csv_prefix: String::new(),
        loss,
        biases: None,
        marks,
    };
    assign_basins(&xs, &ys, &mut plane_layer);
    Ok(Surface {
        title: format!(
            "{model_name}: n = {n}, m = {m}{} · {} · {how}",
            if tied { "" } else { ", untied" },
            describe(obj)
        ),
        x_name: "alpha".into(),
        y_name: "beta".into(),
        x_label,
        y_label: y_label.into(),
        xs,
        ys,
        layers: vec![plane_layer],
        path,
        origin: Some(p0),
        directions: Some([d1, d2]),
    })
}

/// Basins on the grid: every grid point follows its steepest descent to the lowest of its
/// eight neighbours until no neighbour is lower; each marked minimum receives the share of
/// grid points whose descent ends within two grid cells of it (the nearest such minimum).
/// Descents that end elsewhere (at the edge of the range, or at a grid minimum no exact
/// critical point explains) belong to no mark, so the shares may sum to less than 1.
pub fn assign_basins(xs: &[f64], ys: &[f64], layer: &mut Layer) {
    let (nx, ny) = (xs.len(), ys.len());
    let v = &layer.loss;
    let value = |k: usize| {
        if v[k].is_finite() {
            v[k]
        } else {
            f64::INFINITY
        }
    };
    // Each point's successor: its lowest neighbour if lower than itself.
    let next: Vec<usize> = (0..nx * ny)
        .map(|k| {
            let (ix, iy) = (k % nx, k / nx);
            let mut best = k;
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (jx, jy) = (ix as i64 + dx, iy as i64 + dy);
                    if (dx, dy) == (0, 0) || jx < 0 || jy < 0 || jx >= nx as i64 || jy >= ny as i64
                    {
                        continue;
                    }
                    let j = jy as usize * nx + jx as usize;
                    if value(j) < value(best) {
                        best = j;
                    }
                }
            }
            best
        })
        .collect();
    let (hx, hy) = (
        (xs[nx - 1] - xs[0]) / (nx - 1) as f64,
        (ys[ny - 1] - ys[0]) / (ny - 1) as f64,
    );
    // The mark a sink belongs to: the nearest minimum within two cells.
    let mark_of_sink = |k: usize| -> Option<usize> {
        let (x, y) = (xs[k % nx], ys[k / nx]);
        layer
            .marks
            .iter()
            .enumerate()
            .filter(|(_, m)| m.kind == "minimum")
            .map(|(i, m)| (i, ((m.x - x) / hx).hypot((m.y - y) / hy)))
            .filter(|&(_, d)| d <= 2.0)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    };
    let mut counts = vec![0usize; layer.marks.len()];
    let mut sink_of = vec![usize::MAX; nx * ny];
    for start in 0..nx * ny {
        let mut k = start;
        while next[k] != k && sink_of[k] == usize::MAX {
            k = next[k];
        }
        let sink = if sink_of[k] == usize::MAX {
            k
        } else {
            sink_of[k]
        };
        sink_of[start] = sink;
        if let Some(i) = mark_of_sink(sink) {
            counts[i] += 1;
        }
    }
    let total = (nx * ny) as f64;
    for (m, c) in layer.marks.iter_mut().zip(counts) {
        if m.kind == "minimum" {
            m.basin_share = Some(c as f64 / total);
        }
    }
}

/// Largest number of grid minima refined and marked on a plane.
const MAX_GRID_MINIMA: usize = 12;

/// Interior grid points lower than their eight neighbours, refined by Newton's method within
/// the plane on the exact gradient and Hessian; a point is kept only if the refinement
/// converges inside the range.
#[allow(clippy::too_many_arguments)]
fn grid_minima(
    ev: &mut Evaluator,
    model: &Model,
    p0: &[f64],
    d1: &[f64],
    d2: &[f64],
    xs: &[f64],
    ys: &[f64],
    loss: &[f64],
    grid: &GridSpec,
) -> Result<Vec<SurfaceMark>> {
    let nx = xs.len();
    let mut cands: Vec<(f64, usize, usize)> = Vec::new();
    for iy in 1..ys.len().saturating_sub(1) {
        for ix in 1..nx - 1 {
            let v = loss[iy * nx + ix];
            let lower = (-1i64..=1).all(|dy| {
                (-1i64..=1).all(|dx| {
                    (dx == 0 && dy == 0)
                        || v < loss[(iy as i64 + dy) as usize * nx + (ix as i64 + dx) as usize]
                })
            });
            if lower {
                cands.push((v, ix, iy));
            }
        }
    }
    cands.sort_by(|a, b| a.0.total_cmp(&b.0));
    cands.truncate(MAX_GRID_MINIMA);
    let (m, n, tied) = (model.m(), model.n(), model.is_tied());
    let mut marks: Vec<SurfaceMark> = Vec::new();
    let hx = (grid.x.1 - grid.x.0) / (xs.len() - 1) as f64;
    let hy = (grid.y.1 - grid.y.0) / (ys.len() - 1) as f64;
    for (_, ix, iy) in cands {
        let (mut a, mut b) = (xs[ix], ys[iy]);
        let params = |a: f64, b: f64| -> Vec<f64> {
            p0.iter()
                .zip(d1.iter().zip(d2))
                .map(|(p, (u, v))| p + a * u + b * v)
                .collect()
        };
        let mut grad = vec![0.0; p0.len()];
        let mut ok = false;
        let mut value = ev.loss_grad_flat(Shape::new(n, m, tied), &params(a, b), &mut grad);
        let mut hess2 = [[0.0; 2]; 2];
        for _ in 0..50 {
            let g = [dot(&grad, d1), dot(&grad, d2)];
            let h = ev.hessian_flat(Shape::new(n, m, tied), &params(a, b));
            let hd1 = &h * DVector::from_column_slice(d1);
            let hd2 = &h * DVector::from_column_slice(d2);
            hess2 = [
                [dot(hd1.as_slice(), d1), dot(hd1.as_slice(), d2)],
                [dot(hd2.as_slice(), d1), dot(hd2.as_slice(), d2)],
            ];
            let gn = g[0].hypot(g[1]);
            let scale = norm(d1).max(norm(d2)).max(1.0);
            if gn <= 1e-12 * scale * value.abs().max(1.0) {
                ok = true;
                break;
            }
            let det = hess2[0][0] * hess2[1][1] - hess2[0][1] * hess2[1][0];
            // Newton step when the plane Hessian is positive definite, else steepest descent.
            let (mut sa, mut sb) = if hess2[0][0] > 0.0 && det > 0.0 {
                (
                    -(hess2[1][1] * g[0] - hess2[0][1] * g[1]) / det,
                    -(-hess2[1][0] * g[0] + hess2[0][0] * g[1]) / det,
                )
            } else {
                (-g[0] * hx / gn, -g[1] * hy / gn)
            };
            // Backtracking: accept only steps that do not raise the loss.
            let mut accepted = false;
            for _ in 0..40 {
                let mut g2 = vec![0.0; p0.len()];
                let v2 =
                    ev.loss_grad_flat(Shape::new(n, m, tied), &params(a + sa, b + sb), &mut g2);
                if v2 <= value {
                    a += sa;
                    b += sb;
                    value = v2;
                    grad = g2;
                    accepted = true;
                    break;
                }
                sa *= 0.5;
                sb *= 0.5;
            }
            if !accepted {
                // No decrease at rounding level: converged as far as f64 allows.
                ok = gn <= 1e-8 * scale * value.abs().max(1.0);
                break;
            }
        }
        let inside = a >= grid.x.0 && a <= grid.x.1 && b >= grid.y.0 && b <= grid.y.1;
        let det = hess2[0][0] * hess2[1][1] - hess2[0][1] * hess2[1][0];
        let is_min = hess2[0][0] > 0.0 && det > 0.0;
        let dup = marks.iter().any(|mk| {
            (mk.x - a).abs() < 1e-6 * (1.0 + a.abs()) && (mk.y - b).abs() < 1e-6 * (1.0 + b.abs())
        });
        if ok && inside && is_min && !dup {
            marks.push(SurfaceMark {
                x: a,
                y: b,
                loss: value,
                kind: "minimum".into(),
                source: "grid".into(),
                basin_share: None,
            });
        }
    }
    Ok(marks)
}

/// The CSV text: header first (`w1,w2,loss,b1,b2` for the n = 2, m = 1 surface; then the other
/// layers' columns with their prefix), one row per grid point, x varying fastest. Numbers are
/// in shortest round-trip form, so the file reproduces the values bit for bit.
pub fn to_csv(s: &Surface) -> String {
    let mut header = vec![s.x_name.clone(), s.y_name.clone()];
    for l in &s.layers {
        header.push(format!("{}loss", l.csv_prefix));
        if let Some(b) = &l.biases {
            let nb = b.first().map_or(0, Vec::len);
            header.extend((1..=nb).map(|i| format!("{}b{i}", l.csv_prefix)));
        }
    }
    let mut out = header.join(",");
    out.push('\n');
    let nx = s.xs.len();
    for (iy, y) in s.ys.iter().enumerate() {
        for (ix, x) in s.xs.iter().enumerate() {
            let k = iy * nx + ix;
            let mut row = vec![x.to_string(), y.to_string()];
            for l in &s.layers {
                row.push(l.loss[k].to_string());
                if let Some(b) = &l.biases {
                    row.extend(b[k].iter().map(|v| v.to_string()));
                }
            }
            out.push_str(&row.join(","));
            out.push('\n');
        }
    }
    out
}

/// The figure of a surface: one heat map per layer, contours, marked points with losses.
pub fn figure(s: &Surface, log_color: bool) -> plot::Figure {
    let scale = if log_color {
        plot::ColorScale::Log
    } else {
        plot::ColorScale::Linear
    };
    let panels = s
        .layers
        .iter()
        .map(|l| {
            let marks = l
                .marks
                .iter()
                .map(|mk| plot::Mark {
                    x: mk.x,
                    y: mk.y,
                    label: match mk.kind.as_str() {
                        "point" => format!("{} {}", mk.source, short(mk.loss)),
                        "minimum" => format!("min {}", short(mk.loss)),
                        "degenerate" => format!("flat {}", short(mk.loss)),
                        k => format!("{k} {}", short(mk.loss)),
                    },
                    kind: match mk.kind.as_str() {
                        "minimum" => plot::MarkKind::Minimum,
                        "saddle" | "degenerate" => plot::MarkKind::Saddle,
                        _ => plot::MarkKind::Point,
                    },
                })
                .collect();
            plot::Panel::Heat(plot::HeatMap {
                title: l.name.clone(),
                x: plot::Axis::linear(s.x_label.clone()),
                y: plot::Axis::linear(s.y_label.clone()),
                xs: s.xs.clone(),
                ys: s.ys.clone(),
                values: l.loss.clone(),
                scale,
                color_label: "loss L".into(),
                contours: plot::default_levels(&l.loss, 10, scale),
                marks,
                paths: s
                    .path
                    .iter()
                    .map(|p| plot::Polyline {
                        points: p.clone(),
                        label: String::new(),
                    })
                    .collect(),
            })
        })
        .collect();
    let mut fig = plot::Figure::new(s.title.clone(), panels);
    // Long titles (model planes) need the room of a wider panel.
    if s.layers.len() == 1 {
        fig.panel_size = (760, 620);
    }
    fig
}

/// A loss for a label: 4 significant digits.
fn short(v: f64) -> String {
    format!("{:.3e}", v).replace("e0", "").replace("e-", "e−")
}

/// The JSON sidecar: the setting, the grid and the marked points of every layer.
pub fn to_json(s: &Surface, log_color: bool) -> String {
    let layers: Vec<serde_json::Value> = s
        .layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "name": l.name,
                "csv_prefix": l.csv_prefix,
                "marks": l.marks,
                "min_loss": l.loss.iter().copied().filter(|v| v.is_finite()).fold(f64::INFINITY, f64::min),
            })
        })
        .collect();
    let v = serde_json::json!({
        "title": s.title,
        "x": {"name": s.x_name, "label": s.x_label, "range": [s.xs[0], s.xs[s.xs.len() - 1]]},
        "y": {"name": s.y_name, "label": s.y_label, "range": [s.ys[0], s.ys[s.ys.len() - 1]]},
        "points_per_axis": s.xs.len(),
        "log_color": log_color,
        "layers": layers,
        "path": s.path,
        "origin": s.origin,
        "directions": s.directions,
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&v).expect("JSON of plain numbers")
    )
}

/// Output paths of a surface: `PREFIX.csv`, `PREFIX.json`, `PREFIX.png`, `PREFIX.svg`.
pub fn output_paths(prefix: &Path) -> [std::path::PathBuf; 4] {
    let (png, svg) = plot::output_paths(prefix);
    [
        plot::with_suffix(prefix, "csv"),
        plot::with_suffix(prefix, "json"),
        png,
        svg,
    ]
}

/// Checks, before computing, that every output of `prefix` can be written.
pub fn check_outputs(prefix: &Path) -> Result<()> {
    for p in output_paths(prefix) {
        crate::io::check_output_path(&p)?;
    }
    Ok(())
}

/// Writes the CSV, the JSON sidecar and the picture together (all or none).
pub fn write(s: &Surface, prefix: &Path, log_color: bool) -> Result<()> {
    let fig = figure(s, log_color);
    let r = plot::draw(&fig)?;
    let csv = to_csv(s);
    let json = to_json(s, log_color);
    let [pc, pj, pp, ps] = output_paths(prefix);
    crate::io::write_all_atomic(&[
        (&pc, csv.as_bytes()),
        (&pj, json.as_bytes()),
        (&pp, &r.png),
        (&ps, r.svg.as_bytes()),
    ])
}
