//! The complete piecewise loss of the n = 2, m = 1 model without bias over the (w1, w2)
//! plane (McGrath's exactly solvable case), derived by the region engine.
//!
//! With `M_ij = w_i w_j` the vertex values are `w_i · Σ_{j∈S} w_j`, so every sign is fixed on
//! each of the six open sectors cut by the lines `w1 = 0`, `w2 = 0` and `w1 + w2 = 0`; one
//! sample point per sector, per half-axis and the origin therefore covers the plane. On the
//! line `w1 + w2 = 0` (off the origin) the two neighbouring formulas agree (the loss is
//! continuous); the axes are strata where a Gram entry vanishes and have their own formulas.
//! Sectors with the same formula (the loss is even in w) are merged.

use super::formula::{
    locate, Condition, Located, Point, RegionFormula, SymActivation, SymbolicModel, Symbols,
};
use super::poly::{Poly, Q};
use super::print::Style;
use crate::error::{Error, Result};

/// One piece of the piecewise formula.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// The formula (its `conditions` are those of the first sample's region).
    pub formula: RegionFormula,
    /// Alternative condition sets (one per merged sector); the piece is their union.
    pub regions: Vec<Vec<Condition>>,
    /// One sample point per merged sector (w1, w2).
    pub samples: Vec<(Q, Q)>,
}

/// The symbolic n = 2, m = 1 model without bias (symbols `w1`, `w2`).
pub fn model() -> SymbolicModel {
    let w = [Poly::var("w1"), Poly::var("w2")];
    let gram = (0..2)
        .map(|i| (0..2).map(|j| w[i].mul(&w[j])).collect())
        .collect();
    SymbolicModel::new(gram, vec![Poly::zero(), Poly::zero()], SymActivation::Relu)
        .expect("2×2 Gram and 2 biases")
}

/// The sample points: six sectors, four half-axes, the origin.
pub fn samples() -> Vec<(Q, Q)> {
    let v = |a: i64, b: i64| (Q::from_integer(a.into()), Q::from_integer(b.into()));
    vec![
        v(1, 1),
        v(2, -1),
        v(1, -2),
        v(-1, -1),
        v(-2, 1),
        v(-1, 2),
        v(1, 0),
        v(-1, 0),
        v(0, 1),
        v(0, -1),
        v(0, 0),
    ]
}

/// The complete piecewise formula.
pub fn pieces(symbols: &Symbols) -> Result<Vec<Piece>> {
    let model = model();
    symbols.check(2, &model.variables())?;
    let mut out: Vec<Piece> = Vec::new();
    for (a, b) in samples() {
        let mut p = Point::new();
        p.insert("w1".into(), a.clone());
        p.insert("w2".into(), b.clone());
        let f = match locate(&model, &p, symbols)? {
            Located::Inside(f) => f,
            Located::OnBoundary { .. } => {
                return Err(Error::Numerical(
                    "a McGrath sample point fell on a region boundary".into(),
                ))
            }
        };
        match out
            .iter_mut()
            .find(|x| x.formula.per_feature == f.per_feature)
        {
            Some(x) => {
                // Opposite sectors (w and −w) have the same Gram matrix and conditions.
                if !x.regions.contains(&f.conditions) {
                    x.regions.push(f.conditions.clone());
                }
                x.samples.push((a, b));
            }
            None => out.push(Piece {
                regions: vec![f.conditions.clone()],
                formula: f,
                samples: vec![(a, b)],
            }),
        }
    }
    Ok(out)
}

/// The conditions of one region joined with "and" (sympy: `And(…)`).
pub fn region_text(conds: &[Condition], style: Style) -> String {
    let parts: Vec<String> = conds.iter().map(|c| c.render(style)).collect();
    match style {
        Style::Sympy if parts.is_empty() => "True".into(),
        Style::Sympy if parts.len() == 1 => parts[0].clone(),
        Style::Sympy => format!("And({})", parts.join(", ")),
        Style::Latex => parts.join(",\\ "),
        Style::Plain if parts.is_empty() => "everywhere".into(),
        Style::Plain => parts.join(" and "),
    }
}

/// A union of regions (sympy: `Or(…)`).
pub fn union_text(regions: &[Vec<Condition>], style: Style) -> String {
    let parts: Vec<String> = regions.iter().map(|r| region_text(r, style)).collect();
    match style {
        Style::Sympy if parts.len() == 1 => parts[0].clone(),
        Style::Sympy => format!("Or({})", parts.join(", ")),
        Style::Latex => parts
            .iter()
            .map(|p| format!("\\left({p}\\right)"))
            .collect::<Vec<_>>()
            .join(" \\vee "),
        Style::Plain => parts
            .iter()
            .map(|p| format!("({p})"))
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

/// The whole piecewise formula as one sympy `Piecewise(...)` line.
pub fn sympy_piecewise(pieces: &[Piece], symbols: &Symbols) -> String {
    let parts: Vec<String> = pieces
        .iter()
        .map(|p| {
            format!(
                "({}, {})",
                p.formula.render(symbols, Style::Sympy),
                union_text(&p.regions, Style::Sympy)
            )
        })
        .collect();
    format!("Piecewise({}, (nan, True))", parts.join(", "))
}

/// The whole piecewise formula as a LaTeX `cases` environment.
pub fn latex_cases(pieces: &[Piece], symbols: &Symbols) -> String {
    let rows: Vec<String> = pieces
        .iter()
        .map(|p| {
            format!(
                "{} & {}",
                p.formula.render(symbols, Style::Latex),
                union_text(&p.regions, Style::Latex)
            )
        })
        .collect();
    format!(
        "L = \\begin{{cases}} {} \\end{{cases}}",
        rows.join(" \\\\ ")
    )
}
