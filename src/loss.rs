//! The expected loss `L(W, b) = Σ_i I_i · E[(x_i − x'_i)²]` of one model — the convenient
//! high-level calls. They use the closed form ([`crate::route::ClosedForm`]) unless a
//! [`Method`] is named; code that evaluates many models of one objective should hold a route
//! (e.g. `ClosedForm::new(obj)?`) and reuse its workspaces.

use nalgebra::DMatrix;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::objective::Objective;
use crate::route::{self, ClosedForm, Evaluation, Gradient, Method, RouteHessian, RouteSettings};

/// The exact loss by the closed form.
pub fn loss(model: &Model, obj: &Objective) -> Result<Evaluation> {
    use crate::route::Route;
    ClosedForm::new(obj.clone())?.evaluate(model)
}

/// The exact loss and its exact gradient by the closed form.
pub fn loss_and_gradient(model: &Model, obj: &Objective) -> Result<(Evaluation, Gradient)> {
    use crate::route::RouteGradient;
    let mut e = ClosedForm::new(obj.clone())?.evaluate_with_gradient(model)?;
    let g = e
        .gradient
        .take()
        .ok_or_else(|| Error::Numerical("the closed form returned no gradient".into()))?;
    Ok((e, g))
}

/// The exact Hessian of the loss in [`Model::to_vec`]'s parameter order.
pub fn hessian(model: &Model, obj: &Objective) -> Result<DMatrix<f64>> {
    obj.check_model(model)?;
    Ok(ClosedForm::new(obj.clone())?.hessian_flat(model.shape(), &model.to_vec()))
}

/// The loss (and, with `gradient`, its gradient) by the route `method` names
/// ([`Method::Auto`]: the cheapest feasible one).
pub fn evaluate(
    model: &Model,
    obj: &Objective,
    method: Method,
    settings: &RouteSettings,
    gradient: bool,
) -> Result<Evaluation> {
    obj.check_model(model)?;
    let mut r = route::select(method, obj, model.shape(), settings)?;
    if !gradient {
        return r.evaluate(model);
    }
    let name = r.name();
    match r.as_gradient() {
        Some(g) => g.evaluate_with_gradient(model),
        None => Err(Error::invalid(format!(
            "the {name} route gives no gradient; use --method closed (the same function in \
             f64) for the gradient"
        ))),
    }
}
