//! The fixed configurations of the paper's theoretical phase diagrams (nothing optimised).
//!
//! Every feature has importance 1 except the *extra* one, whose importance is `r`: feature
//! index 1 for n = 2 (feature 0 has importance 1) and the last feature for n = 3. Columns of W
//! are unit vectors; a dropped feature (zero column) gets the bias `s/2`, its mean (as in the
//! literature and Wattenberg's notebook), every other bias is 0. `W ⊥ v` means v spans the
//! kernel of W.
//!
//! | n, m | name | W (rows) | kernel | loss |
//! |---|---|---|---|---|
//! | 2, 1 | `not-represented` | `[1, 0]`, b = (0, s/2) | `[0, 1]` | `r(s/3 − s²/4)` |
//! | 2, 1 | `dedicated` | `[0, 1]`, b = (s/2, 0) | `[1, 0]` | `s/3 − s²/4` |
//! | 2, 1 | `antipodal` | `[1, −1]`, b = 0 | `[1, 1]` | `(1 + r) s²/6` |
//! | 3, 2 | `not-represented` | `[1,0,0; 0,1,0]`, b₃ = s/2 | `[0,0,1]` | `r(s/3 − s²/4)` |
//! | 3, 2 | `dedicated` | `[0,1,0; 0,0,1]`, b₁ = s/2 | `[1,0,0]` | `s/3 − s²/4` |
//! | 3, 2 | `antipodal` | `[1,0,0; 0,1,−1]` | `[0,1,1]` | `(1 + r) s²/6` |
//! | 3, 2 | `others-antipodal` | `[1,−1,0; 0,0,1]` | `[1,1,0]` | `s²/3` |
//!
//! For n = 3 the names say what happens to the extra (last) feature: dropped, given a
//! dimension while feature 1 is dropped, antipodal with feature 2, or given a dimension while
//! features 1 and 2 share one antipodally. Each also answers to its kernel (`perp-001`, …).

use crate::error::{Error, Result};
use crate::model::Model;
use crate::symbolic::poly::{Poly, Q};

/// One fixed configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Configuration {
    /// The name used on command lines.
    pub name: &'static str,
    /// The alias naming the kernel of W (`perp-011`).
    pub kernel_alias: &'static str,
    /// A one-line description.
    pub description: &'static str,
    /// W as m rows of n entries.
    pub w: Vec<Vec<f64>>,
    /// Features that are dropped (zero column) and get the bias `s/2`.
    pub dropped: Vec<usize>,
    /// The feature whose importance is r.
    pub extra: usize,
}

impl Configuration {
    /// Number of features.
    pub fn n(&self) -> usize {
        self.w[0].len()
    }

    /// Number of hidden dimensions.
    pub fn m(&self) -> usize {
        self.w.len()
    }

    /// The importances for a given r (1 everywhere, r for the extra feature).
    pub fn importance(&self, r: f64) -> Vec<f64> {
        (0..self.n())
            .map(|i| if i == self.extra { r } else { 1.0 })
            .collect()
    }

    /// The bias at density `s` (s/2 for dropped features, 0 otherwise).
    pub fn bias(&self, s: f64) -> Vec<f64> {
        (0..self.n())
            .map(|i| {
                if self.dropped.contains(&i) {
                    s / 2.0
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// The model at density `s` (the numeric engine's input).
    pub fn model(&self, s: f64) -> Result<Model> {
        Model::from_rows(&self.w, &self.bias(s))
    }

    /// The bias as polynomials in the density symbol `s`.
    pub fn bias_poly(&self, s: &str) -> Vec<Poly> {
        let half = Q::new(1.into(), 2.into());
        (0..self.n())
            .map(|i| {
                if self.dropped.contains(&i) {
                    Poly::var(s).scale(&half)
                } else {
                    Poly::zero()
                }
            })
            .collect()
    }

    /// The importances as polynomials: 1, and the symbol `r` for the extra feature.
    pub fn importance_poly(&self, r: &str) -> Vec<Poly> {
        (0..self.n())
            .map(|i| {
                if i == self.extra {
                    Poly::var(r)
                } else {
                    Poly::one()
                }
            })
            .collect()
    }
}

fn cfg(
    name: &'static str,
    kernel_alias: &'static str,
    description: &'static str,
    w: Vec<Vec<f64>>,
    dropped: Vec<usize>,
) -> Configuration {
    let extra = w[0].len() - 1;
    Configuration {
        name,
        kernel_alias,
        description,
        w,
        dropped,
        extra,
    }
}

/// The paper's configurations for `(n, m)`: three for n = 2, m = 1 and four for n = 3, m = 2.
pub fn configurations(n: usize, m: usize) -> Result<Vec<Configuration>> {
    match (n, m) {
        (2, 1) => Ok(vec![
            cfg(
                "not-represented",
                "perp-01",
                "W = [1, 0], b = (0, s/2): the extra feature is dropped",
                vec![vec![1.0, 0.0]],
                vec![1],
            ),
            cfg(
                "dedicated",
                "perp-10",
                "W = [0, 1], b = (s/2, 0): the extra feature has the dimension",
                vec![vec![0.0, 1.0]],
                vec![0],
            ),
            cfg(
                "antipodal",
                "perp-11",
                "W = [1, -1], b = 0: both features share the dimension, opposite",
                vec![vec![1.0, -1.0]],
                vec![],
            ),
        ]),
        (3, 2) => Ok(vec![
            cfg(
                "not-represented",
                "perp-001",
                "W ⊥ [0,0,1]: features 1, 2 orthogonal, the extra feature dropped (bias s/2)",
                vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0]],
                vec![2],
            ),
            cfg(
                "dedicated",
                "perp-100",
                "W ⊥ [1,0,0]: feature 1 dropped (bias s/2), features 2 and extra orthogonal",
                vec![vec![0.0, 1.0, 0.0], vec![0.0, 0.0, 1.0]],
                vec![0],
            ),
            cfg(
                "antipodal",
                "perp-011",
                "W ⊥ [0,1,1]: feature 1 alone, feature 2 and the extra feature antipodal",
                vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, -1.0]],
                vec![],
            ),
            cfg(
                "others-antipodal",
                "perp-110",
                "W ⊥ [1,1,0]: features 1 and 2 antipodal, the extra feature alone",
                vec![vec![1.0, -1.0, 0.0], vec![0.0, 0.0, 1.0]],
                vec![],
            ),
        ]),
        _ => Err(Error::invalid(format!(
            "fixed configurations exist for n = 2, m = 1 and n = 3, m = 2, not n = {n}, m = {m}"
        ))),
    }
}

/// The configuration with this name or kernel alias.
pub fn find(n: usize, m: usize, name: &str) -> Result<Configuration> {
    let all = configurations(n, m)?;
    let names: Vec<&str> = all.iter().map(|c| c.name).collect();
    all.iter()
        .find(|c| c.name == name || c.kernel_alias == name)
        .cloned()
        .ok_or_else(|| {
            Error::invalid(format!(
                "unknown configuration '{name}' for n = {n}, m = {m}; known: {}",
                names.join(", ")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_columns_and_kernels() {
        for (n, m) in [(2, 1), (3, 2)] {
            for c in configurations(n, m).unwrap() {
                assert_eq!((c.n(), c.m()), (n, m));
                let kernel: Vec<f64> = c
                    .kernel_alias
                    .trim_start_matches("perp-")
                    .chars()
                    .map(|ch| if ch == '1' { 1.0 } else { 0.0 })
                    .collect();
                for j in 0..n {
                    let norm: f64 = (0..m).map(|h| c.w[h][j] * c.w[h][j]).sum();
                    let want = if c.dropped.contains(&j) { 0.0 } else { 1.0 };
                    assert_eq!(norm, want, "{} column {j}", c.name);
                }
                // W v = 0 for v with the kernel's support and ±1 signs chosen by W.
                for h in 0..m {
                    let touched: Vec<f64> = (0..n)
                        .filter(|&j| kernel[j] != 0.0)
                        .map(|j| c.w[h][j])
                        .collect();
                    let s: f64 = touched.iter().map(|x| x.abs()).sum();
                    assert!(s == 0.0 || touched.iter().sum::<f64>() == 0.0, "{}", c.name);
                }
            }
        }
        assert!(find(2, 1, "perp-11").is_ok());
        assert!(find(2, 1, "bogus").is_err());
    }
}
