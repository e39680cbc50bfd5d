//! The toy model's parameters and output activation.
//!
//! `W` is m×n (column `W_i` is feature i's direction), `b` has n entries, and the optional
//! untied read-out `W_out` is n×m. The output is `act(M x + b)` with `M = W_out W`
//! (tied: `M = Wᵀ W`), see `shared/reference/model.md`.

use std::fmt;
use std::str::FromStr;

use nalgebra::{DMatrix, DVector};

use crate::error::{ensure_finite, Error, Result};
use crate::shape::Shape;

/// Output activation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// `max(0, y)`: the paper's main model.
    Relu,
    /// `y`: the linear model.
    Linear,
    /// `y` for `y > 0`, `alpha·y` otherwise.
    LeakyRelu { alpha: f64 },
    /// `y·Φ(y)` with Φ the standard normal CDF (exact GELU, not the tanh approximation).
    Gelu,
    /// `ln(1 + e^y)`.
    Softplus,
}

impl Activation {
    /// Whether the loss has a closed form for this activation (piecewise linear).
    pub fn has_closed_form(&self) -> bool {
        matches!(
            self,
            Activation::Relu | Activation::Linear | Activation::LeakyRelu { .. }
        )
    }

    /// The activation's value.
    pub fn apply(&self, y: f64) -> f64 {
        match *self {
            Activation::Relu => y.max(0.0),
            Activation::Linear => y,
            Activation::LeakyRelu { alpha } => {
                if y > 0.0 {
                    y
                } else {
                    alpha * y
                }
            }
            Activation::Gelu => 0.5 * y * libm::erfc(-y / std::f64::consts::SQRT_2),
            // Stable form: never overflows and keeps precision for large |y|.
            Activation::Softplus => y.max(0.0) + (-y.abs()).exp().ln_1p(),
        }
    }

    /// The activation's derivative; at a ReLU kink the value at 0 is 0 (PyTorch's choice).
    pub fn derivative(&self, y: f64) -> f64 {
        match *self {
            Activation::Relu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Linear => 1.0,
            Activation::LeakyRelu { alpha } => {
                if y > 0.0 {
                    1.0
                } else {
                    alpha
                }
            }
            Activation::Gelu => {
                let phi = (-0.5 * y * y).exp() / (2.0 * std::f64::consts::PI).sqrt();
                0.5 * libm::erfc(-y / std::f64::consts::SQRT_2) + y * phi
            }
            Activation::Softplus => {
                if y >= 0.0 {
                    1.0 / (1.0 + (-y).exp())
                } else {
                    let e = y.exp();
                    e / (1.0 + e)
                }
            }
        }
    }

    /// Points where the activation is not smooth (quadrature splits there).
    pub fn kinks(&self) -> &'static [f64] {
        match self {
            Activation::Relu | Activation::LeakyRelu { .. } => &[0.0],
            _ => &[],
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Relu => write!(f, "relu"),
            Activation::Linear => write!(f, "linear"),
            Activation::LeakyRelu { alpha } => write!(f, "leaky_relu:{alpha}"),
            Activation::Gelu => write!(f, "gelu"),
            Activation::Softplus => write!(f, "softplus"),
        }
    }
}

impl FromStr for Activation {
    type Err = Error;

    /// Parses `relu`, `linear`, `leaky_relu` (α = 0.01), `leaky_relu:α`, `gelu`, `softplus`.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let unknown = || {
            Error::invalid(format!(
                "unknown activation '{s}' (expected relu, linear, leaky_relu[:alpha], gelu or softplus)"
            ))
        };
        match s {
            "relu" => Ok(Activation::Relu),
            "linear" => Ok(Activation::Linear),
            "gelu" => Ok(Activation::Gelu),
            "softplus" => Ok(Activation::Softplus),
            "leaky_relu" => Ok(Activation::LeakyRelu { alpha: 0.01 }),
            _ => {
                let alpha = s.strip_prefix("leaky_relu:").ok_or_else(unknown)?;
                let alpha: f64 = alpha.trim().parse().map_err(|_| {
                    Error::invalid(format!("leaky_relu slope '{alpha}' is not a number"))
                })?;
                if !alpha.is_finite() {
                    return Err(Error::invalid("leaky_relu slope must be finite"));
                }
                Ok(Activation::LeakyRelu { alpha })
            }
        }
    }
}

/// The parameters of one toy model: `W` (m×n), optional untied `W_out` (n×m), `b` (n).
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    w: DMatrix<f64>,
    w_out: Option<DMatrix<f64>>,
    b: DVector<f64>,
}

impl Model {
    /// A tied model. Fails on empty or mismatched shapes and non-finite entries.
    pub fn new(w: DMatrix<f64>, b: DVector<f64>) -> Result<Self> {
        if w.nrows() == 0 || w.ncols() == 0 {
            return Err(Error::invalid(format!(
                "W is empty ({}×{}); it needs at least one hidden dimension and one feature",
                w.nrows(),
                w.ncols()
            )));
        }
        if b.len() != w.ncols() {
            return Err(Error::invalid(format!(
                "b has {} entries but W has {} features (columns)",
                b.len(),
                w.ncols()
            )));
        }
        ensure_finite("W", w.as_slice())?;
        ensure_finite("b", b.as_slice())?;
        Ok(Model { w, w_out: None, b })
    }

    /// A tied model from W given as m rows of n entries (the model file's layout).
    pub fn from_rows(w_rows: &[Vec<f64>], b: &[f64]) -> Result<Self> {
        let w = matrix_from_rows("W", w_rows)?;
        Model::new(w, DVector::from_column_slice(b))
    }

    /// Makes the model untied with read-out `W_out` (n×m).
    pub fn with_w_out(mut self, w_out: DMatrix<f64>) -> Result<Self> {
        if w_out.nrows() != self.n() || w_out.ncols() != self.m() {
            return Err(Error::invalid(format!(
                "W_out is {}×{} but must be n×m = {}×{}",
                w_out.nrows(),
                w_out.ncols(),
                self.n(),
                self.m()
            )));
        }
        ensure_finite("W_out", w_out.as_slice())?;
        self.w_out = Some(w_out);
        Ok(self)
    }

    /// Number of features n.
    pub fn n(&self) -> usize {
        self.w.ncols()
    }

    /// Number of hidden dimensions m.
    pub fn m(&self) -> usize {
        self.w.nrows()
    }

    /// The embedding `W` (m×n).
    pub fn w(&self) -> &DMatrix<f64> {
        &self.w
    }

    /// The untied read-out `W_out` (n×m), if any.
    pub fn w_out(&self) -> Option<&DMatrix<f64>> {
        self.w_out.as_ref()
    }

    /// The bias `b` (n).
    pub fn b(&self) -> &DVector<f64> {
        &self.b
    }

    /// True when the read-out is `Wᵀ`.
    pub fn is_tied(&self) -> bool {
        self.w_out.is_none()
    }

    /// `M = W_out W` (tied: `Wᵀ W`), the n×n matrix every loss formula depends on.
    pub fn gram(&self) -> DMatrix<f64> {
        match &self.w_out {
            Some(wo) => wo * &self.w,
            None => self.w.transpose() * &self.w,
        }
    }

    /// Replaces the bias (same length), keeping everything else.
    pub fn with_b(mut self, b: DVector<f64>) -> Result<Self> {
        if b.len() != self.n() {
            return Err(Error::invalid(format!(
                "b has {} entries, expected {}",
                b.len(),
                self.n()
            )));
        }
        ensure_finite("b", b.as_slice())?;
        self.b = b;
        Ok(self)
    }

    /// The model's shape and parameter layout.
    pub fn shape(&self) -> Shape {
        Shape::new(self.n(), self.m(), self.is_tied())
    }

    /// Number of free parameters in the order of [`Model::to_vec`].
    pub fn num_params(&self) -> usize {
        self.shape().num_params()
    }

    /// Flattens the parameters: W (column-major), then W_out (column-major, if untied), then b.
    pub fn to_vec(&self) -> Vec<f64> {
        let mut v = Vec::with_capacity(self.num_params());
        v.extend_from_slice(self.w.as_slice());
        if let Some(wo) = &self.w_out {
            v.extend_from_slice(wo.as_slice());
        }
        v.extend_from_slice(self.b.as_slice());
        v
    }

    /// A model of the same shape (and tying) as `self` with parameters from [`Model::to_vec`]'s layout.
    pub fn from_vec_like(&self, v: &[f64]) -> Result<Self> {
        Model::from_flat(self.shape(), v)
    }

    /// A model of `shape` with parameters in [`Model::to_vec`]'s layout.
    pub fn from_flat(shape: Shape, v: &[f64]) -> Result<Self> {
        if v.len() != shape.num_params() {
            return Err(Error::invalid(format!(
                "parameter vector has {} entries, expected {}",
                v.len(),
                shape.num_params()
            )));
        }
        let (m, n) = (shape.m, shape.n);
        let w = DMatrix::from_column_slice(m, n, &v[shape.w()]);
        let model = Model::new(w, DVector::from_column_slice(&v[shape.b()]))?;
        match shape.w_out() {
            Some(r) => model.with_w_out(DMatrix::from_column_slice(n, m, &v[r])),
            None => Ok(model),
        }
    }
}

/// Builds a matrix from rows, rejecting ragged or empty input; `what` names it in messages.
pub fn matrix_from_rows(what: &str, rows: &[Vec<f64>]) -> Result<DMatrix<f64>> {
    let nrows = rows.len();
    if nrows == 0 {
        return Err(Error::invalid(format!("{what} has no rows")));
    }
    let ncols = rows[0].len();
    if let Some((k, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != ncols) {
        return Err(Error::invalid(format!(
            "{what} is ragged: row 0 has {ncols} entries but row {k} has {}",
            r.len()
        )));
    }
    Ok(DMatrix::from_fn(nrows, ncols, |i, j| rows[i][j]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_round_trips_through_text() {
        for s in ["relu", "linear", "leaky_relu:0.05", "gelu", "softplus"] {
            let a: Activation = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
        assert!("tanh".parse::<Activation>().is_err());
        assert!("leaky_relu:x".parse::<Activation>().is_err());
    }

    #[test]
    fn gram_is_wtw_when_tied() {
        let m = Model::from_rows(&[vec![1.0, -1.0]], &[0.0, 0.0]).unwrap();
        let g = m.gram();
        assert_eq!(g[(0, 1)], -1.0);
        assert_eq!(g[(1, 1)], 1.0);
    }

    #[test]
    fn parameter_vector_round_trips() {
        let m = Model::from_rows(
            &[vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]],
            &[7.0, 8.0, 9.0],
        )
        .unwrap()
        .with_w_out(DMatrix::from_fn(3, 2, |i, j| (i * 2 + j) as f64))
        .unwrap();
        let v = m.to_vec();
        assert_eq!(m.from_vec_like(&v).unwrap(), m);
    }
}
