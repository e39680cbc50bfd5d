//! Sparse multivariate polynomials with exact rational coefficients and named variables.
//!
//! The one polynomial type of the crate (univariate work converts to [`UPoly`] for Sturm
//! sequences and gcds). Monomials are ordered lexicographically with variables in name order,
//! which makes exact division ([`Poly::div_exact`]) a plain leading-term division.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Zero};

/// A rational number (the coefficient type).
pub type Q = BigRational;

/// `p/q` as a [`Q`].
pub fn q(p: i64, den: i64) -> Q {
    Q::new(BigInt::from(p), BigInt::from(den))
}

/// A monomial: variables sorted by name, each with a positive exponent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Mono(Vec<(Arc<str>, u32)>);

impl Mono {
    /// The monomial 1.
    pub fn one() -> Self {
        Mono(Vec::new())
    }

    /// `name^e` (1 when e = 0).
    pub fn var(name: &str, e: u32) -> Self {
        if e == 0 {
            Mono::one()
        } else {
            Mono(vec![(Arc::from(name), e)])
        }
    }

    /// The (variable, exponent) pairs in name order.
    pub fn factors(&self) -> &[(Arc<str>, u32)] {
        &self.0
    }

    /// Total degree.
    pub fn degree(&self) -> u32 {
        self.0.iter().map(|(_, e)| e).sum()
    }

    /// Exponent of `name`.
    pub fn exponent(&self, name: &str) -> u32 {
        self.0
            .iter()
            .find(|(v, _)| &**v == name)
            .map_or(0, |(_, e)| *e)
    }

    fn mul(&self, o: &Mono) -> Mono {
        // Merge of two name-sorted lists.
        let mut out = Vec::with_capacity(self.0.len() + o.0.len());
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < o.0.len() {
            match self.0[i].0.cmp(&o.0[j].0) {
                Ordering::Less => {
                    out.push(self.0[i].clone());
                    i += 1;
                }
                Ordering::Greater => {
                    out.push(o.0[j].clone());
                    j += 1;
                }
                Ordering::Equal => {
                    out.push((self.0[i].0.clone(), self.0[i].1 + o.0[j].1));
                    i += 1;
                    j += 1;
                }
            }
        }
        out.extend_from_slice(&self.0[i..]);
        out.extend_from_slice(&o.0[j..]);
        Mono(out)
    }

    /// `self / o` when `o` divides `self`.
    fn div(&self, o: &Mono) -> Option<Mono> {
        let mut out = Vec::with_capacity(self.0.len());
        let mut j = 0;
        for (v, e) in &self.0 {
            if j < o.0.len() && o.0[j].0 == *v {
                let f = o.0[j].1;
                if f > *e {
                    return None;
                }
                if f < *e {
                    out.push((v.clone(), e - f));
                }
                j += 1;
            } else if j < o.0.len() && o.0[j].0 < *v {
                return None;
            } else {
                out.push((v.clone(), *e));
            }
        }
        if j < o.0.len() {
            return None;
        }
        Some(Mono(out))
    }

    /// The greatest common divisor of two monomials.
    pub fn gcd(&self, o: &Mono) -> Mono {
        Mono(
            self.0
                .iter()
                .filter_map(|(v, e)| {
                    let f = o.exponent(v);
                    (f > 0).then(|| (v.clone(), (*e).min(f)))
                })
                .collect(),
        )
    }
}

impl Ord for Mono {
    /// Lexicographic order with variables in name order: `a > b` when, at the first variable
    /// (by name) where the exponents differ, `a` has the larger one.
    fn cmp(&self, o: &Self) -> Ordering {
        let (mut i, mut j) = (0, 0);
        loop {
            match (self.0.get(i), o.0.get(j)) {
                (None, None) => return Ordering::Equal,
                (Some(_), None) => return Ordering::Greater,
                (None, Some(_)) => return Ordering::Less,
                (Some((va, ea)), Some((vb, eb))) => match va.cmp(vb) {
                    Ordering::Less => return Ordering::Greater,
                    Ordering::Greater => return Ordering::Less,
                    Ordering::Equal => {
                        if ea != eb {
                            return ea.cmp(eb);
                        }
                        i += 1;
                        j += 1;
                    }
                },
            }
        }
    }
}

impl PartialOrd for Mono {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// A polynomial: monomial → non-zero coefficient.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Poly {
    terms: BTreeMap<Mono, Q>,
}

impl Poly {
    /// The zero polynomial.
    pub fn zero() -> Self {
        Poly::default()
    }

    /// A constant.
    pub fn constant(c: Q) -> Self {
        let mut p = Poly::zero();
        p.add_term(Mono::one(), c);
        p
    }

    /// The constant 1.
    pub fn one() -> Self {
        Poly::constant(Q::one())
    }

    /// The variable `name`.
    pub fn var(name: &str) -> Self {
        let mut p = Poly::zero();
        p.add_term(Mono::var(name, 1), Q::one());
        p
    }

    /// `c · mono`.
    pub fn term(mono: Mono, c: Q) -> Self {
        let mut p = Poly::zero();
        p.add_term(mono, c);
        p
    }

    fn add_term(&mut self, mono: Mono, c: Q) {
        if c.is_zero() {
            return;
        }
        use std::collections::btree_map::Entry;
        match self.terms.entry(mono) {
            Entry::Vacant(v) => {
                v.insert(c);
            }
            Entry::Occupied(mut o) => {
                *o.get_mut() += c;
                if o.get().is_zero() {
                    o.remove();
                }
            }
        }
    }

    /// The (monomial, coefficient) pairs in increasing monomial order.
    pub fn terms(&self) -> impl DoubleEndedIterator<Item = (&Mono, &Q)> {
        self.terms.iter()
    }

    /// Number of terms.
    pub fn num_terms(&self) -> usize {
        self.terms.len()
    }

    /// True for the zero polynomial.
    pub fn is_zero(&self) -> bool {
        self.terms.is_empty()
    }

    /// The value when the polynomial is a constant.
    pub fn as_constant(&self) -> Option<Q> {
        match self.terms.len() {
            0 => Some(Q::zero()),
            1 => self.terms.get(&Mono::one()).cloned(),
            _ => None,
        }
    }

    /// True when no variable occurs.
    pub fn is_constant(&self) -> bool {
        self.as_constant().is_some()
    }

    /// The leading (largest) monomial and its coefficient.
    pub fn leading(&self) -> Option<(&Mono, &Q)> {
        self.terms.iter().next_back()
    }

    /// Total degree (0 for constants and for zero).
    pub fn degree(&self) -> u32 {
        self.terms.keys().map(Mono::degree).max().unwrap_or(0)
    }

    /// Degree in one variable.
    pub fn degree_in(&self, name: &str) -> u32 {
        self.terms
            .keys()
            .map(|m| m.exponent(name))
            .max()
            .unwrap_or(0)
    }

    /// The variables that occur.
    pub fn variables(&self) -> BTreeSet<String> {
        self.terms
            .keys()
            .flat_map(|m| m.0.iter().map(|(v, _)| v.to_string()))
            .collect()
    }

    /// `self + o`.
    pub fn add(&self, o: &Poly) -> Poly {
        let mut r = self.clone();
        r.add_assign(o);
        r
    }

    /// `self += o` in place.
    pub fn add_assign(&mut self, o: &Poly) {
        for (m, c) in &o.terms {
            self.add_term(m.clone(), c.clone());
        }
    }

    /// `self += c · m · o` in place.
    fn add_scaled(&mut self, c: &Q, m: &Mono, o: &Poly) {
        for (mo, co) in &o.terms {
            self.add_term(m.mul(mo), c * co);
        }
    }

    /// `self − o`.
    pub fn sub(&self, o: &Poly) -> Poly {
        self.add(&o.neg())
    }

    /// `−self`.
    pub fn neg(&self) -> Poly {
        self.scale(&-Q::one())
    }

    /// `c · self`.
    pub fn scale(&self, c: &Q) -> Poly {
        if c.is_zero() {
            return Poly::zero();
        }
        Poly {
            terms: self.terms.iter().map(|(m, x)| (m.clone(), x * c)).collect(),
        }
    }

    /// `self · o`.
    pub fn mul(&self, o: &Poly) -> Poly {
        let mut r = Poly::zero();
        for (ma, ca) in &self.terms {
            for (mb, cb) in &o.terms {
                r.add_term(ma.mul(mb), ca * cb);
            }
        }
        r
    }

    /// `self^k`.
    pub fn pow(&self, k: u32) -> Poly {
        let mut r = Poly::one();
        let mut base = self.clone();
        let mut k = k;
        while k > 0 {
            if k & 1 == 1 {
                r = r.mul(&base);
            }
            k >>= 1;
            if k > 0 {
                base = base.mul(&base);
            }
        }
        r
    }

    /// The value at a point; `None` when a variable has no value.
    pub fn eval(&self, point: &BTreeMap<String, Q>) -> Option<Q> {
        let mut acc = Q::zero();
        for (m, c) in &self.terms {
            let mut t = c.clone();
            for (v, e) in &m.0 {
                t *= num_traits::pow(point.get(&**v)?.clone(), *e as usize);
            }
            acc += t;
        }
        Some(acc)
    }

    /// Replaces variables by polynomials (variables without a replacement stay).
    pub fn substitute(&self, with: &BTreeMap<String, Poly>) -> Poly {
        let mut r = Poly::zero();
        for (m, c) in &self.terms {
            let mut t = Poly::constant(c.clone());
            for (v, e) in &m.0 {
                match with.get(&**v) {
                    Some(p) => t = t.mul(&p.pow(*e)),
                    None => t = t.mul(&Poly::term(Mono::var(v, *e), Q::one())),
                }
            }
            r = r.add(&t);
        }
        r
    }

    /// The largest monomial dividing every term (1 for zero).
    pub fn monomial_content(&self) -> Mono {
        let mut it = self.terms.keys();
        let Some(first) = it.next() else {
            return Mono::one();
        };
        it.fold(first.clone(), |g, m| g.gcd(m))
    }

    /// Divides every term by a monomial that divides them all.
    pub fn div_monomial(&self, m: &Mono) -> Poly {
        Poly {
            terms: self
                .terms
                .iter()
                .map(|(k, c)| (k.div(m).expect("monomial divides every term"), c.clone()))
                .collect(),
        }
    }

    /// The positive rational `c` with `self / c` having coprime integer coefficients
    /// (1 for zero).
    pub fn content(&self) -> Q {
        let mut num = BigInt::zero();
        let mut den = BigInt::one();
        for c in self.terms.values() {
            num = num.gcd(c.numer());
            den = den.lcm(c.denom());
        }
        if num.is_zero() {
            Q::one()
        } else {
            Q::new(num, den)
        }
    }

    /// `self / o` when the division is exact, else `None` (`o ≠ 0`).
    pub fn div_exact(&self, o: &Poly) -> Option<Poly> {
        let (lm, lc) = o.leading()?;
        let (lm, lc) = (lm.clone(), lc.clone());
        let mut rem = self.clone();
        let mut quo = Poly::zero();
        // Bounded: every step removes the current leading monomial of `rem`; the subtraction
        // is in place so a step costs the divisor's size, not the remainder's.
        let neg_one = -Q::one();
        while let Some((m, c)) = rem.leading() {
            let qm = m.div(&lm)?;
            let qc = c / &lc;
            rem.add_scaled(&(&qc * &neg_one), &qm, o);
            quo.add_term(qm, qc);
        }
        Some(quo)
    }
}

impl fmt::Display for Poly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&super::print::poly(self, super::print::Style::Plain))
    }
}

/// A univariate polynomial, dense, coefficients in increasing degree (no trailing zeros).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UPoly {
    c: Vec<Q>,
}

impl UPoly {
    /// From coefficients `c[k]` of `x^k`.
    pub fn new(mut c: Vec<Q>) -> Self {
        while c.last().is_some_and(|x| x.is_zero()) {
            c.pop();
        }
        UPoly { c }
    }

    /// The coefficients in increasing degree.
    pub fn coeffs(&self) -> &[Q] {
        &self.c
    }

    /// Degree (`None` for zero).
    pub fn degree(&self) -> Option<usize> {
        self.c.len().checked_sub(1)
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.c.is_empty()
    }

    /// `p(x)` by Horner's rule.
    pub fn eval(&self, x: &Q) -> Q {
        self.c.iter().rev().fold(Q::zero(), |acc, a| acc * x + a)
    }

    /// The sign of `p(x)` (−1, 0, 1).
    ///
    /// # Formula
    /// With `x = u/v` (`v > 0`) and `L > 0` the lcm of the coefficients' denominators, the sign
    /// of `p(x)` is that of the integer `L·v^d·p(u/v) = Σ_k (L a_k) u^k v^{d−k}`, computed by
    /// homogeneous Horner steps in integers: no rational normalisation (gcd) per step, which
    /// dominated root refinement to 10⁻⁴⁰.
    pub fn sign_at(&self, x: &Q) -> i32 {
        let Some(d) = self.degree() else {
            return 0;
        };
        let l = self
            .c
            .iter()
            .fold(BigInt::one(), |acc, a| acc.lcm(a.denom()));
        let (u, v) = (x.numer(), x.denom());
        let int = |a: &Q| (a * Q::from_integer(l.clone())).to_integer();
        let mut acc = int(&self.c[d]);
        let mut vp = BigInt::one();
        for k in (0..d).rev() {
            vp *= v;
            acc = acc * u + int(&self.c[k]) * &vp;
        }
        match acc.sign() {
            num_bigint::Sign::Minus => -1,
            num_bigint::Sign::NoSign => 0,
            num_bigint::Sign::Plus => 1,
        }
    }

    /// `p'`.
    pub fn derivative(&self) -> UPoly {
        UPoly::new(
            self.c
                .iter()
                .enumerate()
                .skip(1)
                .map(|(k, a)| a * Q::from_integer(BigInt::from(k)))
                .collect(),
        )
    }

    /// Quotient and remainder of Euclidean division (`d ≠ 0`).
    pub fn div_rem(&self, d: &UPoly) -> (UPoly, UPoly) {
        let dd = d.degree().expect("division by zero polynomial");
        let lead = d.c[dd].clone();
        let mut r = self.c.clone();
        let mut quo = vec![Q::zero(); self.c.len().saturating_sub(dd).max(1)];
        while r.len() > dd && !r.is_empty() {
            let k = r.len() - 1;
            let t = &r[k] / &lead;
            if !t.is_zero() {
                for (j, dj) in d.c.iter().enumerate() {
                    r[k - dd + j] -= &t * dj;
                }
                quo[k - dd] = t;
            }
            r.pop();
            while r.last().is_some_and(|x| x.is_zero()) {
                r.pop();
            }
        }
        (UPoly::new(quo), UPoly::new(r))
    }

    /// The monic gcd (zero only when both are zero).
    pub fn gcd(&self, o: &UPoly) -> UPoly {
        let (mut a, mut b) = (self.clone(), o.clone());
        while !b.is_zero() {
            let r = a.div_rem(&b).1;
            a = b;
            b = r;
        }
        a.monic()
    }

    /// Divided by its leading coefficient (zero stays zero).
    pub fn monic(&self) -> UPoly {
        match self.c.last() {
            None => self.clone(),
            Some(l) => UPoly::new(self.c.iter().map(|x| x / l).collect()),
        }
    }

    /// The squarefree part `p / gcd(p, p')`, monic.
    pub fn squarefree(&self) -> UPoly {
        let g = self.gcd(&self.derivative());
        if g.degree().unwrap_or(0) == 0 {
            return self.monic();
        }
        self.div_rem(&g).0.monic()
    }

    /// As a [`Poly`] in the variable `name`.
    pub fn to_poly(&self, name: &str) -> Poly {
        let mut p = Poly::zero();
        for (k, a) in self.c.iter().enumerate() {
            p.add_term(Mono::var(name, k as u32), a.clone());
        }
        p
    }

    /// From a [`Poly`] whose only variable (if any) is `name`.
    pub fn from_poly(p: &Poly, name: &str) -> Option<UPoly> {
        let mut c = vec![Q::zero(); p.degree_in(name) as usize + 1];
        for (m, a) in p.terms() {
            if m.0.iter().any(|(v, _)| &**v != name) {
                return None;
            }
            c[m.exponent(name) as usize] = a.clone();
        }
        Some(UPoly::new(c))
    }
}

/// Coefficients of `p` as a polynomial in `name`: `p = Σ_k out[k] · name^k`.
pub fn coefficients_in(p: &Poly, name: &str) -> Vec<Poly> {
    let mut out = vec![Poly::zero(); p.degree_in(name) as usize + 1];
    for (m, c) in p.terms() {
        let k = m.exponent(name);
        let rest = Mono(m.0.iter().filter(|(v, _)| &**v != name).cloned().collect());
        out[k as usize].add_term(rest, c.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_and_division() {
        let x = Poly::var("x");
        let y = Poly::var("y");
        let a = x.add(&y).pow(3);
        assert_eq!(a.num_terms(), 4);
        let b = x.sub(&y);
        let prod = a.mul(&b);
        assert_eq!(prod.div_exact(&b), Some(a.clone()));
        assert_eq!(prod.div_exact(&a), Some(b.clone()));
        assert_eq!(a.div_exact(&b), None);
        let mut pt = BTreeMap::new();
        pt.insert("x".to_string(), q(1, 2));
        pt.insert("y".to_string(), q(-3, 1));
        assert_eq!(prod.eval(&pt).unwrap(), q(-125, 8) * q(7, 2));
        assert!(a.sub(&a).is_zero());
    }

    #[test]
    fn univariate_gcd_and_squarefree() {
        // (x − 1)²(x + 2) and (x − 1)(x − 3): gcd x − 1.
        let p = UPoly::new(vec![q(2, 1), q(-3, 1), q(0, 1), q(1, 1)]);
        let r = UPoly::new(vec![q(3, 1), q(-4, 1), q(1, 1)]);
        assert_eq!(p.gcd(&r), UPoly::new(vec![q(-1, 1), q(1, 1)]));
        assert_eq!(p.squarefree(), UPoly::new(vec![q(-2, 1), q(1, 1), q(1, 1)]));
    }
}
