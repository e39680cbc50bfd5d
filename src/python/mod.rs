//! The Python extension module `tms_exact._core` (cargo feature `python`, built by maturin).
//!
//! This is the only place that imports pyo3. The Python package `src/python/tms_exact/` does
//! the user-facing work (layouts, broadcasting, torch tensors); the functions here take arrays
//! already in one canonical form — `W` as `[instances, features, hidden]` (the notebook's
//! layout, whose C order is exactly [`Model::to_vec`]'s column-major `W`), `b`, density and
//! importance as `[instances, features]`, `W_out` as `[instances, hidden, features]` — all
//! float64. Every library call sits in [`api`] so the lead can re-path them in one place.
//!
//! Library errors become `ValueError` with the library's one-line text; computations run with
//! the interpreter released (`Python::detach`) and inside `catch_unwind`, so a bug surfaces as
//! a `RuntimeError` instead of a panic crossing into Python.

use std::panic::{catch_unwind, AssertUnwindSafe};

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::Error;

/// Every call into the rest of the library (re-path here when modules move).
mod api {
    use nalgebra::{DMatrix, DVector};
    use serde_json::{json, Value};

    use crate::data::{broadcast_to_instances, Data, Distribution, PerFeature};
    use crate::error::{Error, Result};
    use crate::geometry::geometry;
    use crate::io::weights::{read_weights, Layout, WeightNames};
    use crate::loss;
    use crate::model::{Activation, Model};
    use crate::objective::{Objective, Reduction};
    use crate::optimize::{census, CensusOptions, SearchOptions};
    use crate::progress::Silent;
    use crate::route::quadrature::quadrature_loss;
    use crate::verify::{verify_instances, Report, Verdict};

    /// Data settings of one instance (`density` None: the distribution's own, or 1).
    pub struct Settings<'a> {
        pub activation: &'a str,
        pub distribution: &'a str,
        pub reduction: &'a str,
        pub tol: Option<f64>,
    }

    pub fn objective(
        n: usize,
        density: Option<&[f64]>,
        importance: &[f64],
        s: &Settings,
    ) -> Result<Objective> {
        let activation: Activation = s.activation.parse()?;
        let reduction: Reduction = s.reduction.parse()?;
        let mut data = Data::new(n)?.with_distribution(s.distribution.parse::<Distribution>()?)?;
        if let Some(d) = density {
            data = data.with_density(&PerFeature::List(d.to_vec()))?;
        }
        data = data.with_importance(&PerFeature::List(importance.to_vec()))?;
        Ok(Objective::new(data)
            .with_activation(activation)
            .with_reduction(reduction))
    }

    /// `w_fh` is `[n, m]` in C order, `w_out_hf` `[m, n]` in C order.
    pub fn model(
        n: usize,
        m: usize,
        w_fh: &[f64],
        b: &[f64],
        w_out_hf: Option<&[f64]>,
    ) -> Result<Model> {
        let model = Model::new(
            DMatrix::from_column_slice(m, n, w_fh),
            DVector::from_column_slice(b),
        )?;
        match w_out_hf {
            // Ours is n×m; column-major (i, h) ↦ i + n·h is C order of [m, n].
            Some(wo) => model.with_w_out(DMatrix::from_column_slice(n, m, wo)),
            None => Ok(model),
        }
    }

    /// Loss, per-feature terms, gradient (in `to_vec` order), Hessian (row-major), error bound.
    pub struct Evaluated {
        pub loss: f64,
        pub per_feature: Vec<f64>,
        pub grad: Option<Vec<f64>>,
        pub hessian: Option<Vec<f64>>,
        pub error: f64,
    }

    pub fn evaluate(
        model: &Model,
        obj: &Objective,
        grad: bool,
        hessian: bool,
        tol: Option<f64>,
    ) -> Result<Evaluated> {
        if !obj.activation().has_closed_form() {
            if hessian {
                return Err(Error::invalid(format!(
                    "the Hessian needs a closed form; the {} activation has none",
                    obj.activation()
                )));
            }
            let tol = tol.unwrap_or(crate::tolerance::QUADRATURE_DEFAULT);
            let e = quadrature_loss(model, obj, tol, grad)?;
            return Ok(Evaluated {
                loss: e.loss,
                per_feature: e.per_feature,
                grad: e.gradient.map(|g| g.to_vec()),
                hessian: None,
                error: e.accuracy.value(),
            });
        }
        if tol.is_some() {
            return Err(Error::invalid(
                "tol applies to smooth activations (quadrature) only; the closed form is exact",
            ));
        }
        let (value, g) = if grad {
            let (v, g) = loss::loss_and_gradient(model, obj)?;
            (v, Some(g.to_vec()))
        } else {
            (loss::loss(model, obj)?, None)
        };
        let hessian = if hessian {
            // Symmetric: column-major and row-major agree.
            Some(loss::hessian(model, obj)?.as_slice().to_vec())
        } else {
            None
        };
        let total: f64 = obj.weights().iter().sum();
        Ok(Evaluated {
            loss: value.loss,
            per_feature: value.per_feature,
            grad: g,
            hessian,
            error: crate::tolerance::LOSS_REL * value.loss.abs()
                + crate::tolerance::LOSS_ABS_PER_IMPORTANCE * total,
        })
    }

    pub fn search(restarts: usize, seed: u64) -> Result<SearchOptions> {
        Ok(SearchOptions::new()
            .with_restarts(restarts)?
            .with_seed(seed))
    }

    /// `W` as `[n][m]` rows (the notebook's layout), `W_out` as `[m][n]`.
    fn model_json(model: &Model) -> Value {
        let w = model.w();
        let w_fh: Vec<Vec<f64>> = (0..model.n())
            .map(|f| (0..model.m()).map(|h| w[(h, f)]).collect())
            .collect();
        let mut v = json!({ "W": w_fh, "b": model.b().as_slice() });
        if let Some(wo) = model.w_out() {
            let rows: Vec<Vec<f64>> = (0..model.m())
                .map(|h| (0..model.n()).map(|i| wo[(i, h)]).collect())
                .collect();
            v["W_out"] = json!(rows);
        }
        v
    }

    pub fn minimize(
        obj: &Objective,
        m: usize,
        untied: bool,
        search: SearchOptions,
    ) -> Result<Value> {
        let opts = CensusOptions::new(obj.n(), m)?
            .with_untied(untied)
            .with_search(search);
        let c = census(obj, &opts)?;
        let points: Vec<Value> = c
            .points
            .iter()
            .map(|p| {
                let mut v = model_json(&p.minimum.model);
                v["loss"] = json!(p.minimum.loss);
                v["count"] = json!(p.count);
                v["grad_norm"] = json!(p.minimum.grad_norm);
                v["kind"] = json!(p.minimum.kind_name());
                v["hessian_eigenvalues"] = json!(p.minimum.spectrum.eigenvalues);
                v["geometry"] = json!(p.geometry);
                v
            })
            .collect();
        Ok(json!({ "starts": c.starts, "points": points }))
    }

    /// Each model against its own objective (equal objectives share one census).
    pub fn verify_each(models: &[(Model, Objective)], search: &SearchOptions) -> Result<Value> {
        Ok(Value::Array(
            verify_instances(models, search, &Silent)?
                .iter()
                .map(report_json)
                .collect(),
        ))
    }

    /// The crate's one broadcasting rule, `[·] → [instances, features]`.
    pub fn broadcast(
        what: &str,
        shape: &[usize],
        values: &[f64],
        k: usize,
        n: usize,
    ) -> Result<Vec<f64>> {
        broadcast_to_instances(what, shape, values, k, n)
    }

    fn report_json(r: &Report) -> Value {
        let amount = match r.verdict {
            Verdict::AtOptimum { gap, .. } => gap,
            Verdict::WorseLocalMinimum { excess, .. } => excess,
            Verdict::NotConverged { improvement, .. } => improvement,
            Verdict::Saddle { grad_norm } => grad_norm,
            Verdict::BelowBestKnown { deficit, .. } => deficit,
        };
        json!({
            "verdict": r.verdict.to_string(),
            "status": r.verdict.name(),
            "amount": amount,
            "relative_distance": r.relative_distance,
            "gap": r.gap,
            "improvement": r.improvement,
            "loss": r.at_weights.loss,
            "grad_norm": r.at_weights.grad_norm,
            "kind": r.at_weights.kind_name(),
            "local_loss": r.local.loss,
            "local_distance": r.local_distance,
            "best_loss": r.best.loss,
            "best_count": r.best_count,
            "local": model_json(&r.local.model),
            "best": model_json(&r.best.model),
        })
    }

    pub fn geometry_json(model: &Model) -> Value {
        json!(geometry(model))
    }

    /// Reads a weights file; W of each instance as `[n, m]` C order (features-hidden).
    #[allow(clippy::type_complexity)]
    pub fn read(
        path: &str,
        layout: Option<&str>,
        w_name: Option<String>,
        b_name: Option<String>,
    ) -> Result<(usize, usize, Vec<f64>, Option<Vec<f64>>)> {
        let layout = layout.map(str::parse::<Layout>).transpose()?;
        let names = WeightNames {
            w: w_name,
            b: b_name,
        };
        let inst = read_weights(std::path::Path::new(path), layout, &names)?;
        let (m, n) = inst[0].w.shape();
        let w = inst.iter().flat_map(|i| i.w.as_slice().to_vec()).collect();
        let b = if inst.iter().all(|i| i.b.is_some()) {
            Some(
                inst.iter()
                    .flat_map(|i| {
                        i.b.as_ref()
                            .map(|b| b.as_slice().to_vec())
                            .unwrap_or_default()
                    })
                    .collect(),
            )
        } else {
            None
        };
        Ok((n, m, w, b))
    }
}

fn value_error(e: Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Runs `f` with the interpreter released; a panic becomes a RuntimeError.
fn compute<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: FnOnce() -> crate::Result<T> + Send,
    T: Send,
{
    py.detach(|| catch_unwind(AssertUnwindSafe(f)))
        .map_err(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            PyRuntimeError::new_err(format!(
                "internal error in tms_exact (please report): {what}"
            ))
        })?
        .map_err(value_error)
}

/// A float64 array's shape and values in C order (any strides).
fn flat(a: &PyReadonlyArrayDyn<'_, f64>) -> (Vec<usize>, Vec<f64>) {
    (a.shape().to_vec(), a.as_array().iter().copied().collect())
}

fn shaped<'py>(py: Python<'py>, v: Vec<f64>, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyArray1::from_vec(py, v)
        .reshape(shape.to_vec())?
        .into_any())
}

/// Canonical inputs of one call: `k` instances of (n, m).
struct Stack {
    k: usize,
    n: usize,
    m: usize,
    w: Vec<f64>,
    b: Vec<f64>,
    w_out: Option<Vec<f64>>,
    density: Option<Vec<f64>>,
    importance: Vec<f64>,
}

impl Stack {
    #[allow(clippy::too_many_arguments)]
    fn new(
        w: &PyReadonlyArrayDyn<'_, f64>,
        b: &PyReadonlyArrayDyn<'_, f64>,
        w_out: Option<&PyReadonlyArrayDyn<'_, f64>>,
        density: Option<&PyReadonlyArrayDyn<'_, f64>>,
        importance: &PyReadonlyArrayDyn<'_, f64>,
    ) -> PyResult<Stack> {
        let (ws, w) = flat(w);
        let [k, n, m] = ws[..] else {
            return Err(PyValueError::new_err(format!(
                "invalid input: W must be [instances, features, hidden] here, got shape {ws:?}"
            )));
        };
        let want = |name: &str, a: &PyReadonlyArrayDyn<'_, f64>, shape: &[usize]| {
            let (s, v) = flat(a);
            if s != shape {
                return Err(PyValueError::new_err(format!(
                    "invalid input: {name} has shape {s:?}, expected {shape:?}"
                )));
            }
            Ok(v)
        };
        Ok(Stack {
            k,
            n,
            m,
            w,
            b: want("b", b, &[k, n])?,
            w_out: w_out.map(|a| want("W_out", a, &[k, m, n])).transpose()?,
            density: density.map(|a| want("density", a, &[k, n])).transpose()?,
            importance: want("importance", importance, &[k, n])?,
        })
    }

    fn model(&self, i: usize) -> crate::Result<crate::model::Model> {
        let (n, m) = (self.n, self.m);
        api::model(
            n,
            m,
            &self.w[i * n * m..(i + 1) * n * m],
            &self.b[i * n..(i + 1) * n],
            self.w_out
                .as_ref()
                .map(|wo| &wo[i * n * m..(i + 1) * n * m]),
        )
    }

    fn objective(&self, i: usize, s: &api::Settings) -> crate::Result<crate::objective::Objective> {
        let n = self.n;
        api::objective(
            n,
            self.density.as_ref().map(|d| &d[i * n..(i + 1) * n]),
            &self.importance[i * n..(i + 1) * n],
            s,
        )
    }
}

/// Exact loss of each instance of a stack (see the Python `tms_exact.loss`).
#[pyfunction]
#[pyo3(signature = (w, b, importance, density, w_out, activation, distribution, reduction, grad, hessian, tol))]
#[allow(clippy::too_many_arguments)]
fn loss<'py>(
    py: Python<'py>,
    w: PyReadonlyArrayDyn<'py, f64>,
    b: PyReadonlyArrayDyn<'py, f64>,
    importance: PyReadonlyArrayDyn<'py, f64>,
    density: Option<PyReadonlyArrayDyn<'py, f64>>,
    w_out: Option<PyReadonlyArrayDyn<'py, f64>>,
    activation: &str,
    distribution: &str,
    reduction: &str,
    grad: bool,
    hessian: bool,
    tol: Option<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let stack = Stack::new(&w, &b, w_out.as_ref(), density.as_ref(), &importance)?;
    let settings = api::Settings {
        activation,
        distribution,
        reduction,
        tol,
    };
    let results = compute(py, || {
        (0..stack.k)
            .map(|i| {
                let obj = stack.objective(i, &settings)?;
                api::evaluate(&stack.model(i)?, &obj, grad, hessian, settings.tol)
            })
            .collect::<crate::Result<Vec<_>>>()
    })?;
    let (k, n, m) = (stack.k, stack.n, stack.m);
    let out = PyDict::new(py);
    out.set_item(
        "loss",
        shaped(py, results.iter().map(|r| r.loss).collect(), &[k])?,
    )?;
    out.set_item(
        "error",
        shaped(py, results.iter().map(|r| r.error).collect(), &[k])?,
    )?;
    let per: Vec<f64> = results.iter().flat_map(|r| r.per_feature.clone()).collect();
    out.set_item("per_feature", shaped(py, per, &[k, n])?)?;
    if grad {
        // to_vec order: W (= [n, m] C order), then W_out ([m, n] C order), then b.
        let wn = n * m;
        let g = |r: &api::Evaluated| r.grad.clone().unwrap_or_default();
        let gw: Vec<f64> = results.iter().flat_map(|r| g(r)[..wn].to_vec()).collect();
        let gb: Vec<f64> = results
            .iter()
            .flat_map(|r| {
                let v = g(r);
                v[v.len() - n..].to_vec()
            })
            .collect();
        out.set_item("grad_W", shaped(py, gw, &[k, n, m])?)?;
        out.set_item("grad_b", shaped(py, gb, &[k, n])?)?;
        if stack.w_out.is_some() {
            let gwo: Vec<f64> = results
                .iter()
                .flat_map(|r| g(r)[wn..2 * wn].to_vec())
                .collect();
            out.set_item("grad_W_out", shaped(py, gwo, &[k, m, n])?)?;
        }
    }
    if hessian {
        let p = (if stack.w_out.is_some() { 2 } else { 1 }) * n * m + n;
        let h: Vec<f64> = results
            .iter()
            .flat_map(|r| r.hessian.clone().unwrap_or_default())
            .collect();
        out.set_item("hessian", shaped(py, h, &[k, p, p])?)?;
    }
    Ok(out)
}

/// Seconds per loss + gradient evaluation of instance 0, timed inside Rust over `reps` calls
/// (the same library calls as `loss`; for comparing the Python call overhead).
#[pyfunction]
#[pyo3(signature = (w, b, importance, density, reps))]
fn time_loss_grad<'py>(
    py: Python<'py>,
    w: PyReadonlyArrayDyn<'py, f64>,
    b: PyReadonlyArrayDyn<'py, f64>,
    importance: PyReadonlyArrayDyn<'py, f64>,
    density: Option<PyReadonlyArrayDyn<'py, f64>>,
    reps: usize,
) -> PyResult<f64> {
    let stack = Stack::new(&w, &b, None, density.as_ref(), &importance)?;
    let settings = api::Settings {
        activation: "relu",
        distribution: "independent",
        reduction: "sum",
        tol: None,
    };
    compute(py, || {
        let start = std::time::Instant::now();
        let mut sink = 0.0;
        for _ in 0..reps.max(1) {
            let obj = stack.objective(0, &settings)?;
            sink += api::evaluate(&stack.model(0)?, &obj, true, false, None)?.loss;
        }
        std::hint::black_box(sink);
        Ok(start.elapsed().as_secs_f64() / reps.max(1) as f64)
    })
}

/// Census of critical points for one objective, as JSON text.
#[pyfunction]
#[pyo3(signature = (n, m, importance, density, activation, distribution, reduction, restarts, seed, untied))]
#[allow(clippy::too_many_arguments)]
fn minimize(
    py: Python<'_>,
    n: usize,
    m: usize,
    importance: Vec<f64>,
    density: Option<Vec<f64>>,
    activation: &str,
    distribution: &str,
    reduction: &str,
    restarts: usize,
    seed: u64,
    untied: bool,
) -> PyResult<String> {
    let settings = api::Settings {
        activation,
        distribution,
        reduction,
        tol: None,
    };
    compute(py, || {
        let obj = api::objective(n, density.as_deref(), &importance, &settings)?;
        let v = api::minimize(&obj, m, untied, api::search(restarts, seed)?)?;
        Ok(v.to_string())
    })
}

/// Verdicts for each instance of a stack, as JSON text (a list).
#[pyfunction]
#[pyo3(signature = (w, b, importance, density, w_out, activation, distribution, reduction, restarts, seed))]
#[allow(clippy::too_many_arguments)]
fn verify<'py>(
    py: Python<'py>,
    w: PyReadonlyArrayDyn<'py, f64>,
    b: PyReadonlyArrayDyn<'py, f64>,
    importance: PyReadonlyArrayDyn<'py, f64>,
    density: Option<PyReadonlyArrayDyn<'py, f64>>,
    w_out: Option<PyReadonlyArrayDyn<'py, f64>>,
    activation: &str,
    distribution: &str,
    reduction: &str,
    restarts: usize,
    seed: u64,
) -> PyResult<String> {
    let stack = Stack::new(&w, &b, w_out.as_ref(), density.as_ref(), &importance)?;
    let settings = api::Settings {
        activation,
        distribution,
        reduction,
        tol: None,
    };
    compute(py, || {
        let search = api::search(restarts, seed)?;
        let models = (0..stack.k)
            .map(|i| Ok((stack.model(i)?, stack.objective(i, &settings)?)))
            .collect::<crate::Result<Vec<_>>>()?;
        Ok(api::verify_each(&models, &search)?.to_string())
    })
}

/// Geometry of each instance of `[instances, features, hidden]`, as JSON text (a list).
#[pyfunction]
fn geometry(py: Python<'_>, w: PyReadonlyArrayDyn<'_, f64>) -> PyResult<String> {
    let (ws, w) = flat(&w);
    let [k, n, m] = ws[..] else {
        return Err(PyValueError::new_err(format!(
            "invalid input: W must be [instances, features, hidden] here, got shape {ws:?}"
        )));
    };
    compute(py, || {
        let list = (0..k)
            .map(|i| {
                let model = api::model(n, m, &w[i * n * m..(i + 1) * n * m], &vec![0.0; n], None)?;
                Ok(api::geometry_json(&model))
            })
            .collect::<crate::Result<Vec<_>>>()?;
        Ok(serde_json::Value::Array(list).to_string())
    })
}

/// Reads `.npy`/`.npz`/`.safetensors`/`.pt` weights: (W `[k, n, m]`, b `[k, n]` or None).
#[pyfunction]
#[pyo3(signature = (path, layout=None, w_name=None, b_name=None))]
#[allow(clippy::type_complexity)]
fn read_weights<'py>(
    py: Python<'py>,
    path: &str,
    layout: Option<&str>,
    w_name: Option<String>,
    b_name: Option<String>,
) -> PyResult<(Bound<'py, PyAny>, Option<Bound<'py, PyAny>>)> {
    let path = path.to_string();
    let layout = layout.map(str::to_string);
    let (n, m, w, b) = compute(py, || api::read(&path, layout.as_deref(), w_name, b_name))?;
    let k = w.len() / (n * m);
    Ok((
        shaped(py, w, &[k, n, m])?,
        b.map(|b| shaped(py, b, &[k, n])).transpose()?,
    ))
}

/// `a` broadcast to `[k, n]` = `[instances, features]` by the library's rule (the Python
/// layer's density and importance go through here, as the weights-file reader's do).
#[pyfunction]
fn broadcast<'py>(
    py: Python<'py>,
    name: &str,
    a: PyReadonlyArrayDyn<'py, f64>,
    k: usize,
    n: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let (shape, values) = flat(&a);
    let v = api::broadcast(name, &shape, &values, k, n).map_err(value_error)?;
    shaped(py, v, &[k, n])
}

/// The compiled core of the `tms_exact` package.
#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(loss, m)?)?;
    m.add_function(wrap_pyfunction!(minimize, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(geometry, m)?)?;
    m.add_function(wrap_pyfunction!(read_weights, m)?)?;
    m.add_function(wrap_pyfunction!(broadcast, m)?)?;
    m.add_function(wrap_pyfunction!(time_loss_grad, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
