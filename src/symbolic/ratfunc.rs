//! Rational functions `num / den` over [`Poly`], kept normalised.
//!
//! Normalisation (see [`RatFunc::normalize`]): the denominator is made primitive with integer
//! coefficients and a positive leading coefficient, common monomial factors are cancelled, a
//! denominator that divides the numerator is divided out, and when both sides are univariate
//! in the same variable their gcd is cancelled. Multivariate gcds are not computed in general;
//! callers that know candidate factors (the loss's Gram entries) cancel them with
//! [`RatFunc::cancel`].

use std::collections::BTreeMap;

use num_traits::{One, Signed, Zero};

use super::poly::{Poly, UPoly, Q};

/// `num / den`, `den ≠ 0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RatFunc {
    num: Poly,
    den: Poly,
}

impl RatFunc {
    /// `num / den`, normalised. Panics if `den` is the zero polynomial (a programming error:
    /// every caller builds denominators from factors it has checked to be non-zero).
    pub fn new(num: Poly, den: Poly) -> Self {
        assert!(!den.is_zero(), "rational function with zero denominator");
        let mut r = RatFunc { num, den };
        r.normalize();
        r
    }

    /// A polynomial as a rational function.
    pub fn poly(p: Poly) -> Self {
        RatFunc::new(p, Poly::one())
    }

    /// Zero.
    pub fn zero() -> Self {
        RatFunc::poly(Poly::zero())
    }

    /// The numerator.
    pub fn num(&self) -> &Poly {
        &self.num
    }

    /// The denominator (primitive, integer coefficients, positive leading coefficient).
    pub fn den(&self) -> &Poly {
        &self.den
    }

    /// True when the denominator is 1.
    pub fn is_poly(&self) -> bool {
        self.den.as_constant().is_some_and(|c| c.is_one())
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.num.is_zero()
    }

    /// Brings the fraction to the normal form described in the module documentation.
    pub fn normalize(&mut self) {
        if self.num.is_zero() {
            self.den = Poly::one();
            return;
        }
        let g = self
            .num
            .monomial_content()
            .gcd(&self.den.monomial_content());
        if g.degree() > 0 {
            self.num = self.num.div_monomial(&g);
            self.den = self.den.div_monomial(&g);
        }
        if !self.den.is_constant() {
            if let Some(qt) = self.num.div_exact(&self.den) {
                self.num = qt;
                self.den = Poly::one();
            } else {
                self.univariate_gcd();
            }
        }
        // Scale so the denominator is primitive with a positive leading coefficient.
        let mut c = self.den.content();
        if self.den.leading().expect("non-zero").1.is_negative() {
            c = -c;
        }
        if !c.is_one() {
            let inv = Q::one() / c;
            self.num = self.num.scale(&inv);
            self.den = self.den.scale(&inv);
        }
    }

    fn univariate_gcd(&mut self) {
        let vars = self.den.variables();
        if vars.len() != 1 {
            return;
        }
        let v = vars.iter().next().expect("one variable").clone();
        let (Some(a), Some(b)) = (
            UPoly::from_poly(&self.num, &v),
            UPoly::from_poly(&self.den, &v),
        ) else {
            return;
        };
        let g = a.gcd(&b);
        if g.degree().unwrap_or(0) > 0 {
            self.num = a.div_rem(&g).0.to_poly(&v);
            self.den = b.div_rem(&g).0.to_poly(&v);
        }
    }

    /// Cancels each candidate factor as often as it divides both sides.
    pub fn cancel(&mut self, factors: &[Poly]) {
        for f in factors {
            if f.is_constant() {
                continue;
            }
            while let (Some(a), Some(b)) = (self.num.div_exact(f), self.den.div_exact(f)) {
                if self.num.is_zero() {
                    break;
                }
                self.num = a;
                self.den = b;
            }
        }
        self.normalize();
    }

    /// `self + o` over the product of the denominators (or the common one when equal).
    pub fn add(&self, o: &RatFunc) -> RatFunc {
        if self.den == o.den {
            return RatFunc::new(self.num.add(&o.num), self.den.clone());
        }
        RatFunc::new(
            self.num.mul(&o.den).add(&o.num.mul(&self.den)),
            self.den.mul(&o.den),
        )
    }

    /// `self − o`.
    pub fn sub(&self, o: &RatFunc) -> RatFunc {
        self.add(&o.neg())
    }

    /// `−self`.
    pub fn neg(&self) -> RatFunc {
        RatFunc {
            num: self.num.neg(),
            den: self.den.clone(),
        }
    }

    /// `self · o`.
    pub fn mul(&self, o: &RatFunc) -> RatFunc {
        RatFunc::new(self.num.mul(&o.num), self.den.mul(&o.den))
    }

    /// The value at a point: `None` when a variable is missing or the denominator vanishes.
    pub fn eval(&self, point: &BTreeMap<String, Q>) -> Option<Q> {
        let d = self.den.eval(point)?;
        if d.is_zero() {
            return None;
        }
        Some(self.num.eval(point)? / d)
    }

    /// Replaces variables by polynomials.
    pub fn substitute(&self, with: &BTreeMap<String, Poly>) -> Option<RatFunc> {
        let den = self.den.substitute(with);
        if den.is_zero() {
            return None;
        }
        Some(RatFunc::new(self.num.substitute(with), den))
    }
}

#[cfg(test)]
mod tests {
    use super::super::poly::q;
    use super::*;

    #[test]
    fn normal_form() {
        let x = Poly::var("x");
        let y = Poly::var("y");
        // (x²y − xy²)/(2xy) = (x − y)/2
        let r = RatFunc::new(
            x.pow(2).mul(&y).sub(&x.mul(&y.pow(2))),
            x.mul(&y).scale(&q(2, 1)),
        );
        assert!(r.is_poly());
        assert_eq!(r.num(), &x.sub(&y).scale(&q(1, 2)));
        // (x² − 1)/(−2x − 2) = (1 − x)/2
        let r = RatFunc::new(
            x.pow(2).sub(&Poly::one()),
            x.scale(&q(-2, 1)).sub(&Poly::constant(q(2, 1))),
        );
        assert_eq!(r.num(), &Poly::one().sub(&x).scale(&q(1, 2)));
        // 1/x + 1/y = (x + y)/(xy)
        let s = RatFunc::new(Poly::one(), x.clone()).add(&RatFunc::new(Poly::one(), y.clone()));
        assert_eq!(s.den(), &x.mul(&y));
    }
}
