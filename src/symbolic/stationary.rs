//! The stationary points of McGrath's n = 2, m = 1 loss without bias, solved exactly at a
//! rational density and rational importances (issue 10, item 5).
//!
//! Per region of [`super::mcgrath::pieces`] the loss is a rational function `L = N/D` of
//! (w1, w2) with a monomial denominator, non-zero inside the region. The numerators `P1`, `P2`
//! of `∂L/∂w1`, `∂L/∂w2` are polynomials; their common real zeros are found by elimination:
//! `Res_{w2}(P1, P2) ∈ Q[w1]` and `Res_{w1}(P1, P2) ∈ Q[w2]` (Sylvester determinants, Bareiss),
//! square-free parts, real roots isolated by Sturm sequences ([`super::roots`]). Every pair
//! (w1 root, w2 root) is refined to a box of width ≤ 10^−[`STATIONARY_WIDTH_EXPONENT`] and
//! kept only when the exact rational interval enclosures of `P1` and `P2` over the box both
//! contain 0 and the region's conditions hold on the whole box. A true common zero always
//! passes (the enclosures are rigorous); a false pair would need both |P1| and |P2| below the
//! enclosure width (~10⁻³⁸) there. Points are classified from the exact Hessian's interval
//! enclosure. The half-axes (one Gram entry vanishes) are solved as one-variable problems with
//! the one-sided slopes across the axis decided exactly; the origin from the degree-2 part of
//! every sector's formula.
//!
//! [`STATIONARY_WIDTH_EXPONENT`]: crate::tolerance::STATIONARY_WIDTH_EXPONENT

use std::collections::BTreeMap;

use num_bigint::BigInt;
use num_traits::{One, Signed, Zero};

use super::formula::{Condition, Point, Rel, Symbols};
use super::mcgrath::{self, Piece};
use super::poly::{coefficients_in, Mono, Poly, UPoly, Q};
use super::ratfunc::RatFunc;
use super::roots::{real_roots, root_bound, RealRoot};
use crate::error::{Error, Result};
use crate::tolerance::STATIONARY_WIDTH_EXPONENT;

/// A closed interval with rational ends (`lo ≤ hi`).
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// Lower end.
    pub lo: Q,
    /// Upper end.
    pub hi: Q,
}

impl Interval {
    /// The single point `x`.
    pub fn point(x: Q) -> Self {
        Interval {
            lo: x.clone(),
            hi: x,
        }
    }

    fn add(&self, o: &Interval) -> Interval {
        Interval {
            lo: &self.lo + &o.lo,
            hi: &self.hi + &o.hi,
        }
    }

    fn mul(&self, o: &Interval) -> Interval {
        let c = [
            &self.lo * &o.lo,
            &self.lo * &o.hi,
            &self.hi * &o.lo,
            &self.hi * &o.hi,
        ];
        let lo = c.iter().min().expect("four").clone();
        let hi = c.iter().max().expect("four").clone();
        Interval { lo, hi }
    }

    fn scale(&self, c: &Q) -> Interval {
        let (a, b) = (&self.lo * c, &self.hi * c);
        if a <= b {
            Interval { lo: a, hi: b }
        } else {
            Interval { lo: b, hi: a }
        }
    }

    fn pow(&self, e: u32) -> Interval {
        if e == 0 {
            return Interval::point(Q::one());
        }
        let p = |x: &Q| num_traits::pow(x.clone(), e as usize);
        if e % 2 == 1 {
            return Interval {
                lo: p(&self.lo),
                hi: p(&self.hi),
            };
        }
        let (a, b) = (self.lo.abs(), self.hi.abs());
        let hi = p(&a.clone().max(b.clone()));
        if self.contains_zero() {
            Interval { lo: Q::zero(), hi }
        } else {
            Interval {
                lo: p(&a.min(b)),
                hi,
            }
        }
    }

    fn div(&self, o: &Interval) -> Option<Interval> {
        if o.contains_zero() {
            return None;
        }
        let inv = Interval {
            lo: Q::one() / &o.hi,
            hi: Q::one() / &o.lo,
        };
        Some(self.mul(&inv))
    }

    /// True when 0 lies in the interval.
    pub fn contains_zero(&self) -> bool {
        !self.lo.is_positive() && !self.hi.is_negative()
    }

    /// The sign of every value in the interval (0 only for the point 0), `None` when the
    /// interval straddles 0.
    pub fn sign(&self) -> Option<i32> {
        if self.lo.is_positive() {
            Some(1)
        } else if self.hi.is_negative() {
            Some(-1)
        } else if self.lo.is_zero() && self.hi.is_zero() {
            Some(0)
        } else {
            None
        }
    }

    /// Width `hi − lo`.
    pub fn width(&self) -> Q {
        &self.hi - &self.lo
    }
}

/// A box: an interval per variable.
pub type IntervalPoint = BTreeMap<String, Interval>;

/// Interval enclosure of a polynomial over a box (`None` when a variable has no interval).
pub fn eval_poly(p: &Poly, at: &IntervalPoint) -> Option<Interval> {
    let mut acc = Interval::point(Q::zero());
    for (m, c) in p.terms() {
        let mut t = Interval::point(c.clone());
        for (v, e) in m.factors() {
            t = t.mul(&at.get(&**v)?.pow(*e));
        }
        acc = acc.add(&t);
    }
    Some(acc)
}

/// Interval enclosure of a rational function (`None` when the denominator's enclosure
/// contains 0 or a variable is missing).
pub fn eval_ratfunc(r: &RatFunc, at: &IntervalPoint) -> Option<Interval> {
    eval_poly(r.num(), at)?.div(&eval_poly(r.den(), at)?)
}

/// `∂p/∂v`.
pub fn diff_poly(p: &Poly, v: &str) -> Poly {
    let mut r = Poly::zero();
    for (m, c) in p.terms() {
        let e = m.exponent(v);
        if e == 0 {
            continue;
        }
        let mut t = Poly::constant(c * Q::from_integer(BigInt::from(e)));
        for (name, f) in m.factors() {
            let f = if &**name == v { f - 1 } else { *f };
            t = t.mul(&Poly::term(Mono::var(name, f), Q::one()));
        }
        r.add_assign(&t);
    }
    r
}

/// `∂r/∂v` by the quotient rule, normalised.
pub fn diff_ratfunc(r: &RatFunc, v: &str) -> RatFunc {
    let (n, d) = (r.num(), r.den());
    RatFunc::new(
        diff_poly(n, v).mul(d).sub(&n.mul(&diff_poly(d, v))),
        d.mul(d),
    )
}

fn umul(a: &UPoly, b: &UPoly) -> UPoly {
    if a.is_zero() || b.is_zero() {
        return UPoly::new(vec![]);
    }
    let (x, y) = (a.coeffs(), b.coeffs());
    let mut c = vec![Q::zero(); x.len() + y.len() - 1];
    for (i, p) in x.iter().enumerate() {
        for (j, q) in y.iter().enumerate() {
            c[i + j] += p * q;
        }
    }
    UPoly::new(c)
}

fn usub(a: &UPoly, b: &UPoly) -> UPoly {
    let n = a.coeffs().len().max(b.coeffs().len());
    let get = |p: &UPoly, k: usize| p.coeffs().get(k).cloned().unwrap_or_else(Q::zero);
    UPoly::new((0..n).map(|k| get(a, k) - get(b, k)).collect())
}

/// The determinant of a square matrix over `Q[x]`.
///
/// # Formula
/// Fraction-free Bareiss elimination: with `a⁽⁰⁾ = a`, `p₋₁ = 1`,
/// `a⁽ᵏ⁺¹⁾_ij = (a⁽ᵏ⁾_ij a⁽ᵏ⁾_kk − a⁽ᵏ⁾_ik a⁽ᵏ⁾_kj) / p_{k−1}`, `p_k = a⁽ᵏ⁾_kk`; every division is
/// exact in `Q[x]` (Sylvester's identity) and `det = ±a⁽ⁿ⁻¹⁾_{n−1,n−1}` (sign of the row swaps).
pub fn det_bareiss(mut a: Vec<Vec<UPoly>>) -> Result<UPoly> {
    let n = a.len();
    if n == 0 {
        return Ok(UPoly::new(vec![Q::one()]));
    }
    let mut negate = false;
    let mut prev = UPoly::new(vec![Q::one()]);
    for k in 0..n - 1 {
        if a[k][k].is_zero() {
            let Some(i) = (k + 1..n).find(|&i| !a[i][k].is_zero()) else {
                return Ok(UPoly::new(vec![]));
            };
            a.swap(k, i);
            negate = !negate;
        }
        for i in k + 1..n {
            for j in k + 1..n {
                let t = usub(&umul(&a[i][j], &a[k][k]), &umul(&a[i][k], &a[k][j]));
                let (quo, rem) = t.div_rem(&prev);
                if !rem.is_zero() {
                    return Err(Error::Numerical(
                        "Bareiss elimination: a division that must be exact left a remainder"
                            .into(),
                    ));
                }
                a[i][j] = quo;
            }
        }
        prev = a[k][k].clone();
    }
    let d = a[n - 1][n - 1].clone();
    Ok(if negate {
        UPoly::new(d.coeffs().iter().map(|c| -c).collect())
    } else {
        d
    })
}

/// `Res_y(f, g)` for `f, g ∈ Q[x, y]` in no other variable: a polynomial in `x`.
///
/// # Formula
/// The determinant of the Sylvester matrix: with `f = Σ_{i≤m} a_i y^i`, `g = Σ_{j≤n} b_j y^j`
/// (`a_i, b_j ∈ Q[x]`), `n` rows of shifted `a_m … a_0` and `m` rows of shifted `b_n … b_0`;
/// `Res = a_0^n` when `m = 0`. It vanishes at `x₀` exactly when `f(x₀, ·)` and `g(x₀, ·)` have a
/// common root or both leading coefficients vanish there. `None` when neither depends on `y`
/// (nothing to eliminate) or a coefficient involves a third variable.
pub fn resultant(f: &Poly, g: &Poly, x: &str, y: &str) -> Result<Option<UPoly>> {
    let to_u = |p: &Poly| -> Result<Vec<UPoly>> {
        coefficients_in(p, y)
            .iter()
            .map(|c| {
                UPoly::from_poly(c, x).ok_or_else(|| {
                    Error::invalid(format!(
                        "a resultant's input has variables besides {x}, {y}"
                    ))
                })
            })
            .collect()
    };
    if f.is_zero() || g.is_zero() {
        return Ok(Some(UPoly::new(vec![])));
    }
    let (a, b) = (to_u(f)?, to_u(g)?);
    let (m, n) = (a.len() - 1, b.len() - 1);
    if m == 0 && n == 0 {
        return Ok(None);
    }
    let size = m + n;
    let zero = UPoly::new(vec![]);
    let mut s = vec![vec![zero; size]; size];
    for r in 0..n {
        for (k, c) in a.iter().rev().enumerate() {
            s[r][r + k] = c.clone();
        }
    }
    for r in 0..m {
        for (k, c) in b.iter().rev().enumerate() {
            s[n + r][r + k] = c.clone();
        }
    }
    det_bareiss(s).map(Some)
}

/// The kind of a stationary point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Strict local minimum (Hessian positive definite, or the degree-2 part positive).
    Minimum,
    /// Strict local maximum.
    Maximum,
    /// Saddle (Hessian indefinite, or the degree-2 part takes both signs).
    Saddle,
    /// A point on an axis where the restricted loss has a strict minimum and the loss rises
    /// on both sides of the axis (one-sided slopes of opposite signs): a local minimum at a
    /// kink, not a stationary point of a smooth function.
    KinkMinimum,
    /// Not a local minimum: the loss decreases off the axis (a one-sided slope points down),
    /// or the restricted loss has a maximum there.
    NotMinimum,
    /// The signs needed could not be decided.
    Undetermined,
}

impl Kind {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Minimum => "minimum",
            Kind::Maximum => "maximum",
            Kind::Saddle => "saddle",
            Kind::KinkMinimum => "kink minimum",
            Kind::NotMinimum => "not a minimum",
            Kind::Undetermined => "undetermined",
        }
    }
}

/// One coordinate of a stationary point.
#[derive(Debug, Clone, PartialEq)]
pub struct Coordinate {
    /// The value: rational, or the root of a square-free polynomial in its isolating
    /// interval (as isolated, before refinement).
    pub root: RealRoot,
    /// The square-free polynomial (in this coordinate's variable) it was isolated from; for a
    /// rational value found directly it is `x − value`.
    pub poly: UPoly,
    /// The same root refined to width ≤ 10^−[`STATIONARY_WIDTH_EXPONENT`] (or more, for many
    /// digits).
    pub refined: RealRoot,
}

impl Coordinate {
    fn rational(x: Q) -> Self {
        Coordinate {
            poly: UPoly::new(vec![-x.clone(), Q::one()]),
            root: RealRoot::Rational(x.clone()),
            refined: RealRoot::Rational(x),
        }
    }

    fn interval(&self) -> Interval {
        Interval {
            lo: self.refined.lower().clone(),
            hi: self.refined.upper().clone(),
        }
    }
}

/// The one-sided slopes `∂L/∂v` across an axis `v = 0` (from the regions `v > 0` and
/// `v < 0`), at an axis point.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisSlopes {
    /// The off-axis variable `v`.
    pub variable: String,
    /// Enclosure of the slope from `v > 0` (`None`: the formula cannot be evaluated there).
    pub plus: Option<Interval>,
    /// Enclosure of the slope from `v < 0`.
    pub minus: Option<Interval>,
    /// Whether the slope from `v > 0` is exactly 0 (decided exactly).
    pub plus_zero: bool,
    /// Whether the slope from `v < 0` is exactly 0.
    pub minus_zero: bool,
}

/// One stationary point (of the region's formula; on an axis: of the loss restricted to the
/// axis).
#[derive(Debug, Clone, PartialEq)]
pub struct StationaryPoint {
    /// The conditions of the region it lies in.
    pub region: Vec<Condition>,
    /// w1.
    pub w1: Coordinate,
    /// w2.
    pub w2: Coordinate,
    /// Enclosure of the loss at the point (exact when both coordinates are rational).
    pub loss: Interval,
    /// Minimum, saddle, …
    pub kind: Kind,
    /// For points on an axis: the slopes across it.
    pub axis: Option<AxisSlopes>,
    /// True when `−W` is a different point with the same loss (printed once).
    pub mirrored: bool,
}

/// The result for one piece of the piecewise formula.
#[derive(Debug, Clone, PartialEq)]
pub struct PieceReport {
    /// The piece's regions (a union; sectors mapped onto each other by W → −W).
    pub regions: Vec<Vec<Condition>>,
    /// Degrees of the square-free eliminants in w1 and w2 (sectors), or of the square-free
    /// numerator of the derivative (half-axes; one entry).
    pub degrees: Vec<usize>,
    /// The stationary points found, one per pair W, −W.
    pub points: Vec<StationaryPoint>,
    /// Why the piece was not (completely) solved, when so.
    pub note: Option<String>,
}

/// What kind of set a piece of McGrath's formula covers (from its sample point).
enum Stratum {
    Sector,
    /// The axis where this variable is 0 (the other is free).
    Axis {
        zero: &'static str,
        free: &'static str,
    },
    Origin,
}

fn stratum(piece: &Piece) -> Stratum {
    let (a, b) = &piece.samples[0];
    match (a.is_zero(), b.is_zero()) {
        (true, true) => Stratum::Origin,
        (false, true) => Stratum::Axis {
            zero: "w2",
            free: "w1",
        },
        (true, false) => Stratum::Axis {
            zero: "w1",
            free: "w2",
        },
        (false, false) => Stratum::Sector,
    }
}

/// The loss of a piece with the density and importances substituted: `L(w1, w2)`.
fn loss_of(piece: &Piece, symbols: &Symbols, density: &Q, importance: &[Q]) -> Result<RatFunc> {
    let mut with = BTreeMap::new();
    with.insert(symbols.density.clone(), Poly::constant(density.clone()));
    let mut l = RatFunc::zero();
    for (p, w) in piece.formula.per_feature.iter().zip(importance) {
        let p = p.substitute(&with).ok_or_else(|| {
            Error::Numerical("a McGrath formula's denominator vanishes at this density".into())
        })?;
        l = l.add(&RatFunc::poly(Poly::constant(w.clone())).mul(&p));
    }
    Ok(l)
}

/// The numerator of a derivative with monomial factors (non-zero off the axes) and content
/// removed.
fn stationarity_numerator(d: &RatFunc) -> Poly {
    let n = d.num();
    if n.is_zero() {
        return Poly::zero();
    }
    let n = n.div_monomial(&n.monomial_content());
    n.scale(&(Q::one() / n.content()))
}

fn width_for(digits: usize) -> Q {
    let e = (STATIONARY_WIDTH_EXPONENT as usize).max(digits + 10);
    Q::new(BigInt::one(), BigInt::from(10).pow(e as u32))
}

fn check_inputs(density: &Q, importance: &[Q]) -> Result<()> {
    if density.is_negative() || density > &Q::one() {
        return Err(Error::invalid(format!(
            "the density must lie in [0, 1], got {density}"
        )));
    }
    if importance.len() != 2 {
        return Err(Error::invalid(format!(
            "McGrath's model has 2 features: give 2 importances, got {}",
            importance.len()
        )));
    }
    if let Some(w) = importance.iter().find(|w| !w.is_positive()) {
        return Err(Error::invalid(format!(
            "importances must be positive, got {w}"
        )));
    }
    Ok(())
}

/// The stationary points of McGrath's loss (n = 2, m = 1, no bias) at a rational density and
/// importances, solved exactly per piece of [`mcgrath::pieces`]; `digits` only sets how far
/// the roots are refined (≥ 10^−(digits + 10)).
pub fn stationary_points(density: &Q, importance: &[Q], digits: usize) -> Result<Vec<PieceReport>> {
    check_inputs(density, importance)?;
    let symbols = Symbols::default();
    let pieces = mcgrath::pieces(&symbols)?;
    let width = width_for(digits);
    let losses: Vec<RatFunc> = pieces
        .iter()
        .map(|p| loss_of(p, &symbols, density, importance))
        .collect::<Result<_>>()?;
    let mut out = Vec::new();
    for (k, piece) in pieces.iter().enumerate() {
        let l = &losses[k];
        let mut rep = PieceReport {
            regions: piece.regions.clone(),
            degrees: Vec::new(),
            points: Vec::new(),
            note: None,
        };
        match stratum(piece) {
            Stratum::Sector => sector(piece, l, &width, &mut rep)?,
            Stratum::Axis { zero, free } => {
                axis(piece, l, &pieces, &losses, zero, free, &width, &mut rep)?
            }
            Stratum::Origin => origin(piece, l, &pieces, &losses, &mut rep)?,
        }
        out.push(rep);
    }
    Ok(out)
}

/// `p / x` when `p(0) = 0` (square-free: at most once). The root 0 lies on an axis, never in
/// a sector, and on an axis it is the origin, solved separately.
fn strip_zero_root(p: &UPoly) -> UPoly {
    match p.coeffs().first() {
        Some(c) if c.is_zero() => UPoly::new(p.coeffs()[1..].to_vec()),
        _ => p.clone(),
    }
}

/// All real roots of `p` (not zero), each with its refined copy.
fn roots_of(p: &UPoly, width: &Q) -> Result<Vec<(RealRoot, RealRoot)>> {
    let b = root_bound(p);
    Ok(real_roots(p, &-b.clone(), &b, true, true)?
        .into_iter()
        .map(|r| {
            let mut f = r.clone();
            f.refine(width);
            (r, f)
        })
        .collect())
}

fn point_box(w1: &Interval, w2: &Interval) -> IntervalPoint {
    let mut b = IntervalPoint::new();
    b.insert("w1".into(), w1.clone());
    b.insert("w2".into(), w2.clone());
    b
}

/// Whether every condition holds on the whole box (`Some(false)`: one fails on the whole box;
/// `None`: undecided).
fn conditions_hold(conds: &[Condition], at: &IntervalPoint) -> Option<bool> {
    let mut all = true;
    for c in conds {
        let v = eval_poly(&c.poly, at)?;
        let s = v.sign();
        let ok = match (c.rel, s) {
            (Rel::Pos, Some(1)) | (Rel::Neg, Some(-1)) | (Rel::Zero, Some(0)) => Some(true),
            (Rel::NonZero, Some(s)) => Some(s != 0),
            (_, Some(_)) => Some(false),
            (_, None) => None,
        };
        match ok {
            Some(true) => {}
            Some(false) => return Some(false),
            None => all = false,
        }
    }
    all.then_some(true)
}

/// The region (of a piece's union) holding on the whole box; `Err(())` when undecided.
fn region_at(
    regions: &[Vec<Condition>],
    at: &IntervalPoint,
) -> std::result::Result<Option<Vec<Condition>>, ()> {
    let mut undecided = false;
    for r in regions {
        match conditions_hold(r, at) {
            Some(true) => return Ok(Some(r.clone())),
            Some(false) => {}
            None => undecided = true,
        }
    }
    if undecided {
        Err(())
    } else {
        Ok(None)
    }
}

fn hessian_kind(l: &RatFunc, at: &IntervalPoint) -> Kind {
    let l1 = diff_ratfunc(l, "w1");
    let l2 = diff_ratfunc(l, "w2");
    let (Some(a), Some(b), Some(c)) = (
        eval_ratfunc(&diff_ratfunc(&l1, "w1"), at),
        eval_ratfunc(&diff_ratfunc(&l1, "w2"), at),
        eval_ratfunc(&diff_ratfunc(&l2, "w2"), at),
    ) else {
        return Kind::Undetermined;
    };
    let det = a.mul(&c).add(&b.mul(&b).scale(&-Q::one()));
    match (det.sign(), a.sign()) {
        (Some(1), Some(1)) => Kind::Minimum,
        (Some(1), Some(-1)) => Kind::Maximum,
        (Some(-1), _) => Kind::Saddle,
        _ => Kind::Undetermined,
    }
}

fn sector(piece: &Piece, l: &RatFunc, width: &Q, rep: &mut PieceReport) -> Result<()> {
    let p1 = stationarity_numerator(&diff_ratfunc(l, "w1"));
    let p2 = stationarity_numerator(&diff_ratfunc(l, "w2"));
    if p1.is_zero() && p2.is_zero() {
        rep.note = Some(
            "degenerate: the loss is constant on this region (every point is stationary)".into(),
        );
        return Ok(());
    }
    let (Some(r1), Some(r2)) = (
        resultant(&p1, &p2, "w1", "w2")?,
        resultant(&p1, &p2, "w2", "w1")?,
    ) else {
        rep.note =
            Some("degenerate: the stationarity equations do not involve both weights".into());
        return Ok(());
    };
    if r1.is_zero() || r2.is_zero() {
        rep.note = Some(format!(
            "degenerate: the numerators of dL/dw1 and dL/dw2 ({} and {}) share a factor (the \
             resultant vanishes identically), so the stationary set may contain a curve; not \
             solved",
            p1, p2
        ));
        return Ok(());
    }
    let (s1, s2) = (
        strip_zero_root(&r1.squarefree()),
        strip_zero_root(&r2.squarefree()),
    );
    rep.degrees = vec![s1.degree().unwrap_or(0), s2.degree().unwrap_or(0)];
    let c1: Vec<_> = roots_of(&s1, width)?
        .into_iter()
        // One point per pair W, −W: w1 > 0 (w1 = 0 is off every sector).
        .filter(|(_, f)| f.lower().is_positive())
        .collect();
    let c2 = roots_of(&s2, width)?;
    let mut boundary = 0;
    for (a, fa) in &c1 {
        for (b, fb) in &c2 {
            let x = Coordinate {
                root: a.clone(),
                poly: s1.clone(),
                refined: fa.clone(),
            };
            let y = Coordinate {
                root: b.clone(),
                poly: s2.clone(),
                refined: fb.clone(),
            };
            let at = point_box(&x.interval(), &y.interval());
            let (Some(v1), Some(v2)) = (eval_poly(&p1, &at), eval_poly(&p2, &at)) else {
                continue;
            };
            if !v1.contains_zero() || !v2.contains_zero() {
                continue;
            }
            let region = match region_at(&piece.regions, &at) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(()) => {
                    boundary += 1;
                    continue;
                }
            };
            let loss = eval_ratfunc(l, &at).ok_or_else(|| {
                Error::Numerical("the loss's denominator vanishes at a stationary point".into())
            })?;
            rep.points.push(StationaryPoint {
                region,
                kind: hessian_kind(l, &at),
                w1: x,
                w2: y,
                loss,
                axis: None,
                mirrored: true,
            });
        }
    }
    if boundary > 0 {
        rep.note = Some(format!(
            "{boundary} solution(s) of this formula's equations lie on (or too near to decide) \
             the region's boundary w1 + w2 = 0, where the loss has a kink; not reported"
        ));
    }
    Ok(())
}

/// The sector piece whose region holds at the point.
fn piece_at<'a>(pieces: &'a [Piece], losses: &'a [RatFunc], p: &Point) -> Option<&'a RatFunc> {
    pieces.iter().zip(losses).find_map(|(pc, l)| {
        pc.regions
            .iter()
            .any(|r| r.iter().all(|c| c.holds(p) == Some(true)))
            .then_some(l)
    })
}

#[allow(clippy::too_many_arguments)]
fn axis(
    piece: &Piece,
    l: &RatFunc,
    pieces: &[Piece],
    losses: &[RatFunc],
    zero: &str,
    free: &str,
    width: &Q,
    rep: &mut PieceReport,
) -> Result<()> {
    let d = diff_ratfunc(l, free);
    let num = stationarity_numerator(&d);
    if num.is_zero() {
        rep.note = Some(format!(
            "degenerate: the loss is constant along this axis (every point of it is stationary \
             along {free})"
        ));
        return Ok(());
    }
    let p = UPoly::from_poly(&num, free)
        .ok_or_else(|| Error::Numerical("an axis formula depends on both weights".into()))?
        .squarefree();
    let p = strip_zero_root(&p);
    rep.degrees = vec![p.degree().unwrap_or(0)];
    let dd = diff_ratfunc(&d, free);
    for (r, f) in roots_of(&p, width)? {
        if !f.lower().is_positive() {
            continue; // one point per pair ±; 0 is the origin, not this axis
        }
        let c = Coordinate {
            root: r,
            poly: p.clone(),
            refined: f,
        };
        let (x, y) = if free == "w1" {
            (c.clone(), Coordinate::rational(Q::zero()))
        } else {
            (Coordinate::rational(Q::zero()), c.clone())
        };
        let at = point_box(&x.interval(), &y.interval());
        let region = match region_at(&piece.regions, &at) {
            Ok(Some(r)) => r,
            _ => continue,
        };
        let loss = eval_ratfunc(l, &at)
            .ok_or_else(|| Error::Numerical("an axis formula cannot be evaluated".into()))?;
        let restricted = eval_ratfunc(&dd, &at).and_then(|v| v.sign());
        let slopes = axis_slopes(pieces, losses, zero, free, &c)?;
        let up = |i: &Option<Interval>, z: bool| -> Option<i32> {
            if z {
                Some(0)
            } else {
                i.as_ref().and_then(|v| v.sign())
            }
        };
        let (sp, sm) = (
            up(&slopes.plus, slopes.plus_zero),
            up(&slopes.minus, slopes.minus_zero),
        );
        let kind = match (restricted, sp, sm) {
            (Some(-1), _, _) => Kind::NotMinimum,
            (_, Some(-1), _) | (_, _, Some(1)) => Kind::NotMinimum,
            (Some(1), Some(1), Some(-1)) => Kind::KinkMinimum,
            _ => Kind::Undetermined,
        };
        rep.points.push(StationaryPoint {
            region,
            w1: x,
            w2: y,
            loss,
            kind,
            axis: Some(slopes),
            mirrored: true,
        });
    }
    Ok(())
}

/// The slopes across the axis `zero = 0` at the axis point `free = c`, from the sector
/// formulas on either side, decided exactly where they vanish.
fn axis_slopes(
    pieces: &[Piece],
    losses: &[RatFunc],
    zero: &str,
    free: &str,
    c: &Coordinate,
) -> Result<AxisSlopes> {
    let mid = (c.refined.lower() + c.refined.upper()) / Q::from_integer(BigInt::from(2));
    let delta = &mid / Q::from_integer(BigInt::from(1024));
    let mut sub = BTreeMap::new();
    sub.insert(zero.to_string(), Poly::zero());
    let side = |sign: i32| -> Result<(Option<Interval>, bool)> {
        let mut p = Point::new();
        p.insert(free.to_string(), mid.clone());
        p.insert(
            zero.to_string(),
            if sign > 0 {
                delta.clone()
            } else {
                -delta.clone()
            },
        );
        let Some(l) = piece_at(pieces, losses, &p) else {
            return Ok((None, false));
        };
        let Some(g) = diff_ratfunc(l, zero).substitute(&sub) else {
            return Ok((None, false));
        };
        let mut at = IntervalPoint::new();
        at.insert(free.to_string(), c.interval());
        let value = eval_ratfunc(&g, &at);
        let gn = UPoly::from_poly(g.num(), free)
            .ok_or_else(|| Error::Numerical("an axis slope depends on both weights".into()))?;
        // Exactly zero iff the root is a root of gcd(numerator, its defining polynomial).
        let vanishes = gn.is_zero()
            || match &c.root {
                RealRoot::Rational(x) => gn.eval(x).is_zero(),
                RealRoot::Algebraic { poly, lo, hi } => {
                    let g = gn.gcd(poly);
                    g.degree().unwrap_or(0) > 0 && !real_roots(&g, lo, hi, false, false)?.is_empty()
                }
            };
        Ok((value, vanishes))
    };
    let (plus, plus_zero) = side(1)?;
    let (minus, minus_zero) = side(-1)?;
    Ok(AxisSlopes {
        variable: zero.to_string(),
        plus,
        minus,
        plus_zero,
        minus_zero,
    })
}

/// Lowest total degree of a non-zero polynomial's terms.
fn low_degree(p: &Poly) -> u32 {
    p.terms().map(|(m, _)| m.degree()).min().unwrap_or(0)
}

/// The homogeneous part of total degree `k`.
fn homogeneous_part(p: &Poly, k: u32) -> Poly {
    let mut r = Poly::zero();
    for (m, c) in p.terms() {
        if m.degree() == k {
            r.add_assign(&Poly::term(m.clone(), c.clone()));
        }
    }
    r
}

/// The origin: L is constant there; it is stationary when every sector's formula differs
/// from that constant by O(|w|²), and its kind follows from the sign of the degree-2 part on
/// the directions of each sector.
fn origin(
    piece: &Piece,
    l: &RatFunc,
    pieces: &[Piece],
    losses: &[RatFunc],
    rep: &mut PieceReport,
) -> Result<()> {
    let l0 = l
        .num()
        .as_constant()
        .filter(|_| l.den().is_constant())
        .map(|n| n / l.den().as_constant().expect("constant"))
        .ok_or_else(|| Error::Numerical("the origin's formula is not a constant".into()))?;
    // Directions (1, t) and (t, 1), t in [−1, 0] and [0, 1], cover every direction up to ±.
    let edges: [(bool, Q, Q); 4] = [
        (true, -Q::one(), Q::zero()),
        (true, Q::zero(), Q::one()),
        (false, -Q::one(), Q::zero()),
        (false, Q::zero(), Q::one()),
    ];
    let mut signs = Vec::new();
    let mut stationary = true;
    let mut flat = false;
    for (first, lo, hi) in edges {
        let mid = (&lo + &hi) / Q::from_integer(BigInt::from(2));
        let mut p = Point::new();
        let (v1, v2) = if first {
            (Q::one(), mid.clone())
        } else {
            (mid.clone(), Q::one())
        };
        p.insert("w1".into(), v1);
        p.insert("w2".into(), v2);
        let Some(f) = piece_at(pieces, losses, &p) else {
            signs.push(None);
            continue;
        };
        let d = f.den();
        let diffn = f.num().sub(&d.scale(&l0));
        flat |= diffn.is_zero();
        if d.num_terms() != 1 || diffn.is_zero() {
            signs.push(None);
            continue;
        }
        let dd = d.degree();
        let low = low_degree(&diffn);
        if low < dd + 2 {
            stationary = false;
            signs.push(None);
            continue;
        }
        if low > dd + 2 {
            signs.push(None); // the degree-2 part vanishes: higher order decides
            continue;
        }
        let h = homogeneous_part(&diffn, dd + 2);
        let mut sub = BTreeMap::new();
        let t = Poly::var("t");
        if first {
            sub.insert("w1".to_string(), Poly::one());
            sub.insert("w2".to_string(), t);
        } else {
            sub.insert("w1".to_string(), t);
            sub.insert("w2".to_string(), Poly::one());
        }
        let (Some(hn), Some(hd)) = (
            UPoly::from_poly(&h.substitute(&sub), "t"),
            UPoly::from_poly(&d.substitute(&sub), "t"),
        ) else {
            signs.push(None);
            continue;
        };
        if hn.is_zero()
            || hd.is_zero()
            || !real_roots(&hn, &lo, &hi, true, true)?.is_empty()
            || !real_roots(&hd, &lo, &hi, true, true)?.is_empty()
        {
            signs.push(None);
            continue;
        }
        signs.push(Some(hn.sign_at(&mid) * hd.sign_at(&mid)));
    }
    if !stationary {
        rep.note = Some(
            "the origin is not stationary (a sector's formula has a non-zero slope there)".into(),
        );
        return Ok(());
    }
    let kind = if signs.iter().any(|s| s.is_none()) {
        if signs.contains(&Some(1)) && signs.contains(&Some(-1)) {
            Kind::Saddle
        } else {
            Kind::Undetermined
        }
    } else if signs.iter().all(|s| *s == Some(-1)) {
        Kind::Maximum
    } else if signs.iter().all(|s| *s == Some(1)) {
        Kind::Minimum
    } else {
        Kind::Saddle
    };
    if flat {
        rep.note = Some(
            "degenerate: a neighbouring region's loss equals the origin's value identically, \
             so the origin is no strict extremum"
                .into(),
        );
    }
    let z = Coordinate::rational(Q::zero());
    rep.points.push(StationaryPoint {
        region: piece.regions[0].clone(),
        w1: z.clone(),
        w2: z,
        loss: Interval::point(l0),
        kind,
        axis: None,
        mirrored: false,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::poly::q;
    use super::*;

    #[test]
    fn bareiss_matches_cofactor_expansion() {
        let c = |v: &[i64]| UPoly::new(v.iter().map(|&a| q(a, 1)).collect());
        // [[x, 1], [2, x+1]]: det = x² + x − 2.
        let m = vec![vec![c(&[0, 1]), c(&[1])], vec![c(&[2]), c(&[1, 1])]];
        assert_eq!(det_bareiss(m).unwrap(), c(&[-2, 1, 1]));
        // A zero pivot forces a swap: [[0, 1], [1, 0]] has det −1.
        let m = vec![vec![c(&[]), c(&[1])], vec![c(&[1]), c(&[])]];
        assert_eq!(det_bareiss(m).unwrap(), c(&[-1]));
    }

    #[test]
    fn interval_power_straddling_zero() {
        let i = Interval {
            lo: q(-1, 2),
            hi: q(1, 3),
        };
        assert_eq!(
            i.pow(2),
            Interval {
                lo: q(0, 1),
                hi: q(1, 4)
            }
        );
        assert_eq!(
            i.pow(3),
            Interval {
                lo: q(-1, 8),
                hi: q(1, 27)
            }
        );
    }
}
