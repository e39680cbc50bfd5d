//! Exact symbolic algebra and the loss as a formula (issue 10).
//!
//! - [`poly`]: sparse multivariate polynomials over the rationals (named variables), and
//!   dense univariate ones for gcds and root isolation;
//! - [`ratfunc`]: rational functions, normalised;
//! - [`roots`]: exact real-root isolation (Sturm sequences, rational bisection);
//! - [`print`]: plain text, LaTeX and sympy printers;
//! - [`formula`]: the loss as `Σ_i I_i P_i`, by region or as a polynomial in the density;
//! - [`mcgrath`]: the complete piecewise formula for n = 2, m = 1 without bias;
//! - [`stationary`]: McGrath's stationary points solved exactly (resultants, Sturm, intervals);
//! - [`boundary`]: exact phase boundaries between fixed configurations;
//! - [`expr`]: a small f64 formula parser in r (comparing computed boundaries with closed forms).
//!
//! No other part of the crate keeps its own polynomial type.

pub mod boundary;
pub mod expr;
pub mod formula;
pub mod mcgrath;
pub mod poly;
pub mod print;
pub mod ratfunc;
pub mod roots;
pub mod stationary;
