//! The route minimisation and verification use, chosen automatically: the closed form (whole
//! exact Hessian) whenever it accepts the objective, else the one-dimensional route
//! (Hessian-vector products; independent data at sizes the closed form refuses). One enum,
//! one automatic choice, as the loss's [`super::Method::Auto`].

use nalgebra::DMatrix;

use super::onedim::{self, OneDim};
use super::{ClosedForm, Cost, Evaluation, Route, RouteGradient, RouteHvp};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::objective::Objective;
use crate::shape::Shape;

/// A route with Hessian-vector products, chosen for an objective and shape.
#[derive(Debug, Clone)]
pub enum HvpRoute {
    /// The closed form: exact Hessian.
    Closed(ClosedForm),
    /// The one-dimensional route at the default tolerance: products by differences.
    OneDim(OneDim),
}

impl HvpRoute {
    /// The closed form when it accepts `obj` at `shape`, else the one-dimensional route; the
    /// error names why both refused.
    pub fn select(obj: &Objective, shape: Shape) -> Result<Self> {
        let closed = ClosedForm::new(obj.clone()).and_then(|c| c.cost(shape).map(|_| c));
        let closed_err = match closed {
            Ok(c) => return Ok(HvpRoute::Closed(c)),
            Err(e) => e,
        };
        let one = OneDim::new(obj.clone(), onedim::default_tolerance())
            .and_then(|r| r.cost(shape).map(|_| r));
        match one {
            Ok(r) => Ok(HvpRoute::OneDim(r)),
            Err(e) => {
                let both = |msg: String| {
                    format!("{msg}; the one-dimensional route does not apply either: {e}")
                };
                Err(match closed_err {
                    Error::TooLarge(msg) => Error::TooLarge(both(msg)),
                    Error::Invalid(msg) => Error::Invalid(both(msg)),
                    other => other,
                })
            }
        }
    }

    fn inner(&self) -> &dyn RouteHvp {
        match self {
            HvpRoute::Closed(r) => r,
            HvpRoute::OneDim(r) => r,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn RouteHvp {
        match self {
            HvpRoute::Closed(r) => r,
            HvpRoute::OneDim(r) => r,
        }
    }
}

impl Route for HvpRoute {
    fn name(&self) -> &'static str {
        self.inner().name()
    }

    fn objective(&self) -> &Objective {
        self.inner().objective()
    }

    fn cost(&self, shape: Shape) -> Result<Cost> {
        self.inner().cost(shape)
    }

    fn evaluate(&mut self, model: &Model) -> Result<Evaluation> {
        self.inner_mut().evaluate(model)
    }

    fn as_gradient(&mut self) -> Option<&mut dyn RouteGradient> {
        Some(self)
    }
}

impl RouteGradient for HvpRoute {
    fn loss_grad_flat(&mut self, shape: Shape, params: &[f64], grad: &mut [f64]) -> f64 {
        self.inner_mut().loss_grad_flat(shape, params, grad)
    }

    fn evaluate_with_gradient(&mut self, model: &Model) -> Result<Evaluation> {
        self.inner_mut().evaluate_with_gradient(model)
    }
}

impl RouteHvp for HvpRoute {
    fn has_direct_hessian(&self) -> bool {
        self.inner().has_direct_hessian()
    }

    fn direct_hessian(&mut self, shape: Shape, params: &[f64]) -> Option<DMatrix<f64>> {
        self.inner_mut().direct_hessian(shape, params)
    }

    fn hvp_flat(&mut self, shape: Shape, params: &[f64], v: &[f64], out: &mut [f64]) -> f64 {
        self.inner_mut().hvp_flat(shape, params, v, out)
    }

    fn gradient_error(&self) -> f64 {
        self.inner().gradient_error()
    }

    fn coarsened(&self, tol: f64) -> Option<Self> {
        match self {
            HvpRoute::Closed(_) => None,
            HvpRoute::OneDim(r) => r.coarsened(tol).map(HvpRoute::OneDim),
        }
    }
}
