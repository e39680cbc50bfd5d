//! The `exact` method: the global exact minimum at each cell, by multi-start search plus
//! continuation, classified by its geometry.
//!
//! Each row of the grid (one value of r) is computed on its own, which makes the result the
//! same for any number of threads and any sharding of the rows:
//!
//! 1. every cell runs `restarts` seeded starts ([`crate::optimize::census::start_model`],
//!    seeded by the cell's position; one by default, so a row of 200 cells tries 200 different
//!    starts, half at the notebook's scale and half wider) and keeps the lowest loss;
//! 2. continuation along the density axis: a sweep up the row restarts each cell from its
//!    lower neighbour's optimum, a sweep down from its upper neighbour's, and a start that
//!    lowers the loss (by more than [`crate::tolerance::PHASE_IMPROVE_REL`]) replaces the
//!    cell's optimum; sweeps repeat until nothing improves (at most `max_passes` pairs). A
//!    phase found anywhere on the row is thus followed as far as it stays the lowest.

use rayon::prelude::*;

use super::classify::{classify, EXACT};
use super::grid::{Grid, Shard};
use super::{Engine, Optimum, Setting};
use crate::error::{Error, Result};
use crate::optimize::census::start_model;
use crate::optimize::MinimizeOptions;
use crate::progress::Progress;
use crate::tolerance::{PHASE_IMPROVE_REL, PHASE_START_LBFGS_GRAD};

/// Restarts of a cell's optimum from itself while it is not critical.
const REFINE_ROUNDS: usize = 4;

/// Options of the exact sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExactOptions {
    /// Seeded starts per cell (≥ 1).
    pub restarts: usize,
    /// Seed of every start.
    pub seed: u64,
    /// Most up-and-down continuation sweep pairs per row.
    pub max_passes: usize,
}

impl Default for ExactOptions {
    fn default() -> Self {
        ExactOptions {
            restarts: 1,
            seed: 0,
            max_passes: 10,
        }
    }
}

/// One cell's optimum and phase.
#[derive(Debug, Clone)]
pub struct ExactCell {
    pub optimum: Optimum,
    pub phase: &'static str,
}

/// The seed of the starts of cell (ir, is): splitmix64 of the seed and the position, so
/// neighbouring cells get unrelated streams.
pub fn cell_seed(seed: u64, ir: usize, is: usize) -> u64 {
    let mut z = seed ^ ((ir as u64) << 32 | is as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether `a` should replace `b`: a lower loss beyond rounding, or — at equal losses within
/// rounding — a minimum replacing a point that is not one (a saddle next to a shallow minimum,
/// as near continuous transitions).
fn better(a: &Optimum, b: &Optimum) -> bool {
    let margin = PHASE_IMPROVE_REL * b.loss.abs();
    let is_min = |o: &Optimum| matches!(o.kind, "strict_minimum" | "degenerate");
    a.loss < b.loss - margin || (a.loss <= b.loss + margin && is_min(a) && !is_min(b))
}

/// The lowest of several minimisations (errors of single starts are skipped; the first error
/// is returned when every start fails).
fn lowest(results: impl Iterator<Item = Result<Optimum>>) -> Result<Optimum> {
    let mut best: Option<Optimum> = None;
    let mut first_err = None;
    for r in results {
        match r {
            Ok(o) => {
                if best.as_ref().is_none_or(|b| better(&o, b)) {
                    best = Some(o);
                }
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    best.ok_or_else(|| first_err.unwrap_or_else(|| Error::Numerical("no start".into())))
}

/// Multi-start minimisation of one cell.
pub fn multistart(
    setting: &Setting,
    engine: &Engine,
    opts: &ExactOptions,
    mopts: &MinimizeOptions,
    ir: usize,
    is: usize,
) -> Result<Optimum> {
    let seed = cell_seed(opts.seed, ir, is);
    // Random starts stop L-BFGS early: the Newton polish takes them to rounding level anyway.
    let start_opts = mopts.clone().with_grad_tol(PHASE_START_LBFGS_GRAD)?;
    // Alternate the first start's kind (even k: the notebook's xavier scale, odd k: wider, with
    // biases) between neighbouring cells, so one start per cell still tries both along a row.
    let offset = (ir + is) % 2;
    lowest((0..opts.restarts).map(|k| {
        let start = start_model(setting.shape(), seed, k + offset)?;
        engine.minimize(&start, &start_opts)
    }))
}

/// Continuation sweeps over one row of optima (in place); returns the sweep pairs run.
///
/// A cell is restarted from a neighbour only when that neighbour's optimum changed since the
/// cell last started from it, so later passes touch only the cells near a change.
pub fn continue_row(
    engines: &[Engine],
    best: &mut [Optimum],
    mopts: &MinimizeOptions,
    max_passes: usize,
) -> usize {
    let ns = best.len();
    // version[j] counts the changes of best[j]; from_below[j] / from_above[j] hold the
    // neighbour's version the cell last started from.
    let mut version = vec![0usize; ns];
    let mut from_below: Vec<Option<usize>> = vec![None; ns];
    let mut from_above: Vec<Option<usize>> = vec![None; ns];
    let mut passes = 0;
    while passes < max_passes {
        passes += 1;
        let mut changed = false;
        let mut attempt = |j: usize, k: usize, best: &mut [Optimum], version: &mut [usize]| {
            let from = best[k].model.clone();
            if let Ok(o) = engines[j].minimize(&from, mopts) {
                if better(&o, &best[j]) {
                    best[j] = o;
                    version[j] += 1;
                    changed = true;
                }
            }
        };
        for j in 1..ns {
            if from_below[j] != Some(version[j - 1]) {
                from_below[j] = Some(version[j - 1]);
                attempt(j, j - 1, best, &mut version);
            }
        }
        for j in (0..ns.saturating_sub(1)).rev() {
            if from_above[j] != Some(version[j + 1]) {
                from_above[j] = Some(version[j + 1]);
                attempt(j, j + 1, best, &mut version);
            }
        }
        if !changed {
            break;
        }
    }
    passes
}

/// One row (r = the grid's `ir`-th value): every density's exact optimum and phase.
pub fn row(
    setting: &Setting,
    grid: &Grid,
    ir: usize,
    opts: &ExactOptions,
) -> Result<Vec<ExactCell>> {
    let r = grid.r.value(ir);
    let mopts = setting.minimize_options();
    let engines: Vec<Engine> = (0..grid.density.count)
        .map(|is| setting.engine(r, grid.density.value(is)))
        .collect::<Result<_>>()?;
    let mut best: Vec<Optimum> = engines
        .iter()
        .enumerate()
        .map(|(is, e)| multistart(setting, e, opts, &mopts, ir, is))
        .collect::<Result<_>>()?;
    continue_row(&engines, &mut best, &mopts, opts.max_passes);
    // A point the polish left short of critical (slow progress along a nearly flat valley)
    // is restarted from itself a few times.
    for (j, o) in best.iter_mut().enumerate() {
        for _ in 0..REFINE_ROUNDS {
            if o.kind != "not_critical" {
                break;
            }
            match engines[j].minimize(&o.model, &mopts) {
                Ok(p) if p.loss <= o.loss => *o = p,
                _ => break,
            }
        }
    }
    Ok(best
        .into_iter()
        .map(|o| ExactCell {
            phase: classify(&o.model, setting.extra(), &EXACT),
            optimum: o,
        })
        .collect())
}

/// The rows of `shard`, in parallel (one row per task), reporting cells done.
pub fn sweep(
    setting: &Setting,
    grid: &Grid,
    shard: Shard,
    opts: &ExactOptions,
    progress: &dyn Progress,
) -> Result<Vec<(usize, Vec<ExactCell>)>> {
    if opts.restarts == 0 {
        return Err(Error::invalid("--restarts must be at least 1"));
    }
    let rows = shard.rows(grid.r.count);
    progress.start((rows.len() * grid.density.count) as u64, "cells");
    let out = rows
        .par_iter()
        .map(|&ir| {
            let cells = row(setting, grid, ir, opts)?;
            progress.advance(cells.len() as u64);
            Ok((ir, cells))
        })
        .collect::<Result<Vec<_>>>();
    progress.finish();
    out
}
