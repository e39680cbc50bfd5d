//! Exact phase boundaries between two fixed configurations: the densities in (0, 1] where
//! their losses are equal, for a rational r (isolated real roots) or as rational functions of
//! a symbolic r with their validity intervals.

use num_traits::{One, Zero};

use super::formula::{density_formula, weighted_poly, SymbolicModel, Symbols};
use super::poly::{coefficients_in, Poly, UPoly, Q};
use super::ratfunc::RatFunc;
use super::roots::{real_roots, root_bound, sturm, RealRoot};
use crate::configurations::Configuration;
use crate::error::{Error, Result};
use crate::model::Activation;

/// The symbol of the extra feature's importance.
pub const R: &str = "r";

/// The loss of a configuration as a polynomial in the density `s` and `r`.
pub fn config_loss(c: &Configuration, act: Activation) -> Result<Poly> {
    let symbols = Symbols::default();
    let model = SymbolicModel::numeric(&c.model(0.0)?, act, Some(c.bias_poly(&symbols.density)))?;
    let pieces = density_formula(&model, &symbols)?;
    if pieces.len() != 1 {
        return Err(Error::invalid(format!(
            "the loss of '{}' is piecewise in the density ({} pieces); boundaries need one \
             polynomial",
            c.name,
            pieces.len()
        )));
    }
    weighted_poly(&pieces[0].formula, &c.importance_poly(R))
}

/// `L_a − L_b` as a polynomial in `s` and `r`.
pub fn difference(a: &Configuration, b: &Configuration, act: Activation) -> Result<Poly> {
    if (a.n(), a.m()) != (b.n(), b.m()) {
        return Err(Error::invalid(
            "the two configurations have different shapes",
        ));
    }
    Ok(config_loss(a, act)?.sub(&config_loss(b, act)?))
}

/// The boundary at a fixed rational r.
#[derive(Debug, Clone, PartialEq)]
pub enum BoundaryAtR {
    /// The losses agree at every density.
    Everywhere,
    /// The densities in (0, 1] where the losses agree, increasing.
    Roots(Vec<RealRoot>),
}

/// Where `L_a = L_b` for this `r`: the real roots in (0, 1] of a polynomial in `s`.
pub fn boundary_at(diff: &Poly, r: &Q) -> Result<BoundaryAtR> {
    let mut pt = std::collections::BTreeMap::new();
    pt.insert(R.to_string(), Poly::constant(r.clone()));
    let d = diff.substitute(&pt);
    let u = UPoly::from_poly(&d, "s").ok_or_else(|| {
        Error::invalid("the loss difference has symbols other than the density and r")
    })?;
    if u.is_zero() {
        return Ok(BoundaryAtR::Everywhere);
    }
    Ok(BoundaryAtR::Roots(real_roots(
        &u,
        &Q::zero(),
        &Q::one(),
        false,
        true,
    )?))
}

/// One end of an interval in r.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// A real number (rational or algebraic).
    At(RealRoot),
    /// +∞.
    Infinity,
}

/// An interval of r with open or closed ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    pub lo: End,
    pub lo_closed: bool,
    pub hi: End,
    pub hi_closed: bool,
}

/// A branch `s = f(r)` of the boundary, valid (0 < f(r) ≤ 1) on the given intervals.
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    pub density: RatFunc,
    pub valid: Vec<Interval>,
}

/// The boundary with r symbolic (r > 0).
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolicBoundary {
    /// The r > 0 at which the losses agree at every density.
    pub ties: Vec<RealRoot>,
    /// Branches `s = f(r)`.
    pub branches: Vec<Branch>,
    /// When the rest of the difference has degree ≥ 2 in s: the curve `P(s, r) = 0` (not a
    /// rational function of r).
    pub implicit: Option<Poly>,
}

/// The boundary as rational functions of r.
///
/// # Formula
/// `D(s, r) = L_a − L_b = s^k · g(r) · D'(s, r)` with `g` the gcd of the coefficients (in s)
/// of `D / s^k`. Roots of g are the r where the configurations tie at every density. If `D'`
/// is linear in s, `D' = d₁(r) s + d₀(r)` and the boundary is `s = −d₀/d₁`; it is valid where
/// `d₁ ≠ 0` and `0 < s ≤ 1`, whose ends are among the positive roots of `d₀`, `d₁` and
/// `d₀ + d₁` (s = 0, a pole, s = 1).
pub fn boundary_symbolic(diff: &Poly) -> Result<SymbolicBoundary> {
    if diff.is_zero() {
        return Err(Error::invalid(
            "the two configurations have the same loss for every r and density",
        ));
    }
    let ks = diff.monomial_content().exponent("s");
    let d = diff.div_monomial(&super::poly::Mono::var("s", ks));
    let coeffs: Vec<UPoly> = coefficients_in(&d, "s")
        .iter()
        .map(|c| UPoly::from_poly(c, R))
        .collect::<Option<_>>()
        .ok_or_else(|| Error::invalid("the loss difference has symbols other than s and r"))?;
    let g = coeffs.iter().fold(UPoly::new(vec![]), |acc, c| acc.gcd(c));
    let big = |p: &UPoly| root_bound(p);
    let ties = if g.degree().unwrap_or(0) > 0 {
        real_roots(&g, &Q::zero(), &big(&g), false, false)?
    } else {
        Vec::new()
    };
    let prim: Vec<UPoly> = coeffs.iter().map(|c| c.div_rem(&g).0).collect();
    let deg = prim.iter().rposition(|c| !c.is_zero()).unwrap_or(0);
    let mut out = SymbolicBoundary {
        ties,
        branches: Vec::new(),
        implicit: None,
    };
    match deg {
        0 => {}
        1 => {
            let (d0, d1) = (&prim[0], &prim[1]);
            let density = RatFunc::new(d0.to_poly(R).neg(), d1.to_poly(R));
            let valid = validity(d0, d1)?;
            out.branches.push(Branch { density, valid });
        }
        _ => {
            out.implicit = Some(prim.iter().enumerate().fold(Poly::zero(), |acc, (k, c)| {
                acc.add(&c.to_poly(R).mul(&Poly::var("s").pow(k as u32)))
            }));
        }
    }
    Ok(out)
}

/// Where `0 < −d₀(r)/d₁(r) ≤ 1` with `d₁(r) ≠ 0`, r > 0, as intervals.
fn validity(d0: &UPoly, d1: &UPoly) -> Result<Vec<Interval>> {
    let sum = UPoly::new(
        (0..d0.coeffs().len().max(d1.coeffs().len()))
            .map(|k| {
                d0.coeffs().get(k).cloned().unwrap_or_else(Q::zero)
                    + d1.coeffs().get(k).cloned().unwrap_or_else(Q::zero)
            })
            .collect(),
    );
    // Critical points: positive roots of d0, d1, d0 + d1, each tagged by what happens there.
    let mut crit: Vec<(RealRoot, bool)> = Vec::new(); // (root, s = 1 there)
    let prod = d0.to_poly(R).mul(&d1.to_poly(R)).mul(&sum.to_poly(R));
    let prod = UPoly::from_poly(&prod, R).expect("univariate");
    if prod.degree().unwrap_or(0) > 0 {
        let hi = root_bound(&prod);
        for root in real_roots(&prod, &Q::zero(), &hi, false, false)? {
            let at_one = vanishes(&sum, &root) && !vanishes(d1, &root);
            crit.push((root, at_one));
        }
    }
    let valid_at = |r: &Q| -> bool {
        let den = d1.eval(r);
        if den.is_zero() {
            return false;
        }
        let s = -d0.eval(r) / den;
        s > Q::zero() && s <= Q::one()
    };
    // Walk the pieces: (0, c1), {c1}, (c1, c2), …, (ck, ∞).
    let mut ends: Vec<End> = vec![End::At(RealRoot::Rational(Q::zero()))];
    ends.extend(crit.iter().map(|(r, _)| End::At(r.clone())));
    ends.push(End::Infinity);
    let mut pieces: Vec<Interval> = Vec::new();
    let push = |iv: Interval, pieces: &mut Vec<Interval>| {
        // Merge with the previous piece when they touch at a shared closed/open point.
        if let Some(last) = pieces.last_mut() {
            if last.hi == iv.lo && (last.hi_closed || iv.lo_closed) {
                last.hi = iv.hi;
                last.hi_closed = iv.hi_closed;
                return;
            }
        }
        pieces.push(iv);
    };
    for k in 0..ends.len() - 1 {
        let sample = sample_between(&ends[k], &ends[k + 1]);
        if valid_at(&sample) {
            push(
                Interval {
                    lo: ends[k].clone(),
                    lo_closed: false,
                    hi: ends[k + 1].clone(),
                    hi_closed: false,
                },
                &mut pieces,
            );
        }
        if k + 1 < ends.len() - 1 && crit[k].1 {
            let p = ends[k + 1].clone();
            push(
                Interval {
                    lo: p.clone(),
                    lo_closed: true,
                    hi: p,
                    hi_closed: true,
                },
                &mut pieces,
            );
        }
    }
    Ok(pieces)
}

/// Whether `p` vanishes at the root (exact: gcd with the root's polynomial for algebraic ones).
fn vanishes(p: &UPoly, root: &RealRoot) -> bool {
    match root {
        RealRoot::Rational(x) => p.eval(x).is_zero(),
        RealRoot::Algebraic { poly, lo, hi } => {
            let g = p.gcd(poly);
            if g.degree().unwrap_or(0) == 0 {
                return false;
            }
            // The root is a root of g iff g changes sign (or vanishes) on the isolating interval.
            let seq = sturm(&g.squarefree());
            let v = |x: &Q| {
                let s: Vec<i32> = seq
                    .iter()
                    .map(|q| q.sign_at(x))
                    .filter(|&x| x != 0)
                    .collect();
                s.windows(2).filter(|w| w[0] != w[1]).count()
            };
            v(lo) > v(hi)
        }
    }
}

fn sample_between(a: &End, b: &End) -> Q {
    match (a, b) {
        (End::At(x), End::Infinity) => x.upper() + Q::one(),
        (End::At(x), End::At(y)) => {
            let (mut x, mut y) = (x.clone(), y.clone());
            while x.upper() >= y.lower() {
                let wx = x.upper() - x.lower();
                let wy = y.upper() - y.lower();
                x.refine(&(wx / Q::from_integer(2.into())));
                y.refine(&(wy / Q::from_integer(2.into())));
            }
            (x.upper() + y.lower()) / Q::from_integer(2.into())
        }
        (End::Infinity, _) => unreachable!("infinity is only an upper end"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::poly::q;
    use super::*;
    use crate::configurations::find;

    #[test]
    fn paper_boundary_four_r_over_two_plus_five_r() {
        let a = find(2, 1, "not-represented").unwrap();
        let b = find(2, 1, "antipodal").unwrap();
        let d = difference(&a, &b, Activation::Relu).unwrap();
        let sb = boundary_symbolic(&d).unwrap();
        assert_eq!(sb.branches.len(), 1);
        let r = Poly::var(R);
        let want = RatFunc::new(
            r.scale(&q(4, 1)),
            r.scale(&q(5, 1)).add(&Poly::constant(q(2, 1))),
        );
        assert_eq!(sb.branches[0].density, want);
        assert_eq!(sb.branches[0].valid.len(), 1);
        assert_eq!(sb.branches[0].valid[0].hi, End::Infinity);
        match boundary_at(&d, &q(1, 1)).unwrap() {
            BoundaryAtR::Roots(r) => assert_eq!(r, vec![RealRoot::Rational(q(4, 7))]),
            other => panic!("{other:?}"),
        }
    }
}
