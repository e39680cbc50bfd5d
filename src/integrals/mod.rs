//! Primitives the routes are built from, each computed in exactly one place; nothing here
//! imports from the layers above (objective, routes, loss):
//!
//! * [`cutcube`]: the moments of a cube cut by a hyperplane (f64 or dual numbers), by a
//!   non-negative recurrence;
//! * [`chain_rule`]: from derivatives in `(M, b)` to the flat parameters;
//! * [`batch`]: the loss of a batch of samples and its backpropagated gradient.

pub mod batch;
pub mod chain_rule;
pub mod cutcube;
pub mod lanes;
pub mod onedim;
