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
    pub fn check_model(&self, model: &Model) -> Result<()> {
        if model.n() != self.n() {
            return Err(Error::invalid(format!(
                "the model has {} features but the data describe {}",
                model.n(),
                self.n()
            )));
        }
        Ok(())
    }
}
