//! The `sgd` method: the paper's protocol with the notebook's trainer (`crate::train`): ten
//! models per cell (AdamW, lr 1e-3, batch 1024, 10 000 steps by default), the one with the
//! highest exact loss discarded, the rest classified like exact optima (with the looser
//! [`super::classify::TRAINED`] thresholds). The cell's phase is the most common phase among
//! the kept models (ties go to the phase of the lowest loss); the spread of their exact losses
//! is recorded.

use rayon::prelude::*;

use super::classify::{classify, TRAINED};
use super::exact::cell_seed;
use super::grid::{Grid, Shard};
use super::Setting;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::progress::{Progress, Silent};
use crate::train::{self, TrainConfig};

/// Options of the training protocol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdOptions {
    /// Models trained per cell (≥ 2; the worst is discarded).
    pub models: usize,
    pub steps: usize,
    pub batch: usize,
    pub seed: u64,
}

impl Default for SgdOptions {
    fn default() -> Self {
        SgdOptions {
            models: 10,
            steps: 10_000,
            batch: 1024,
            seed: 0,
        }
    }
}

/// One cell of the SGD diagram.
#[derive(Debug, Clone)]
pub struct SgdCell {
    pub phase: &'static str,
    /// Share of the kept models with that phase.
    pub agreement: f64,
    /// The kept model with the lowest exact loss.
    pub best: Model,
    /// Exact losses of the kept models: lowest, mean, highest.
    pub min_loss: f64,
    pub mean_loss: f64,
    pub max_loss: f64,
}

/// The training config of a cell.
pub fn config(setting: &Setting, opts: &SgdOptions, ir: usize, is: usize) -> Result<TrainConfig> {
    if opts.models < 2 {
        return Err(Error::invalid(
            "the SGD protocol trains at least 2 models per cell (the worst is discarded)",
        ));
    }
    TrainConfig::new(setting.n, setting.m)?
        .with_instances(opts.models)?
        .with_steps(opts.steps)?
        .with_batch(opts.batch)
        .map(|c| c.with_seed(cell_seed(opts.seed, ir, is)))
}

/// Checks that the setting can be trained (the trainer has no fixed biases).
pub fn check(setting: &Setting) -> Result<()> {
    if setting.no_bias {
        return Err(Error::invalid(
            "the SGD protocol trains biases (the notebook's trainer cannot hold them at 0); drop \
             --no-bias or sgd",
        ));
    }
    Ok(())
}

/// Trains and classifies one cell.
pub fn cell(
    setting: &Setting,
    grid: &Grid,
    ir: usize,
    is: usize,
    opts: &SgdOptions,
) -> Result<SgdCell> {
    check(setting)?;
    let (r, s) = (grid.r.value(ir), grid.density.value(is));
    let obj = setting.objective(r, s)?;
    let cfg = config(setting, opts, ir, is)?;
    let trained = train::train(&obj, &cfg, &Silent)?;
    let engine = setting.engine(r, s)?;
    let mut scored: Vec<(f64, Model)> = trained
        .into_iter()
        .map(|t| Ok((engine.loss(&t.model)?, t.model)))
        .collect::<Result<_>>()?;
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    scored.pop();
    let phases: Vec<&'static str> = scored
        .iter()
        .map(|(_, m)| classify(m, setting.extra(), &TRAINED))
        .collect();
    // Most common phase; on a tie the one met first, i.e. with the lowest loss.
    let mut phase = phases[0];
    let mut most = 0;
    for &p in &phases {
        let c = phases.iter().filter(|&&q| q == p).count();
        if c > most {
            most = c;
            phase = p;
        }
    }
    let k = scored.len() as f64;
    Ok(SgdCell {
        phase,
        agreement: most as f64 / k,
        best: scored[0].1.clone(),
        min_loss: scored[0].0,
        mean_loss: scored.iter().map(|(l, _)| l).sum::<f64>() / k,
        max_loss: scored[scored.len() - 1].0,
    })
}

/// Every cell of the shard's rows, in parallel, reporting cells done.
pub fn sweep(
    setting: &Setting,
    grid: &Grid,
    shard: Shard,
    opts: &SgdOptions,
    progress: &dyn Progress,
) -> Result<Vec<(usize, Vec<SgdCell>)>> {
    check(setting)?;
    let rows = shard.rows(grid.r.count);
    let cells: Vec<(usize, usize)> = rows
        .iter()
        .flat_map(|&ir| (0..grid.density.count).map(move |is| (ir, is)))
        .collect();
    // Refuse before training if the whole run is beyond the trainer's limits.
    let per_cell = config(setting, opts, 0, 0)?;
    train::check(&setting.objective(1.0, 0.5)?, &per_cell)?;
    crate::limits::check_seconds(
        seconds_per_cell(setting, opts) * cells.len() as f64
            / rayon::current_num_threads().max(1) as f64,
        &format!("the SGD protocol on {} cells", cells.len()),
        "a coarser grid, fewer --steps, or --shard K/N",
    )?;
    progress.start(cells.len() as u64, "cells");
    let done = cells
        .par_iter()
        .map(|&(ir, is)| {
            let c = cell(setting, grid, ir, is, opts);
            progress.advance(1);
            c
        })
        .collect::<Result<Vec<_>>>();
    progress.finish();
    let done = done?;
    let ns = grid.density.count;
    Ok(rows
        .iter()
        .enumerate()
        .map(|(k, &ir)| (ir, done[k * ns..(k + 1) * ns].to_vec()))
        .collect())
}

/// Rough seconds of one cell on one core.
///
/// # Formula
/// `models · steps · batch · (6e-8 + 2.5e-9 · n · m)` seconds: sampling dominates at these
/// sizes. Measured on the 2-core development machine: 0.86 s per 10 000 × 1024 run at
/// n = 5, m = 2, and 7 s per n = 2, m = 1 cell (ten such runs).
pub fn seconds_per_cell(setting: &Setting, opts: &SgdOptions) -> f64 {
    (opts.models * opts.steps * opts.batch) as f64
        * (6e-8 + 2.5e-9 * (setting.n * setting.m) as f64)
}
