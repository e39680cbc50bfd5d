//! Pictures of phase diagrams (described as data for `crate::plot`): phases coloured, the
//! located boundaries drawn, a legend, and side-by-side panels with the cells where a panel
//! disagrees with the reference (the exact optimum) dotted.

use rayon::prelude::*;

use super::boundary::{locate, ConfigLoss, Followed, Transition};
use super::classify;
use super::csv::Table;
use super::theory::Candidate;
use super::PhaseMethod;
use crate::error::Result;
use crate::plot::{Axis, CategoryMap, Figure, Mark, MarkKind, Panel, Polyline};
use crate::tolerance::{PHASE_BOUNDARY_DENSITY, PHASE_THEORY_DENSITY};

/// One located boundary point of a diagram.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundaryPoint {
    /// Row of the grid (value of r).
    pub ir: usize,
    pub r: f64,
    pub density: f64,
    /// The phases below and above in density.
    pub below: String,
    pub above: String,
    pub transition: Transition,
}

/// The boundaries of a complete table: in each row, between each pair of neighbouring cells
/// with different phases, located by [`locate`] (`theory`: the two configurations' losses;
/// `exact`: both optima followed from their cells). `sgd` diagrams get none (their phases are
/// noisy). `candidates` are the theory configurations.
pub fn boundaries(table: &Table, candidates: &[Candidate]) -> Result<Vec<BoundaryPoint>> {
    let meta = &table.meta;
    if meta.method == PhaseMethod::Sgd {
        return Ok(Vec::new());
    }
    let g = meta.grid;
    let setting = meta.setting;
    let rows: Vec<usize> = (0..g.r.count)
        .filter(|&ir| (0..g.density.count).all(|is| table.get(ir, is).is_some()))
        .collect();
    let per_row = rows
        .par_iter()
        .map(|&ir| -> Result<Vec<BoundaryPoint>> {
            let r = g.r.value(ir);
            let mut out = Vec::new();
            for is in 0..g.density.count.saturating_sub(1) {
                let (lo, hi) = (table.get(ir, is), table.get(ir, is + 1));
                let (Some(lo), Some(hi)) = (lo, hi) else {
                    continue;
                };
                if lo.phase == hi.phase {
                    continue;
                }
                let (s0, s1) = (g.density.value(is), g.density.value(is + 1));
                let found = match meta.method {
                    PhaseMethod::Theory => {
                        let find = |n: &str| candidates.iter().find(|c| c.name == n);
                        let (Some(ca), Some(cb)) = (find(&lo.phase), find(&hi.phase)) else {
                            continue;
                        };
                        let mut a = ConfigLoss {
                            setting: &setting,
                            candidate: ca,
                            r,
                        };
                        let mut b = ConfigLoss {
                            setting: &setting,
                            candidate: cb,
                            r,
                        };
                        locate(&mut a, &mut b, s0, s1, PHASE_THEORY_DENSITY)?
                    }
                    _ => {
                        let known = |n: &str| classify::ALL.iter().copied().find(|&p| p == n);
                        let (Some(pa), Some(pb)) = (known(&lo.phase), known(&hi.phase)) else {
                            continue;
                        };
                        let mut a = Followed {
                            setting: &setting,
                            r,
                            phase: pa,
                            last: lo.model.clone(),
                            seed: None,
                        };
                        let mut b = Followed {
                            setting: &setting,
                            r,
                            phase: pb,
                            last: hi.model.clone(),
                            seed: None,
                        };
                        locate(&mut a, &mut b, s0, s1, PHASE_BOUNDARY_DENSITY)?
                    }
                };
                if let Some((density, transition)) = found {
                    out.push(BoundaryPoint {
                        ir,
                        r,
                        density,
                        below: lo.phase.clone(),
                        above: hi.phase.clone(),
                        transition,
                    });
                }
            }
            Ok(out)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(per_row.into_iter().flatten().collect())
}

/// Boundary points joined into polylines: a point continues the line of the same pair of
/// phases that ended on the previous row at the nearest density.
pub fn polylines(points: &[BoundaryPoint]) -> Vec<Polyline> {
    // (phase, phase, last row, points) of each line still open.
    type Open = (String, String, usize, Vec<(f64, f64)>);
    let mut open: Vec<Open> = Vec::new();
    let mut done: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut sorted: Vec<&BoundaryPoint> = points.iter().collect();
    sorted.sort_by(|a, b| a.ir.cmp(&b.ir).then(a.density.total_cmp(&b.density)));
    for p in sorted {
        let key = |a: &str, b: &str| {
            if a <= b {
                (a.to_string(), b.to_string())
            } else {
                (b.to_string(), a.to_string())
            }
        };
        let k = key(&p.below, &p.above);
        let pos = open
            .iter()
            .enumerate()
            .filter(|(_, (a, b, last, _))| (a.clone(), b.clone()) == k && *last + 1 == p.ir)
            .min_by(|x, y| {
                let dx = (x.1 .3.last().map_or(0.0, |q| q.1) / p.density).ln().abs();
                let dy = (y.1 .3.last().map_or(0.0, |q| q.1) / p.density).ln().abs();
                dx.total_cmp(&dy)
            })
            .map(|(i, _)| i);
        match pos {
            Some(i) => {
                open[i].2 = p.ir;
                open[i].3.push((p.r, p.density));
            }
            None => open.push((k.0, k.1, p.ir, vec![(p.r, p.density)])),
        }
        // Lines that did not continue onto this row or the previous one are finished.
        let mut k = 0;
        while k < open.len() {
            if open[k].2 + 1 < p.ir {
                done.push(open.remove(k).3);
            } else {
                k += 1;
            }
        }
    }
    done.extend(open.into_iter().map(|o| o.3));
    done.into_iter()
        .filter(|pts| pts.len() >= 2)
        .map(|points| Polyline {
            points,
            label: String::new(),
        })
        .collect()
}

/// The phases present in the tables, known phases in [`classify::ALL`] order first.
pub fn legend(tables: &[&Table]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for t in tables {
        for rec in t.records.iter().flatten() {
            if !names.contains(&rec.phase) {
                names.push(rec.phase.clone());
            }
        }
    }
    names.sort_by_key(|n| classify::order(n));
    names
}

fn method_title(t: &Table) -> String {
    match t.meta.method {
        PhaseMethod::Theory => "theory: cheapest fixed configuration".into(),
        PhaseMethod::Exact => "exact global optimum".into(),
        PhaseMethod::Sgd => format!(
            "SGD protocol ({})",
            t.meta.options.replace(',', ", ").replace(':', " ")
        ),
    }
}

/// The figure: one panel per table, phases from one shared legend, each table's boundary
/// lines, and — when `reference` names a panel — dots on the other panels' cells whose phase
/// differs from the reference's.
pub fn figure(
    tables: &[&Table],
    lines: &[Vec<Polyline>],
    reference: Option<usize>,
) -> Result<Figure> {
    // Every known phase name is listed (present or not), so a phase has the same colour in
    // every figure; configuration names from a file follow.
    let mut names: Vec<String> = classify::ALL.iter().map(|p| p.to_string()).collect();
    let extra: Vec<String> = legend(tables)
        .into_iter()
        .filter(|n| !names.contains(n))
        .collect();
    names.extend(extra);
    let mut panels = Vec::new();
    for (k, t) in tables.iter().enumerate() {
        let g = t.meta.grid;
        let ns = g.density.count;
        // Cells are drawn with r along x and the density along y: cells[is · nr + ir].
        let mut cells = vec![0usize; g.cells()];
        let mut marks = Vec::new();
        let mut differ = 0usize;
        for ir in 0..g.r.count {
            for is in 0..ns {
                let Some(rec) = t.get(ir, is) else { continue };
                cells[is * g.r.count + ir] =
                    names.iter().position(|n| *n == rec.phase).unwrap_or(0);
                if let Some(refk) = reference.filter(|&j| j != k) {
                    if let Some(other) = tables[refk].get(ir, is) {
                        if other.phase != rec.phase {
                            differ += 1;
                            marks.push(Mark {
                                x: g.r.value(ir),
                                y: g.density.value(is),
                                label: String::new(),
                                kind: MarkKind::Dot,
                            });
                        }
                    }
                }
            }
        }
        let mut title = method_title(t);
        if let Some(refk) = reference.filter(|&j| j != k) {
            title.push_str(&format!(
                " · dots: ≠ {} ({:.1}%)",
                tables[refk].meta.method.name(),
                100.0 * differ as f64 / g.cells() as f64
            ));
        }
        panels.push(Panel::Categories(CategoryMap {
            title,
            x: Axis::log(format!(
                "r (importance of feature {}; the others 1)",
                t.meta.setting.n
            )),
            y: Axis::log("density s (all features)"),
            xs: g.r.values(),
            ys: g.density.values(),
            cells,
            names: names.clone(),
            boundaries: lines.get(k).cloned().unwrap_or_default(),
            marks,
        }));
    }
    let s = &tables[0].meta.setting;
    let mut fig = Figure::new(
        format!(
            "Phase diagram · {} · lines: located boundaries",
            s.describe()
        ),
        panels,
    );
    fig.panel_size = (700, 600);
    Ok(fig)
}
