//! One-dimensional root finding with argmin's Brent method (this module is the only argmin
//! user, so studies that need a root — phase boundaries — come here).

use argmin::core::{CostFunction, Error as ArgminError, Executor};
use argmin::solver::brent::BrentRoot;

use crate::error::{Error, Result};

/// Most Brent iterations (it converges superlinearly; bisection alone needs ~60 for f64).
const MAX_ITERS: u64 = 200;

struct Scalar<'a> {
    f: &'a dyn Fn(f64) -> Result<f64>,
}

impl CostFunction for Scalar<'_> {
    type Param = f64;
    type Output = f64;
    fn cost(&self, x: &f64) -> std::result::Result<f64, ArgminError> {
        match (self.f)(*x) {
            Ok(v) if v.is_finite() => Ok(v),
            Ok(v) => Err(ArgminError::msg(format!("the function is {v} at {x}"))),
            Err(e) => Err(ArgminError::msg(e.to_string())),
        }
    }
}

/// A root of `f` in `[a, b]`, where `f(a)` and `f(b)` have opposite signs (or one is 0),
/// located by Brent's method to an absolute tolerance `tol` in x.
pub fn brent(f: &dyn Fn(f64) -> Result<f64>, a: f64, b: f64, tol: f64) -> Result<f64> {
    if !(a.is_finite() && b.is_finite() && a < b && tol > 0.0) {
        return Err(Error::invalid(format!(
            "root finding needs a finite interval a < b and a positive tolerance (got [{a}, {b}], tol {tol})"
        )));
    }
    let (fa, fb) = (f(a)?, f(b)?);
    if fa == 0.0 {
        return Ok(a);
    }
    if fb == 0.0 {
        return Ok(b);
    }
    if fa.signum() == fb.signum() {
        return Err(Error::invalid(format!(
            "no sign change of the function on [{a}, {b}] ({fa:e} and {fb:e})"
        )));
    }
    let solver = BrentRoot::new(a, b, tol);
    let res = Executor::new(Scalar { f }, solver)
        .configure(|s| s.param(b).max_iters(MAX_ITERS))
        .run()
        .map_err(|e| Error::Numerical(format!("root finding on [{a}, {b}] failed: {e}")))?;
    res.state
        .best_param
        .or(res.state.param)
        .ok_or_else(|| Error::Numerical(format!("root finding on [{a}, {b}] returned no point")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_rational_root() {
        let f = |x: f64| Ok(7.0 * x - 4.0);
        let x = brent(&f, 0.0, 1.0, 1e-14).unwrap();
        assert!((x - 4.0 / 7.0).abs() < 1e-14);
        assert!(brent(&|x: f64| Ok(x * x + 1.0), -1.0, 1.0, 1e-10).is_err());
    }
}
