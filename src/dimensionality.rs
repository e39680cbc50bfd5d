//! Dimensionality against density (a study): the exact optimum at each density of a sweep,
//! its dimensions per feature D* and every feature's dimensionality D_i, plotted against
//! 1/(1−S) = 1/p with the "sticky" fractions of the paper's geometry figure.
//!
//! At each density the optimum is the lowest of the exact census (multi-start L-BFGS + Newton)
//! and of exact local minimisation started from the previous density's optimum (continuation,
//! so a configuration is followed across the sweep rather than only rediscovered).

use crate::data::PerFeature;
use crate::error::{Error, Result};
use crate::geometry::{geometry, Geometry};
use crate::model::Model;
use crate::objective::Objective;
use crate::optimize::{
    census_seconds, census_with, minimize_local_with, CensusOptions, LocalMinimum,
};
use crate::plot::{self, Axis, Figure, LinePlot, Panel, RefLine, Series};
use crate::progress::Progress;
use crate::route::HvpRoute;

/// The dimensionalities at which the paper's optima "stick": 1, 3/4, 2/3, 1/2, 2/5, 3/8
/// (dedicated, tetrahedron, triangle, antipodal pair, pentagon, square antiprism).
pub const STICKY: [(f64, &str); 6] = [
    (1.0, "1"),
    (0.75, "3/4"),
    (2.0 / 3.0, "2/3"),
    (0.5, "1/2"),
    (0.4, "2/5"),
    (0.375, "3/8"),
];

/// Most densities in one sweep.
pub const MAX_POINTS: usize = 400;

/// `count` densities spaced evenly in log from `hi` down to `lo` (both included), so that
/// 1/(1−S) increases along the sweep.
pub fn densities(lo: f64, hi: f64, count: usize) -> Result<Vec<f64>> {
    if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi <= 1.0 && lo < hi) {
        return Err(Error::invalid(format!(
            "density range {lo}:{hi}: need 0 < lo < hi ≤ 1"
        )));
    }
    if !(2..=MAX_POINTS).contains(&count) {
        return Err(Error::invalid(format!(
            "--points {count}: a sweep needs 2 to {MAX_POINTS} densities"
        )));
    }
    let (a, b) = (hi.ln(), lo.ln());
    Ok((0..count)
        .map(|k| {
            if k == 0 {
                hi
            } else if k + 1 == count {
                lo
            } else {
                (a + (b - a) * k as f64 / (count - 1) as f64).exp()
            }
        })
        .collect())
}

/// The optimum at one density.
#[derive(Debug, Clone)]
pub struct SweepPoint {
    pub density: f64,
    pub optimum: LocalMinimum,
    pub geometry: Geometry,
    /// Where the optimum came from: "census" or "continuation".
    pub source: &'static str,
}

/// A computed sweep.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The setting (n, m, importances, activation) without the density.
    pub title: String,
    pub points: Vec<SweepPoint>,
}

/// Estimated seconds of a sweep (the census at each density dominates).
pub fn sweep_seconds(base: &Objective, opts: &CensusOptions, count: usize) -> f64 {
    census_seconds(base, opts) * count as f64
}

/// The exact optimum at each density (`base` gives everything but the density).
pub fn sweep(
    base: &Objective,
    opts: &CensusOptions,
    densities: &[f64],
    title: String,
    progress: &dyn Progress,
) -> Result<Sweep> {
    let mut points: Vec<SweepPoint> = Vec::with_capacity(densities.len());
    progress.start(densities.len() as u64, "densities");
    let result = (|| {
        for &p in densities {
            let data = base.data().clone().with_density(&PerFeature::Constant(p))?;
            let obj = base.clone().with_data(data);
            // The closed form where it accepts, else the one-dimensional route (n > 14).
            let route = HvpRoute::select(&obj, opts.shape())?;
            let census = census_with(&route, opts, &crate::progress::Silent)?;
            let mut best = census.best().minimum.clone();
            let mut source = "census";
            if let Some(prev) = points.last() {
                let local = minimize_local_with(
                    route.clone(),
                    &prev.optimum.model,
                    opts.search().minimize(),
                )?;
                if local.is_critical() && local.loss < best.loss {
                    best = local;
                    source = "continuation";
                }
            }
            points.push(SweepPoint {
                density: p,
                geometry: geometry(&best.model),
                optimum: best,
                source,
            });
            progress.advance(1);
        }
        Ok(())
    })();
    progress.finish();
    result.map(|()| Sweep { title, points })
}

/// The sweep as CSV: `density,inv_one_minus_S,loss,grad_norm,kind,source,D_star,D_0,…`, one
/// row per density.
pub fn to_csv(s: &Sweep) -> String {
    let n = s
        .points
        .first()
        .map_or(0, |p| p.geometry.dimensionality.len());
    let mut t = String::from("density,inv_one_minus_S,loss,grad_norm,kind,source,D_star");
    for i in 0..n {
        t.push_str(&format!(",D_{i}"));
    }
    t.push('\n');
    for p in &s.points {
        t.push_str(&format!(
            "{},{},{},{},{},{},{}",
            p.density,
            1.0 / p.density,
            p.optimum.loss,
            p.optimum.grad_norm,
            p.optimum.kind_name(),
            p.source,
            p.geometry.dimensions_per_feature
        ));
        for d in &p.geometry.dimensionality {
            t.push_str(&format!(",{d}"));
        }
        t.push('\n');
    }
    t
}

/// D* as a line and every represented feature's D_i as dots against 1/(1−S) (log axis), with
/// the sticky fractions as dashed reference lines.
pub fn figure(s: &Sweep) -> Figure {
    let dstar = Series {
        label: "D* = m / ‖W‖² (Frobenius)".into(),
        points: s
            .points
            .iter()
            .map(|p| (1.0 / p.density, p.geometry.dimensions_per_feature))
            .collect(),
    };
    let dots = Series {
        label: "Dᵢ (each represented feature)".into(),
        points: s
            .points
            .iter()
            .flat_map(|p| {
                p.geometry
                    .dimensionality
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !p.geometry.dropped.contains(i))
                    .map(move |(_, &d)| (1.0 / p.density, d))
            })
            .collect(),
    };
    let panel = LinePlot {
        title: "dimensionality of the exact optimum".into(),
        x: Axis::log("1/(1−S) = 1/density"),
        y: Axis::linear("dimensions per feature"),
        series: vec![dstar],
        scatter: vec![dots],
        hlines: STICKY
            .iter()
            .map(|&(y, l)| RefLine { y, label: l.into() })
            .collect(),
    };
    let mut fig = Figure::new(s.title.clone(), vec![Panel::Lines(panel)]);
    fig.panel_size = (860, 600);
    fig
}

/// Writes `PREFIX.csv`, `PREFIX.png` and `PREFIX.svg` (all or none).
pub fn write(s: &Sweep, prefix: &std::path::Path) -> Result<()> {
    let csv_path = plot::with_suffix(prefix, "csv");
    crate::io::check_output_path(&csv_path)?;
    let (png, svg) = plot::output_paths(prefix);
    crate::io::check_output_path(&png)?;
    crate::io::check_output_path(&svg)?;
    let r = plot::draw(&figure(s))?;
    let csv = to_csv(s);
    crate::io::write_all_atomic(&[
        (&csv_path, csv.as_bytes()),
        (&png, &r.png[..]),
        (&svg, r.svg.as_bytes()),
    ])
}

/// The model of one point (for callers that want to draw or save it).
pub fn model_at(s: &Sweep, k: usize) -> Option<&Model> {
    s.points.get(k).map(|p| &p.optimum.model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn densities_are_log_spaced_and_include_the_ends() {
        let d = densities(0.01, 1.0, 3).unwrap();
        assert_eq!(d[0], 1.0);
        assert_eq!(d[2], 0.01);
        assert!((d[1] - 0.1).abs() < 1e-15);
        assert!(densities(0.5, 0.5, 3).is_err());
        assert!(densities(0.0, 1.0, 3).is_err());
        assert!(densities(0.1, 1.5, 3).is_err());
        assert!(densities(0.1, 1.0, 1).is_err());
        assert!(densities(0.1, 1.0, MAX_POINTS + 1).is_err());
    }
}
