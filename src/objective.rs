//! What is being computed: the output activation, the data distribution with importances,
//! and the reduction — everything but the model's parameters.

use std::fmt;
use std::str::FromStr;

use crate::data::Data;
use crate::error::{Error, Result};
use crate::model::{Activation, Model};

/// How the per-feature losses are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// `Σ_i I_i E[(x_i − x'_i)²]`, the paper's loss (and Chen et al.'s).
    #[default]
    Sum,
    /// The sum divided by n, as in the Anthropic notebook.
    Mean,
}

impl fmt::Display for Reduction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reduction::Sum => write!(f, "sum"),
            Reduction::Mean => write!(f, "mean"),
        }
    }
}

impl FromStr for Reduction {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "sum" => Ok(Reduction::Sum),
            "mean" => Ok(Reduction::Mean),
            other => Err(Error::invalid(format!(
                "unknown reduction '{other}' (expected sum or mean)"
            ))),
        }
    }
}

/// What is being computed: activation, data distribution with importances, reduction.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    activation: Activation,
    data: Data,
    reduction: Reduction,
}

impl Objective {
    /// ReLU output, `sum` reduction.
    pub fn new(data: Data) -> Self {
        Objective {
            activation: Activation::Relu,
            data,
            reduction: Reduction::Sum,
        }
    }

    /// Sets the output activation.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets the reduction.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Replaces the data distribution.
    pub fn with_data(mut self, data: Data) -> Self {
        self.data = data;
        self
    }

    /// The output activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// The data distribution and importances.
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// The reduction.
    pub fn reduction(&self) -> Reduction {
        self.reduction
    }

    /// Number of features.
    pub fn n(&self) -> usize {
        self.data.n()
    }

    /// The factor each feature's expected squared error is multiplied by: `I_i` (sum) or
    /// `I_i / n` (mean).
    pub fn weights(&self) -> Vec<f64> {
        let scale = match self.reduction {
            Reduction::Sum => 1.0,
            Reduction::Mean => 1.0 / self.n() as f64,
        };
        self.data.importance().iter().map(|i| i * scale).collect()
    }

    /// Fails unless `model` has this objective's number of features.
    /// and fails with [`Error::Numerical`] when its loss cannot be represented in f64 (see
    /// [`Objective::check_representable`]).
    pub fn check_model(&self, model: &Model) -> Result<()> {
        if model.n() != self.n() {
            return Err(Error::invalid(format!(
                "the model has {} features but the data describe {}",
                model.n(),
                self.n()
            )));
        }
        self.check_representable(model)
    }

    /// The loss's scale: the largest weight `max_i w_i` (`I_i`, divided by n for `mean`; 1 when
    /// every weight is 0). The loss, its gradient and its curvature scale with it when the
    /// importances are scaled uniformly, so the minimiser's tolerances are taken relative to
    /// it; with the largest importance 1 and `sum` (the usual settings) it is 1, and the
    /// minimiser behaves exactly as with absolute tolerances.
    pub fn scale(&self) -> f64 {
        let s = self.weights().iter().fold(0.0f64, |a, &w| a.max(w));
        if s > 0.0 && s.is_finite() {
            s
        } else {
            1.0
        }
    }

    /// Fails with [`Error::Numerical`] when a loss of `model` might not be representable in f64.
    ///
    /// # Formula
    /// Output i's pre-activation on the data's support `x ∈ [0,1]^n` is bounded by
    /// `B_i = |b_i| + Σ_h |R_ih| Σ_j |W_hj|` (`R = Wᵀ` or `W_out`; the triangle inequality, so
    /// no n×n product is formed), and its loss term by `w_i (1 + max(1, |α|) B_i)²`. Every such
    /// bound must be finite, and so must their sum; otherwise the inputs are refused before
    /// any route runs (a route would return ∞ or NaN).
    pub fn check_representable(&self, model: &Model) -> Result<()> {
        let (w, n, m) = (model.w(), model.n(), model.m());
        let col_sum: Vec<f64> = (0..m)
            .map(|h| (0..n).map(|j| w[(h, j)].abs()).sum())
            .collect();
        let slope = match self.activation {
            Activation::LeakyRelu { alpha } => alpha.abs().max(1.0),
            _ => 1.0,
        };
        let weights = self.weights();
        let mut total = 0.0f64;
        for i in 0..n {
            let reach: f64 = (0..m)
                .map(|h| {
                    let r = match model.w_out() {
                        Some(wo) => wo[(i, h)],
                        None => w[(h, i)],
                    };
                    r.abs() * col_sum[h]
                })
                .sum::<f64>()
                + model.b()[i].abs();
            let term = weights[i] * (1.0 + slope * reach).powi(2);
            total += term;
            if !term.is_finite() || !total.is_finite() {
                let largest = |v: &[f64]| v.iter().fold(0.0f64, |a, x| a.max(x.abs()));
                return Err(Error::Numerical(format!(
                    "the loss cannot be represented in f64: output {i}'s pre-activation can reach \
                     {reach:.1e} (|W| up to {:.1e}, |b| up to {:.1e}{}{}), so its squared error \
                     overflows",
                    largest(w.as_slice()),
                    largest(model.b().as_slice()),
                    model
                        .w_out()
                        .map(|wo| format!(", |W_out| up to {:.1e}", largest(wo.as_slice())))
                        .unwrap_or_default(),
                    if slope > 1.0 {
                        format!(", leaky slope {slope:.1e}")
                    } else {
                        String::new()
                    }
                )));
            }
        }
        Ok(())
    }
}
