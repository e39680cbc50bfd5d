//! Complex numbers in [`LANES`] lanes, for the one-dimensional route's trapezoidal sum
//! ([`crate::integrals::onedim`]): it evaluates that many nodes at once, so each member's
//! factor and graded product runs as vector instructions. Plain arrays with per-lane loops
//! that the compiler vectorises; every lane does the same IEEE operations in the same order as
//! scalar `Complex64` code would, so the rounding analysis of the sum is unchanged.

// Index loops over the lanes, the form the vectoriser reads best.
#![allow(clippy::needless_range_loop)]

use num_complex::Complex64 as C;
use std::ops::{Add, Mul, Sub};

/// Nodes per block.
pub const LANES: usize = 4;

/// One real number per lane.
pub type Real = [f64; LANES];

/// One complex number per lane.
#[derive(Debug, Clone, Copy)]
pub struct Lanes {
    pub re: Real,
    pub im: Real,
}

impl Lanes {
    #[inline(always)]
    pub fn splat(z: C) -> Self {
        Lanes {
            re: [z.re; LANES],
            im: [z.im; LANES],
        }
    }

    #[inline(always)]
    pub fn from_fn(mut f: impl FnMut(usize) -> C) -> Self {
        let mut out = Lanes::splat(C::new(0.0, 0.0));
        for l in 0..LANES {
            out.set(l, f(l));
        }
        out
    }

    #[inline(always)]
    pub fn lane(&self, l: usize) -> C {
        C::new(self.re[l], self.im[l])
    }

    #[inline(always)]
    pub fn set(&mut self, l: usize, z: C) {
        self.re[l] = z.re;
        self.im[l] = z.im;
    }

    /// Times a real number per lane.
    #[inline(always)]
    pub fn scale(self, r: Real) -> Self {
        let mut out = self;
        for l in 0..LANES {
            out.re[l] = self.re[l] * r[l];
            out.im[l] = self.im[l] * r[l];
        }
        out
    }

    /// `|re| + |im|` per lane.
    #[inline(always)]
    pub fn norm1(self) -> Real {
        let mut out = [0.0; LANES];
        for l in 0..LANES {
            out[l] = self.re[l].abs() + self.im[l].abs();
        }
        out
    }

    /// Adds `w_l re_l` to `sum` and `w_l r_l (|re_l| + |im_l|)` to `scale`, lane by lane: a
    /// block's contribution to a sum and to its rounding scale, kept in lanes until read.
    #[inline(always)]
    pub fn accumulate(self, w: Real, r: Real, sum: &mut Real, scale: &mut Real) {
        let n1 = self.norm1();
        for l in 0..LANES {
            sum[l] += w[l] * self.re[l];
            scale[l] += w[l] * r[l] * n1[l];
        }
    }

    /// `Σ_l w_l re_l` and `Σ_l w_l r_l (|re_l| + |im_l|)`: a block's contribution to a sum and
    /// to its rounding scale.
    #[inline(always)]
    pub fn weighted(self, w: Real, r: Real) -> (f64, f64) {
        let n1 = self.norm1();
        let (mut s, mut a) = (0.0, 0.0);
        for l in 0..LANES {
            s += w[l] * self.re[l];
            a += w[l] * r[l] * n1[l];
        }
        (s, a)
    }
}

impl Add for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn add(self, o: Lanes) -> Lanes {
        let mut out = self;
        for l in 0..LANES {
            out.re[l] = self.re[l] + o.re[l];
            out.im[l] = self.im[l] + o.im[l];
        }
        out
    }
}

impl Sub for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn sub(self, o: Lanes) -> Lanes {
        let mut out = self;
        for l in 0..LANES {
            out.re[l] = self.re[l] - o.re[l];
            out.im[l] = self.im[l] - o.im[l];
        }
        out
    }
}

impl Mul for Lanes {
    type Output = Lanes;
    /// The textbook product, as `Complex64`'s.
    #[inline(always)]
    fn mul(self, o: Lanes) -> Lanes {
        let mut out = self;
        for l in 0..LANES {
            out.re[l] = self.re[l] * o.re[l] - self.im[l] * o.im[l];
            out.im[l] = self.re[l] * o.im[l] + self.im[l] * o.re[l];
        }
        out
    }
}

impl Mul<f64> for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn mul(self, r: f64) -> Lanes {
        self.scale([r; LANES])
    }
}

impl Add<f64> for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn add(self, r: f64) -> Lanes {
        let mut out = self;
        for l in 0..LANES {
            out.re[l] = self.re[l] + r;
        }
        out
    }
}

impl Sub<f64> for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn sub(self, r: f64) -> Lanes {
        self + (-r)
    }
}

/// One real number per lane, with the arithmetic a graded product needs.
#[derive(Debug, Clone, Copy)]
pub struct Reals(pub Real);

impl Reals {
    #[inline(always)]
    pub fn splat(r: f64) -> Self {
        Reals([r; LANES])
    }
}

impl Add for Reals {
    type Output = Reals;
    #[inline(always)]
    fn add(self, o: Reals) -> Reals {
        let mut out = self;
        for l in 0..LANES {
            out.0[l] = self.0[l] + o.0[l];
        }
        out
    }
}

impl Mul for Reals {
    type Output = Reals;
    #[inline(always)]
    fn mul(self, o: Reals) -> Reals {
        let mut out = self;
        for l in 0..LANES {
            out.0[l] = self.0[l] * o.0[l];
        }
        out
    }
}

/// The sum of the lanes.
#[inline(always)]
pub fn total(r: &Real) -> f64 {
    r.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_match_complex64_bit_for_bit() {
        let a = Lanes::from_fn(|l| C::new(0.3 + l as f64, -1.7 / (l as f64 + 1.0)));
        let b = Lanes::from_fn(|l| C::new(-2.1 * l as f64, 0.9 + l as f64));
        let r = [0.5, 3.0, -1.25, 7.0];
        let prod = (a * b + a - b).scale(r) * 1.5 + 2.0 - 0.25;
        for l in 0..LANES {
            let (x, y) = (a.lane(l), b.lane(l));
            let want = ((x * y + x - y) * r[l]) * 1.5 + 2.0 - 0.25;
            assert_eq!(prod.lane(l), want, "lane {l}");
        }
        let (s, abs) = a.weighted([1.0; LANES], [2.0; LANES]);
        let want_s: f64 = (0..LANES).map(|l| a.re[l]).sum();
        let want_abs: f64 = (0..LANES)
            .map(|l| 2.0 * (a.re[l].abs() + a.im[l].abs()))
            .sum();
        assert_eq!((s, abs), (want_s, want_abs));
    }
}
