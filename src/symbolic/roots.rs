//! Exact real-root isolation of univariate rational polynomials: Sturm sequences and rational
//! bisection, rational roots recognised exactly, any root refined to any number of digits.

use std::fmt;

use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{One, Signed, ToPrimitive, Zero};

use super::poly::{UPoly, Q};
use crate::error::{Error, Result};

/// Largest |leading coefficient| whose divisors are enumerated to recognise rational roots
/// (trial division up to its square root, ≤ 10⁶ steps).
const DIVISOR_LIMIT: u64 = 1_000_000_000_000;

/// One real root, exactly.
#[derive(Debug, Clone, PartialEq)]
pub enum RealRoot {
    /// A rational root.
    Rational(Q),
    /// The only root of the squarefree `poly` in the open interval `(lo, hi)`; `poly` does not
    /// vanish at `lo` or `hi`, and has no rational root there.
    Algebraic { poly: UPoly, lo: Q, hi: Q },
}

impl RealRoot {
    /// A rational lower bound (the root itself when rational).
    pub fn lower(&self) -> &Q {
        match self {
            RealRoot::Rational(x) => x,
            RealRoot::Algebraic { lo, .. } => lo,
        }
    }

    /// A rational upper bound (the root itself when rational).
    pub fn upper(&self) -> &Q {
        match self {
            RealRoot::Rational(x) => x,
            RealRoot::Algebraic { hi, .. } => hi,
        }
    }

    /// Halves the isolating interval until it is narrower than `width`.
    pub fn refine(&mut self, width: &Q) {
        while let RealRoot::Algebraic { poly, lo, hi } = self {
            if &(&*hi - &*lo) < width {
                return;
            }
            let mid = (&*lo + &*hi) / Q::from_integer(BigInt::from(2));
            let sm = poly.sign_at(&mid);
            if sm == 0 {
                *self = RealRoot::Rational(mid);
                return;
            }
            if sm == poly.sign_at(lo) {
                *lo = mid;
            } else {
                *hi = mid;
            }
        }
    }

    /// A nearest-ish f64 (within the interval's width once refined to 1e-30).
    pub fn to_f64(&self) -> f64 {
        let mut r = self.clone();
        r.refine(&Q::new(BigInt::one(), BigInt::from(10).pow(30)));
        let mid = (r.lower() + r.upper()) / Q::from_integer(BigInt::from(2));
        mid.to_f64().unwrap_or(f64::NAN)
    }

    /// The decimal expansion truncated (toward zero) after `digits` digits; every printed
    /// digit is exact.
    pub fn decimal(&self, digits: usize) -> String {
        let scale = Q::from_integer(BigInt::from(10).pow(digits as u32));
        let mut r = self.clone();
        loop {
            match &r {
                RealRoot::Rational(x) => return decimal_of(x, digits),
                RealRoot::Algebraic { poly, lo, hi } => {
                    // Truncations of both ends agree (and the root is not exactly a decimal of
                    // this length, which would be a rational root): done.
                    let a = (lo * &scale).trunc();
                    let b = (hi * &scale).trunc();
                    let same_side = !(lo.is_negative() && hi.is_positive());
                    if a == b && same_side {
                        return decimal_of(&(a / &scale), digits);
                    }
                    // A decimal of this length inside the interval might be the root itself.
                    let cand = (lo * &scale).ceil() / &scale;
                    if &cand < hi && poly.sign_at(&cand) == 0 {
                        r = RealRoot::Rational(cand);
                        continue;
                    }
                    let w = (hi - lo) / Q::from_integer(BigInt::from(2));
                    r.refine(&w);
                }
            }
        }
    }
}

impl fmt::Display for RealRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RealRoot::Rational(x) => write!(f, "{x}"),
            RealRoot::Algebraic { .. } => write!(f, "{}", self.decimal(20)),
        }
    }
}

/// `x` truncated toward zero to `digits` decimals, written out.
pub fn decimal_of(x: &Q, digits: usize) -> String {
    let scale = BigInt::from(10).pow(digits as u32);
    let t = (x * Q::from_integer(scale.clone())).trunc().to_integer();
    let neg = x.is_negative();
    let a = t.abs();
    let (int, frac) = a.div_rem(&scale);
    let sign = if neg { "-" } else { "" };
    if digits == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{:0>width$}", frac.to_string(), width = digits)
    }
}

/// The Sturm sequence `p₀ = p, p₁ = p', p_{k+1} = −rem(p_{k−1}, p_k)`.
pub fn sturm(p: &UPoly) -> Vec<UPoly> {
    // Each member divided by its (positive) content: same signs everywhere, and the
    // coefficients of the remainder sequence stay small instead of growing with every step.
    let primitive = |u: &UPoly| {
        let c = u.to_poly("x").content();
        UPoly::new(u.coeffs().iter().map(|a| a / &c).collect())
    };
    let mut seq = vec![primitive(p), primitive(&p.derivative())];
    while !seq.last().expect("non-empty").is_zero() {
        let k = seq.len();
        let r = seq[k - 2].div_rem(&seq[k - 1]).1;
        if r.is_zero() {
            break;
        }
        seq.push(primitive(&UPoly::new(
            r.coeffs().iter().map(|c| -c).collect(),
        )));
    }
    seq.retain(|x| !x.is_zero());
    seq
}

fn variations(seq: &[UPoly], x: &Q) -> usize {
    let signs: Vec<i32> = seq
        .iter()
        .map(|p| p.sign_at(x))
        .filter(|&s| s != 0)
        .collect();
    signs.windows(2).filter(|w| w[0] != w[1]).count()
}

/// Positive divisors of `n` (n ≤ [`DIVISOR_LIMIT`]), or `None` when too large to enumerate.
fn divisors(n: &BigInt) -> Option<Vec<BigInt>> {
    let v = n.abs().to_u64()?;
    if v == 0 || v > DIVISOR_LIMIT {
        return None;
    }
    let mut out = Vec::new();
    let mut d = 1u64;
    while d * d <= v {
        if v % d == 0 {
            out.push(BigInt::from(d));
            if d * d != v {
                out.push(BigInt::from(v / d));
            }
        }
        d += 1;
    }
    Some(out)
}

/// The integer-coefficient leading coefficient of `p` (after clearing denominators).
fn integer_leading(p: &UPoly) -> BigInt {
    let l = p
        .coeffs()
        .iter()
        .fold(BigInt::one(), |acc, c| acc.lcm(c.denom()));
    let lead = p.coeffs().last().expect("non-zero");
    (lead * Q::from_integer(l)).to_integer()
}

/// The real roots of `p` (not the zero polynomial) in the interval from `lo` to `hi`
/// (`lo < hi`), each end open or closed, in increasing order, each root once.
///
/// # Formula
/// Sturm's theorem: for squarefree `p` and non-roots `a < b`, the number of roots in `(a, b)`
/// is `V(a) − V(b)` (sign variations of the Sturm sequence). Intervals with more than one
/// root are bisected at rational midpoints; a rational root `u/v` in lowest terms of the
/// integer-coefficient `p` has `v | a_n`, so each isolating interval narrower than `1/v`
/// contains at most one candidate `u/v` per divisor `v`, and it is tested exactly.
pub fn real_roots(
    p: &UPoly,
    lo: &Q,
    hi: &Q,
    lo_closed: bool,
    hi_closed: bool,
) -> Result<Vec<RealRoot>> {
    if p.is_zero() {
        return Err(Error::invalid(
            "the zero polynomial has every number as a root",
        ));
    }
    let mut sf = p.squarefree();
    let mut out = Vec::new();
    let mut last = None;
    for (x, closed) in [(lo, lo_closed), (hi, hi_closed)] {
        if sf.sign_at(x) == 0 {
            sf = sf.div_rem(&UPoly::new(vec![-x.clone(), Q::one()])).0;
            if closed {
                if x == lo {
                    out.push(RealRoot::Rational(x.clone()));
                } else {
                    last = Some(RealRoot::Rational(x.clone()));
                }
            }
        }
    }
    if sf.degree().unwrap_or(0) > 0 {
        let seq = sturm(&sf);
        let dens = divisors(&integer_leading(&sf));
        isolate(&sf, &seq, lo.clone(), hi.clone(), dens.as_deref(), &mut out);
    }
    out.extend(last);
    Ok(out)
}

fn isolate(p: &UPoly, seq: &[UPoly], a: Q, b: Q, dens: Option<&[BigInt]>, out: &mut Vec<RealRoot>) {
    let count = variations(seq, &a).saturating_sub(variations(seq, &b));
    if count == 0 {
        return;
    }
    if count == 1 {
        out.push(recognise(p, a, b, dens));
        return;
    }
    let mid = (&a + &b) / Q::from_integer(BigInt::from(2));
    if p.sign_at(&mid) == 0 {
        // Step off the rational root until (mid − δ, mid + δ) holds no other root, so both
        // halves again have non-root ends.
        let mut delta = (&b - &a) / Q::from_integer(BigInt::from(4));
        loop {
            let (l, h) = (&mid - &delta, &mid + &delta);
            if p.sign_at(&l) != 0
                && p.sign_at(&h) != 0
                && variations(seq, &l).saturating_sub(variations(seq, &h)) == 1
            {
                isolate(p, seq, a, l, dens, out);
                out.push(RealRoot::Rational(mid));
                isolate(p, seq, h, b, dens, out);
                return;
            }
            delta /= Q::from_integer(BigInt::from(2));
        }
    } else {
        isolate(p, seq, a, mid.clone(), dens, out);
        isolate(p, seq, mid, b, dens, out);
    }
}

/// The root isolated in `(a, b)`: rational when it is one (see [`real_roots`]).
fn recognise(p: &UPoly, a: Q, b: Q, dens: Option<&[BigInt]>) -> RealRoot {
    if p.degree() == Some(1) {
        let c = p.coeffs();
        return RealRoot::Rational(-&c[0] / &c[1]);
    }
    let mut root = RealRoot::Algebraic {
        poly: p.clone(),
        lo: a,
        hi: b,
    };
    let Some(dens) = dens else {
        return root;
    };
    let vmax = dens.iter().max().cloned().unwrap_or_else(BigInt::one);
    // Narrower than 1/vmax²: two distinct candidates u/v, u'/v' differ by ≥ 1/(v v').
    root.refine(&Q::new(BigInt::one(), &vmax * &vmax));
    let RealRoot::Algebraic { lo, hi, .. } = &root else {
        return root;
    };
    for v in dens {
        let vq = Q::from_integer(v.clone());
        let u = (lo * &vq).floor() + Q::one();
        let cand = u / &vq;
        if &cand < hi && p.sign_at(&cand) == 0 {
            return RealRoot::Rational(cand);
        }
    }
    root
}

/// The index sympy's `CRootOf(poly, k)` gives this root: the number of real roots of its
/// polynomial below it (0 for a rational root, which needs no `CRootOf`).
pub fn crootof_index(root: &RealRoot) -> usize {
    match root {
        RealRoot::Rational(_) => 0,
        RealRoot::Algebraic { poly, lo, .. } => {
            let seq = sturm(poly);
            let b = -root_bound(poly);
            variations(&seq, &b).saturating_sub(variations(&seq, lo))
        }
    }
}

/// An upper bound on |x| over all complex roots (Cauchy): `1 + max |a_k / a_n|`.
pub fn root_bound(p: &UPoly) -> Q {
    let c = p.coeffs();
    let lead = c.last().expect("non-zero").abs();
    Q::one()
        + c[..c.len() - 1]
            .iter()
            .map(|a| a.abs() / &lead)
            .max()
            .unwrap_or_else(Q::zero)
}

#[cfg(test)]
mod tests {
    use super::super::poly::q;
    use super::*;

    fn up(c: &[(i64, i64)]) -> UPoly {
        UPoly::new(c.iter().map(|&(a, b)| q(a, b)).collect())
    }

    #[test]
    fn isolates_rational_and_irrational_roots() {
        // (7x − 4)(x² − 2)(x − 1): roots 4/7, ±√2, 1.
        let p = up(&[(-4, 1), (7, 1)]);
        let p = UPoly::new(
            crate::symbolic::poly::Poly::mul(
                &p.to_poly("x"),
                &up(&[(-2, 1), (0, 1), (1, 1)]).to_poly("x"),
            )
            .mul(&up(&[(-1, 1), (1, 1)]).to_poly("x"))
            .terms()
            .fold(vec![q(0, 1); 5], |mut v, (m, c)| {
                v[m.exponent("x") as usize] = c.clone();
                v
            }),
        );
        let r = real_roots(&p, &q(0, 1), &q(1, 1), false, true).unwrap();
        assert_eq!(
            r,
            vec![RealRoot::Rational(q(4, 7)), RealRoot::Rational(q(1, 1))]
        );
        let r = real_roots(&p, &q(-2, 1), &q(2, 1), true, true).unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].decimal(12), "-1.414213562373");
        assert_eq!(r[3].decimal(30), "1.414213562373095048801688724209");
        assert_eq!(decimal_of(&q(4, 7), 5), "0.57142");
    }
}
