//! # tms-exact
//!
//! The exact expected loss of the toy models of superposition (Elhage et al. 2022), its exact
//! gradient and Hessian, and tools built on them. The definition every number follows is
//! `shared/reference/model.md`; in short, for `W ∈ R^{m×n}`, `b ∈ R^n`,
//! `x' = act(Wᵀ W x + b)` and `L = Σ_i I_i E[(x_i − x'_i)²]`.
//!
//! ```
//! use tms_exact::{data::{Data, PerFeature}, loss, model::Model, objective::Objective};
//! // An antipodal pair in one dimension, no bias, density s = 0.1: L = 2·s²/6.
//! let model = Model::from_rows(&[vec![1.0, -1.0]], &[0.0, 0.0]).unwrap();
//! let data = Data::new(2).unwrap().with_density(&PerFeature::Constant(0.1)).unwrap();
//! let l = loss::loss(&model, &Objective::new(data)).unwrap();
//! assert!((l.loss - 2.0 * 0.01 / 6.0).abs() < 1e-15);
//! ```
//!
//! # Architecture
//!
//! Layers import only downward:
//!
//! | layer | modules | what |
//! |---|---|---|
//! | definitions | [`error`], [`tolerance`], [`shape`], [`model`], [`data`], [`objective`], [`numeric`], [`dual`] | the model, the data distribution, what is computed; every tolerance named once |
//! | primitives | [`integrals`] | the cut-cube moments, the chain rule to the parameters, the sampled-batch loss; nothing above |
//! | routes | [`route`] | the ways to compute the loss behind capability traits ([`route::Route`], [`route::RouteGradient`], [`route::RouteHessian`]) with [`route::Method::Auto`] choosing by [`route::Route::cost`] |
//! | loss, optimisation | [`loss`], [`optimize`], [`train`] | convenient calls; minimisation generic over any route with a Hessian (the only module that imports argmin); the notebook's trainer |
//! | studies | [`verify`], [`geometry`] | what researchers ask of models |
//! | input and output | [`io`], [`settings`], [`presets`], [`progress`] | files, user settings turned into library objects in one place, built-in examples, progress reporting as a trait |
//!
//! The command line (`src/main.rs`, `src/cli/`) is a separate layer on top, built only with the
//! default `cli` feature (it brings clap and indicatif); `cargo build --lib
//! --no-default-features` builds the library without them.
//!
//! Where things go:
//! * a new **route** (a way to compute the loss): one file in `src/route/` implementing the
//!   traits, a [`route::Method`] variant and an arm in [`route::select`]; its resource refusals
//!   belong in its `cost()`;
//! * a new **study** (a computation over many models): a library module that returns data
//!   (and writes CSV/JSON through [`io`]), with the CLI subcommand in its own file under
//!   `src/cli/`;
//! * a new **output format**: a reader or writer in [`io`], writing atomically
//!   ([`io::write_atomic`]).

pub mod configurations;
pub mod data;
pub mod dimensionality;
pub mod dual;
pub mod error;
pub mod geometry;
pub mod integrals;
pub mod io;
pub mod limits;
pub mod loss;
pub mod model;
pub mod numeric;
pub mod objective;
pub mod optimize;
pub mod phase;
pub mod plot;
pub mod presets;
pub mod progress;
#[cfg(feature = "python")]
pub mod python;
pub mod reproduce;
pub mod route;
pub mod settings;
pub mod shape;
pub mod surface;
pub mod symbolic;
pub mod tolerance;
pub mod train;
pub mod verify;

pub use error::{Error, Result};
