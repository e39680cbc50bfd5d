//! Phase boundaries along the density axis at fixed r, by root finding on the difference of
//! two phases' optimal losses (`crate::optimize::root`, argmin's Brent).
//!
//! Each phase's loss as a function of the density comes from a [`PhaseLoss`]: a fixed
//! configuration's loss ([`ConfigLoss`], the `theory` method), or the exact optimum *within
//! the phase*, followed by continuation ([`Followed`]: each evaluation minimises from the last
//! point that was still in the phase, and reports the phase as absent when the minimisation
//! leaves it). Where both phases exist on both sides, the boundary is the root of
//! `L_A − L_B` (a first-order transition: a crossing of loss curves); where one phase stops
//! existing between two densities, the boundary is where it disappears (a continuous
//! transition), located by bisection on its existence. Both to
//! [`crate::tolerance::PHASE_BOUNDARY_DENSITY`] in density.

use super::classify::{classify, EXACT};
use super::theory::Candidate;
use super::Setting;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::optimize::root::brent;
use crate::tolerance::PHASE_CONTINUOUS_REL;

/// A phase's loss as a function of the density (at one r).
pub trait PhaseLoss {
    /// The phase's loss at density `s`, or `None` when the phase does not exist there.
    fn loss(&mut self, s: f64) -> Result<Option<f64>>;
}

/// A fixed configuration's loss (always exists).
pub struct ConfigLoss<'a> {
    pub setting: &'a Setting,
    pub candidate: &'a Candidate,
    pub r: f64,
}

impl PhaseLoss for ConfigLoss<'_> {
    fn loss(&mut self, s: f64) -> Result<Option<f64>> {
        let model = self.candidate.model(s, self.setting.no_bias)?;
        Ok(Some(self.setting.engine(self.r, s)?.loss(&model)?))
    }
}

/// The exact optimum within one phase, followed by continuation from the last point in it.
pub struct Followed<'a> {
    pub setting: &'a Setting,
    pub r: f64,
    pub phase: &'static str,
    /// The last model found in the phase.
    pub last: Model,
    /// Where to restart when the last point no longer leads into the phase (a fixed
    /// configuration of the phase), as a function of the density.
    pub seed: Option<&'a Candidate>,
}

impl Followed<'_> {
    fn try_from(&mut self, s: f64, start: &Model) -> Result<Option<f64>> {
        let o = self
            .setting
            .engine(self.r, s)?
            .minimize(start, &self.setting.minimize_options());
        match o {
            Ok(o) if classify(&o.model, self.setting.extra(), &EXACT) == self.phase => {
                self.last = o.model;
                Ok(Some(o.loss))
            }
            _ => Ok(None),
        }
    }
}

impl PhaseLoss for Followed<'_> {
    fn loss(&mut self, s: f64) -> Result<Option<f64>> {
        let last = self.last.clone();
        if let Some(l) = self.try_from(s, &last)? {
            return Ok(Some(l));
        }
        if let Some(c) = self.seed {
            let start = c.model(s, self.setting.no_bias)?;
            return self.try_from(s, &start);
        }
        Ok(None)
    }
}

/// How a boundary point was located.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The two phases' losses cross (root of `L_A − L_B`).
    FirstOrder,
    /// One phase stops existing (bisection on its existence).
    Continuous,
}

impl Transition {
    pub fn name(self) -> &'static str {
        match self {
            Transition::FirstOrder => "first-order",
            Transition::Continuous => "continuous",
        }
    }
}

/// The boundary between `a` and `b` in `[s0, s1]`, or `None` when the lower of the two is the
/// same phase at both ends.
///
/// When both phases exist at both ends, the boundary is the root of `L_A − L_B` (Brent). When
/// one exists only on part of the interval, its edge is found by bisection on its existence;
/// on the overlap of the two phases' ranges a sign change of `L_A − L_B` is again a root,
/// and otherwise the boundary is the edge where the phase that is lower on the overlap stops
/// existing (it turns continuously into the other; a continuous transition).
pub fn locate(
    a: &mut dyn PhaseLoss,
    b: &mut dyn PhaseLoss,
    s0: f64,
    s1: f64,
    tol: f64,
) -> Result<Option<(f64, Transition)>> {
    let (a0, b0, a1, b1) = (a.loss(s0)?, b.loss(s0)?, a.loss(s1)?, b.loss(s1)?);
    // Which is lower at an end: Some(true) for A, Some(false) for B, None if neither exists.
    let winner = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => Some(x <= y),
        (Some(_), None) => Some(true),
        (None, Some(_)) => Some(false),
        (None, None) => None,
    };
    let (w0, w1) = (winner(a0, b0), winner(a1, b1));
    if w0.is_none() || w1.is_none() || w0 == w1 {
        return Ok(None);
    }
    let cell = std::cell::RefCell::new((a, b));
    let diff = |s: f64| -> Result<f64> {
        let mut g = cell.borrow_mut();
        let la = g.0.loss(s)?;
        let lb = g.1.loss(s)?;
        match (la, lb) {
            (Some(x), Some(y)) => Ok(x - y),
            _ => Err(Error::Numerical(format!(
                "a phase stopped existing at density {s} during root finding"
            ))),
        }
    };
    if let (Some(_), Some(_), Some(_), Some(_)) = (a0, b0, a1, b1) {
        return Ok(brent(&diff, s0, s1, tol)
            .ok()
            .map(|s| (s, Transition::FirstOrder)));
    }
    // The range of each phase in [s0, s1]: an edge found by bisection where it exists at one
    // end only. Returns (lo, hi) of the range, or None if it exists at neither end.
    // The range of each phase in [s0, s1] as (lo, hi, the last point found in the phase with
    // its loss): an edge found by bisection where it exists at one end only.
    type Range = (f64, f64, Option<(f64, f64)>);
    let range = |first: bool, e0: Option<f64>, e1: Option<f64>| -> Result<Option<Range>> {
        match (e0, e1) {
            (Some(_), Some(_)) => Ok(Some((s0, s1, None))),
            (None, None) => Ok(None),
            (at_lo, at_hi) => {
                let present_lo = at_lo.is_some();
                let mut last = if present_lo {
                    at_lo.map(|l| (s0, l))
                } else {
                    at_hi.map(|l| (s1, l))
                };
                let (mut lo, mut hi) = (s0, s1);
                while hi - lo > tol {
                    let mid = 0.5 * (lo + hi);
                    if mid <= lo || mid >= hi {
                        break;
                    }
                    let mut g = cell.borrow_mut();
                    let l = if first {
                        g.0.loss(mid)?
                    } else {
                        g.1.loss(mid)?
                    };
                    if let Some(l) = l {
                        last = Some((mid, l));
                    }
                    if l.is_some() == present_lo {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                Ok(Some(if present_lo {
                    (s0, lo, last)
                } else {
                    (hi, s1, last)
                }))
            }
        }
    };
    let ra = range(true, a0, a1)?;
    let rb = range(false, b0, b1)?;
    let (Some(ra), Some(rb)) = (ra, rb) else {
        return Ok(None);
    };
    let (lo, hi) = (ra.0.max(rb.0), ra.1.min(rb.1));
    if hi < lo - tol {
        // Neither phase exists in between: a third phase lies there.
        return Ok(None);
    }
    if hi - lo <= tol {
        // The ranges touch: one phase turns into the other.
        return Ok(Some((0.5 * (lo + hi), Transition::Continuous)));
    }
    // At the very edge of its range a phase is marginal (a shallow minimum about to vanish)
    // and the minimisation may miss it: use whichever of the ends and the middle evaluate.
    let probes: Vec<(f64, f64)> = [lo, 0.5 * (lo + hi), hi]
        .into_iter()
        .filter_map(|s| diff(s).ok().map(|d| (s, d)))
        .collect();
    let Some(&(_, dfirst)) = probes.first() else {
        return Ok(None);
    };
    if let Some(w) = probes
        .windows(2)
        .find(|w| w[0].1.signum() != w[1].1.signum())
    {
        return Ok(brent(&diff, w[0].0, w[1].0, tol)
            .ok()
            .map(|s| (s, Transition::FirstOrder)));
    }
    // One phase is lower on the whole overlap: the boundary is where that phase ends — if it
    // turns into the other there (equal losses at its last point); otherwise it turns into a
    // third phase and this is no boundary between the two.
    let a_lower = dfirst < 0.0;
    let (edge, vanishing) = if a_lower { (ra, true) } else { (rb, false) };
    let Some((se, le)) = edge.2 else {
        return Ok(None);
    };
    let other = {
        let mut g = cell.borrow_mut();
        if vanishing {
            g.1.loss(se)?
        } else {
            g.0.loss(se)?
        }
    };
    match other {
        Some(lo_) if (le - lo_).abs() <= PHASE_CONTINUOUS_REL * lo_.abs().max(le.abs()) => {
            Ok(Some((se, Transition::Continuous)))
        }
        _ => Ok(None),
    }
}

/// Densities where `L_A − L_B` changes sign (or a phase appears or disappears) on a scan of
/// increasing densities, then each located to `tol`: the boundary curve at one r.
pub fn scan(
    a: &mut dyn PhaseLoss,
    b: &mut dyn PhaseLoss,
    densities: &[f64],
    tol: f64,
) -> Result<Vec<(f64, Transition)>> {
    let mut out = Vec::new();
    let mut prev: Option<(f64, Option<f64>, Option<f64>)> = None;
    for &s in densities {
        let (la, lb) = (a.loss(s)?, b.loss(s)?);
        if let Some((sp, pa, pb)) = prev {
            let sign = |x: Option<f64>, y: Option<f64>| match (x, y) {
                (Some(x), Some(y)) => Some((x - y).signum()),
                _ => None,
            };
            let crossed = match (sign(pa, pb), sign(la, lb)) {
                (Some(u), Some(v)) => u != v,
                (None, None) => false,
                _ => true,
            };
            if crossed {
                if let Some(p) = locate(a, b, sp, s, tol)? {
                    out.push(p);
                }
                // The followers moved during location: re-evaluate at s for the next step.
                let (la, lb) = (a.loss(s)?, b.loss(s)?);
                prev = Some((s, la, lb));
                continue;
            }
        }
        prev = Some((s, la, lb));
    }
    Ok(out)
}

/// One point of a boundary curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    pub r: f64,
    pub density: f64,
    pub transition: Transition,
}

/// The boundary between the phases of configurations `a` and `b` at each r of `rs`: located
/// on a scan of `densities` (increasing), with `theory` (the configurations' own losses, to
/// [`crate::tolerance::PHASE_THEORY_DENSITY`]) or `exact` (each phase's exact optimum followed
/// from its configuration, to [`crate::tolerance::PHASE_BOUNDARY_DENSITY`]). Rows of r run in
/// parallel; the result does not depend on the number of threads.
pub fn curve(
    setting: &Setting,
    method: super::PhaseMethod,
    a: &Candidate,
    b: &Candidate,
    rs: &[f64],
    densities: &[f64],
    progress: &dyn crate::progress::Progress,
) -> Result<Vec<CurvePoint>> {
    use rayon::prelude::*;
    let phase_of = |c: &Candidate| -> Result<&'static str> {
        super::classify::ALL
            .iter()
            .copied()
            .find(|&p| p == c.name)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "'{}' is not a phase the exact classification names ({})",
                    c.name,
                    super::classify::ALL.join(", ")
                ))
            })
    };
    if method == super::PhaseMethod::Sgd {
        return Err(Error::invalid(
            "boundaries are located with --method theory or exact (SGD losses are noisy)",
        ));
    }
    let phases = if method == super::PhaseMethod::Exact {
        Some((phase_of(a)?, phase_of(b)?))
    } else {
        None
    };
    progress.start(rs.len() as u64, "values of r");
    let rows = rs
        .par_iter()
        .map(|&r| -> Result<Vec<CurvePoint>> {
            let found = match phases {
                None => {
                    let mut la = ConfigLoss {
                        setting,
                        candidate: a,
                        r,
                    };
                    let mut lb = ConfigLoss {
                        setting,
                        candidate: b,
                        r,
                    };
                    scan(
                        &mut la,
                        &mut lb,
                        densities,
                        crate::tolerance::PHASE_THEORY_DENSITY,
                    )?
                }
                Some((pa, pb)) => {
                    let s0 = densities[0];
                    let mut la = Followed {
                        setting,
                        r,
                        phase: pa,
                        last: a.model(s0, setting.no_bias)?,
                        seed: Some(a),
                    };
                    let mut lb = Followed {
                        setting,
                        r,
                        phase: pb,
                        last: b.model(s0, setting.no_bias)?,
                        seed: Some(b),
                    };
                    scan(
                        &mut la,
                        &mut lb,
                        densities,
                        crate::tolerance::PHASE_BOUNDARY_DENSITY,
                    )?
                }
            };
            progress.advance(1);
            Ok(found
                .into_iter()
                .map(|(density, transition)| CurvePoint {
                    r,
                    density,
                    transition,
                })
                .collect())
        })
        .collect::<Result<Vec<_>>>();
    progress.finish();
    Ok(rows?.into_iter().flatten().collect())
}

/// The curve as CSV: `r,density,transition` (numbers in [`super::csv::num`] form).
pub fn curve_csv(points: &[CurvePoint]) -> String {
    let mut s = String::from("r,density,transition\n");
    for p in points {
        s.push_str(&format!(
            "{},{},{}\n",
            super::csv::num(p.r),
            super::csv::num(p.density),
            p.transition.name()
        ));
    }
    s
}
