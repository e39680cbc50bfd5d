//! Scalars the closed forms are generic over: `f64`, and forward-mode dual numbers.
//!
//! Running the closed-form gradient with [`Dual`] inputs seeded along a direction v gives the
//! exact Hessian-vector product H·v (forward mode over the reverse-mode gradient), which is how
//! the crate computes exact Hessians without writing a second set of formulas.

use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub, SubAssign};

/// The arithmetic the closed forms need. Branches (which case of a piecewise formula applies)
/// are decided on [`Real::re`], the value part.
pub trait Real:
    Copy
    + std::fmt::Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + Send
    + Sync
    + 'static
{
    /// A constant.
    fn cst(x: f64) -> Self;
    /// The value part.
    fn re(&self) -> f64;
    /// Zero.
    fn zero() -> Self {
        Self::cst(0.0)
    }
    /// `self · x` for a plain constant.
    fn scale(self, x: f64) -> Self;
    /// Square.
    fn sq(self) -> Self {
        self * self
    }
    /// True when every part (value and derivatives) is exactly zero.
    fn is_exact_zero(&self) -> bool;
    /// Whether only the value matters (no derivative parts): then recurrences may use any
    /// exact identity, even one whose derivative would be ill-conditioned.
    const VALUE_ONLY: bool;
}

impl Real for f64 {
    const VALUE_ONLY: bool = true;
    #[inline(always)]
    fn cst(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn re(&self) -> f64 {
        *self
    }
    #[inline(always)]
    fn scale(self, x: f64) -> Self {
        self * x
    }
    #[inline(always)]
    fn is_exact_zero(&self) -> bool {
        *self == 0.0
    }
}

/// A dual number `v + d·ε` with ε² = 0: the value and one directional derivative.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Dual {
    /// Value.
    pub v: f64,
    /// Directional derivative.
    pub d: f64,
}

impl Dual {
    /// A dual number with value `v` and derivative `d`.
    pub fn new(v: f64, d: f64) -> Self {
        Dual { v, d }
    }
}

impl Real for Dual {
    const VALUE_ONLY: bool = false;
    #[inline(always)]
    fn cst(x: f64) -> Self {
        Dual { v: x, d: 0.0 }
    }
    #[inline(always)]
    fn re(&self) -> f64 {
        self.v
    }
    #[inline(always)]
    fn scale(self, x: f64) -> Self {
        Dual {
            v: self.v * x,
            d: self.d * x,
        }
    }
    #[inline(always)]
    fn is_exact_zero(&self) -> bool {
        self.v == 0.0 && self.d == 0.0
    }
}

impl Add for Dual {
    type Output = Dual;
    #[inline(always)]
    fn add(self, o: Dual) -> Dual {
        Dual {
            v: self.v + o.v,
            d: self.d + o.d,
        }
    }
}

impl Sub for Dual {
    type Output = Dual;
    #[inline(always)]
    fn sub(self, o: Dual) -> Dual {
        Dual {
            v: self.v - o.v,
            d: self.d - o.d,
        }
    }
}

impl Mul for Dual {
    type Output = Dual;
    #[inline(always)]
    fn mul(self, o: Dual) -> Dual {
        Dual {
            v: self.v * o.v,
            d: self.d * o.v + self.v * o.d,
        }
    }
}

impl Div for Dual {
    type Output = Dual;
    #[inline(always)]
    fn div(self, o: Dual) -> Dual {
        let q = self.v / o.v;
        Dual {
            v: q,
            d: (self.d - q * o.d) / o.v,
        }
    }
}

impl Neg for Dual {
    type Output = Dual;
    #[inline(always)]
    fn neg(self) -> Dual {
        Dual {
            v: -self.v,
            d: -self.d,
        }
    }
}

impl AddAssign for Dual {
    #[inline(always)]
    fn add_assign(&mut self, o: Dual) {
        self.v += o.v;
        self.d += o.d;
    }
}

impl SubAssign for Dual {
    #[inline(always)]
    fn sub_assign(&mut self, o: Dual) {
        self.v -= o.v;
        self.d -= o.d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dual_differentiates_a_rational_function() {
        // f(x) = x² / (1 + x); f'(x) = (x² + 2x) / (1 + x)²
        let x = Dual::new(0.7, 1.0);
        let f = x * x / (Dual::cst(1.0) + x);
        assert!((f.d - (0.49 + 1.4) / 1.7f64.powi(2)).abs() < 1e-15);
    }
}
