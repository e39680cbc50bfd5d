//! The route seam: a route the optimiser has never seen can be minimised, classified and
//! used by `verify`; `Method::Auto` picks by cost; refusals come from `cost()`.

use nalgebra::DMatrix;
use tms_exact::data::{Data, PerFeature};
use tms_exact::loss;
use tms_exact::model::Model;
use tms_exact::objective::Objective;
use tms_exact::optimize::{self, MinimizeOptions, SearchOptions};
use tms_exact::progress::Silent;
use tms_exact::route::{
    self, Accuracy, ClosedForm, Cost, Evaluation, Method, MonteCarlo, Route, RouteGradient,
    RouteHessian, RouteSettings,
};
use tms_exact::shape::Shape;
use tms_exact::{Error, Result};

/// A toy route: the mean loss of one fixed set of seeded samples (delegating to the Monte
/// Carlo route), with a Hessian by central differences of its own gradient. Nothing in the
/// optimiser knows it.
#[derive(Clone)]
struct FixedSamples {
    inner: MonteCarlo,
    evaluations: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FixedSamples {
    fn new(obj: Objective) -> Self {
        FixedSamples {
            inner: MonteCarlo::new(obj, 20_000, 11).unwrap(),
            evaluations: Default::default(),
        }
    }
}

impl Route for FixedSamples {
    fn name(&self) -> &'static str {
        "fixed-samples"
    }
    fn objective(&self) -> &Objective {
        self.inner.objective()
    }
    fn cost(&self, shape: Shape) -> Result<Cost> {
        self.inner.cost(shape)
    }
    fn evaluate(&mut self, model: &Model) -> Result<Evaluation> {
        self.inner.evaluate(model)
    }
}

impl RouteGradient for FixedSamples {
    fn loss_grad_flat(&mut self, shape: Shape, params: &[f64], grad: &mut [f64]) -> f64 {
        self.evaluations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.loss_grad_flat(shape, params, grad)
    }
}

impl RouteHessian for FixedSamples {
    fn hessian_flat(&mut self, shape: Shape, params: &[f64]) -> DMatrix<f64> {
        let np = params.len();
        let h = 1e-6;
        let mut out = DMatrix::zeros(np, np);
        let (mut up, mut down) = (vec![0.0; np], vec![0.0; np]);
        for k in 0..np {
            let mut p = params.to_vec();
            p[k] += h;
            self.loss_grad_flat(shape, &p, &mut up);
            p[k] -= 2.0 * h;
            self.loss_grad_flat(shape, &p, &mut down);
            for r in 0..np {
                out[(r, k)] = (up[r] - down[r]) / (2.0 * h);
            }
        }
        (&out + out.transpose()) * 0.5
    }
}

fn objective(density: f64, importance: &[f64]) -> Objective {
    let data = Data::new(importance.len())
        .unwrap()
        .with_density(&PerFeature::Constant(density))
        .unwrap()
        .with_importance(&PerFeature::List(importance.to_vec()))
        .unwrap();
    Objective::new(data)
}

#[test]
fn a_new_route_is_minimised_through_the_seam() {
    // Dense data, one important feature: the optimum keeps feature 0 and drops feature 1
    // (known: loss 0.04875 at W = [±1, 0], b₁ = 0.45 for density 0.9, importance (1, 0.5)).
    let obj = objective(0.9, &[1.0, 0.5]);
    let route = FixedSamples::new(obj.clone());
    let counter = route.evaluations.clone();
    let start = Model::from_rows(&[vec![0.8, 0.1]], &[0.05, 0.3]).unwrap();
    let lm = optimize::minimize_local_with(route.clone(), &start, &MinimizeOptions::new()).unwrap();
    assert!(counter.load(std::sync::atomic::Ordering::Relaxed) > 10);
    // The minimiser's number is the toy route's own value at the point it returns...
    let own = route.clone().evaluate(&lm.model).unwrap().loss;
    assert_eq!(lm.loss, own);
    let start_loss = route.clone().evaluate(&start).unwrap().loss;
    assert!(lm.loss < start_loss, "{} vs start {start_loss}", lm.loss);
    // ...at a critical point of that function...
    assert!(lm.grad_norm <= 1e-8, "‖∇‖ = {:e}", lm.grad_norm);
    // ...which is within sampling noise of the exact optimum of the true loss.
    let exact = loss::loss(&lm.model, &obj).unwrap().loss;
    assert!(
        (exact - 0.04875).abs() <= 0.02 * 0.04875,
        "exact loss there {exact}"
    );
    // The Hessian classification runs on the toy route too (symmetry modes separated).
    assert_eq!(lm.spectrum.symmetry_modes, 0);
}

#[test]
fn verify_runs_through_any_route() {
    let obj = objective(0.9, &[1.0, 0.5]);
    let route = FixedSamples::new(obj.clone());
    let model = Model::from_rows(&[vec![1.0, 0.0]], &[0.0, 0.45]).unwrap();
    let opts = SearchOptions::new().with_restarts(4).unwrap();
    let reports = tms_exact::verify::verify_with(&route, &[model], &opts, &Silent).unwrap();
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    // Every loss in the report is the toy route's.
    assert_eq!(
        r.best.loss,
        route.clone().evaluate(&r.best.model).unwrap().loss
    );
}

#[test]
fn auto_picks_the_cheapest_feasible_route() {
    let relu = objective(0.1, &[1.0, 1.0, 1.0]);
    let shape = Shape::new(3, 2, true);
    let s = RouteSettings::new();
    assert_eq!(
        route::select(Method::Auto, &relu, shape, &s)
            .unwrap()
            .name(),
        "closed"
    );
    let gelu = relu
        .clone()
        .with_activation(tms_exact::model::Activation::Gelu);
    assert_eq!(
        route::select(Method::Auto, &gelu, shape, &s)
            .unwrap()
            .name(),
        "quadrature"
    );
    // 20 features active together: beyond the closed form and quadrature, so the
    // one-dimensional route; with a smooth activation only sampling is feasible.
    let big = objective(0.1, &[1.0; 20]);
    assert_eq!(
        route::select(Method::Auto, &big, Shape::new(20, 2, true), &s)
            .unwrap()
            .name(),
        "onedim"
    );
    let big_gelu = big
        .clone()
        .with_activation(tms_exact::model::Activation::Gelu);
    assert_eq!(
        route::select(Method::Auto, &big_gelu, Shape::new(20, 2, true), &s)
            .unwrap()
            .name(),
        "mc"
    );
    // Named routes refuse through cost(), with the numbers.
    let e = route::select(Method::Closed, &big, Shape::new(20, 2, true), &s)
        .err()
        .unwrap();
    assert!(matches!(e, Error::TooLarge(_)), "{e}");
    assert!(e.to_string().contains("3^20"), "{e}");
    let e = route::select(Method::Exact, &gelu, shape, &s)
        .err()
        .unwrap();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
}

#[test]
fn every_route_reports_its_accuracy_kind() {
    let obj = objective(0.3, &[1.0, 0.7]);
    let model = Model::from_rows(&[vec![0.9, -0.4]], &[0.1, -0.05]).unwrap();
    let s = RouteSettings::new().with_samples(50_000).unwrap();
    let closed = ClosedForm::new(obj.clone())
        .unwrap()
        .evaluate(&model)
        .unwrap();
    for method in [
        Method::Closed,
        Method::Exact,
        Method::Quadrature,
        Method::Mc,
    ] {
        let e = route::select(method, &obj, model.shape(), &s)
            .unwrap()
            .evaluate(&model)
            .unwrap();
        let ok = match (method, e.accuracy) {
            (Method::Closed, Accuracy::Bound(b)) | (Method::Onedim, Accuracy::Estimate(b)) => {
                (e.loss - closed.loss).abs() <= b + closed.accuracy.value()
            }
            (Method::Exact, Accuracy::Exact) => {
                (e.loss - closed.loss).abs() <= 1e-12 * closed.loss && e.exact.is_some()
            }
            (Method::Quadrature, Accuracy::Estimate(err)) => {
                (e.loss - closed.loss).abs() <= err + 1e-12
            }
            (Method::Mc, Accuracy::StandardError(se)) => (e.loss - closed.loss).abs() <= 4.0 * se,
            _ => false,
        };
        assert!(ok, "{method}: {e:?} vs closed {}", closed.loss);
        let total: f64 = e.per_feature.iter().sum();
        assert!(
            (total - e.loss).abs() <= 1e-12 * e.loss,
            "{method}: terms sum to {total}"
        );
    }
}
