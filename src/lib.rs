//! # tms-exact
//!
//! The exact expected loss of the toy models of superposition (Elhage et al. 2022), its exact
//! gradient and Hessian, and tools built on them. The definition every number follows is
//! `shared/reference/model.md`; in short, for `W ∈ R^{m×n}`, `b ∈ R^n`,
//! `x' = act(Wᵀ W x + b)` and `L = Σ_i I_i E[(x_i − x'_i)²]`.
//!
//! ```
//! use tms_exact::{data::{Data, PerFeature}, loss::{self, Objective}, model::Model};
//! // An antipodal pair in one dimension, no bias, density s = 0.1: L = 2·s²/6.
//! let model = Model::from_rows(&[vec![1.0, -1.0]], &[0.0, 0.0]).unwrap();
//! let data = Data::new(2).unwrap().with_density(&PerFeature::Constant(0.1)).unwrap();
//! let l = loss::loss(&model, &Objective::new(data)).unwrap();
//! assert!((l.loss - 2.0 * 0.01 / 6.0).abs() < 1e-15);
//! ```

pub mod cli;
pub mod data;
pub mod dual;
pub mod error;
pub mod geometry;
pub mod integrals;
pub mod io;
pub mod loss;
pub mod model;
pub mod onedim_route;
pub mod optimize;
pub mod tolerance;
pub mod train;
pub mod verify;

pub use error::{Error, Result};
