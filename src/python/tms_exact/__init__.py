"""Exact expected loss of the toy models of superposition (Elhage et al. 2022).

For ``W`` (hidden x features in the paper's notation), bias ``b`` and data with independent
features (feature ``i`` is 0 with probability ``1 - density[i]``, else uniform on [0, 1]), the
model outputs ``x' = act(W^T W x + b)`` and the loss is ``sum_i importance[i] E[(x_i - x'_i)^2]``
(``reduction="mean"`` divides by the number of features, as the Anthropic notebook does).
Every number here is computed in closed form, not sampled.

Arrays may be numpy arrays, torch tensors or anything with ``__array__``. ``W`` is either one
model (2-D) or a stack of instances (3-D, as the notebook trains them). ``layout`` says how its
two last axes are ordered:

* ``"features-hidden"``: ``W[instance, feature, hidden]``, the Anthropic notebook's;
* ``"hidden-features"``: ``W[instance, hidden, feature]``, ARENA's and the model files'.

When ``layout`` is not given it is inferred from the length of ``b``; when both orders fit (a
square ``W``) it must be given. Bad input raises ``ValueError`` with one line of text (the same
text the command-line tool prints).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from . import _core

__version__ = _core.__version__

__all__ = [
    "loss",
    "LossResult",
    "minimize",
    "Census",
    "CriticalPoint",
    "verify",
    "Verdict",
    "geometry",
    "load",
    "__version__",
]

FEATURES_HIDDEN = "features-hidden"
HIDDEN_FEATURES = "hidden-features"
_LAYOUTS = {
    "features-hidden": FEATURES_HIDDEN,
    "feature-hidden": FEATURES_HIDDEN,
    "notebook": FEATURES_HIDDEN,
    "fh": FEATURES_HIDDEN,
    "hidden-features": HIDDEN_FEATURES,
    "hidden-feature": HIDDEN_FEATURES,
    "arena": HIDDEN_FEATURES,
    "hf": HIDDEN_FEATURES,
}


def _invalid(msg: str) -> ValueError:
    return ValueError(f"invalid input: {msg}")


def _to_numpy(x: Any, name: str) -> np.ndarray:
    """Any array-like (torch tensors included, on any device) as a numpy array."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu()
        if str(getattr(x, "dtype", "")) == "torch.bfloat16":
            x = x.float()  # numpy has no bfloat16; float32 holds every bfloat16 exactly
    try:
        return np.asarray(x)
    except Exception as e:  # noqa: BLE001 - any conversion failure is bad input
        raise _invalid(f"{name} is not an array ({type(x).__name__}: {e})") from None


def _float_array(x: Any, name: str) -> np.ndarray:
    a = _to_numpy(x, name)
    if a.dtype.kind != "f":
        raise _invalid(f"{name} has dtype {a.dtype}; expected a float array (float16, float32 or float64)")
    return a.astype(np.float64, copy=False)


def _data_array(x: Any, name: str) -> np.ndarray:
    a = _to_numpy(x, name)
    if a.dtype.kind not in "fiu":
        raise _invalid(f"{name} has dtype {a.dtype}; expected numbers")
    return a.astype(np.float64, copy=False)


def _parse_layout(layout: Optional[str]) -> Optional[str]:
    if layout is None:
        return None
    key = str(layout).strip().lower().replace("_", "-")
    if key not in _LAYOUTS:
        raise _invalid(
            f"unknown weight layout '{layout}' (expected features-hidden (the notebook's "
            "W[instance, feature, hidden]) or hidden-features (ARENA's W[instance, hidden, feature]))"
        )
    return _LAYOUTS[key]


def _resolve_layout(shape: tuple, b_len: Optional[int], layout: Optional[str]) -> str:
    layout = _parse_layout(layout)
    d1, d2 = shape[-2], shape[-1]
    if layout is not None:
        n = d1 if layout == FEATURES_HIDDEN else d2
        if b_len is not None and b_len != n:
            other = HIDDEN_FEATURES if layout == FEATURES_HIDDEN else FEATURES_HIDDEN
            hint = f"; it would match layout='{other}'" if b_len == (d2 if n == d1 else d1) else ""
            raise _invalid(
                f"b has {b_len} entries per instance but W of shape {list(shape)} has {n} features "
                f"under layout='{layout}'{hint}"
            )
        return layout
    if b_len is None:
        raise _invalid(
            "layout is needed when there is no b: pass layout='features-hidden' (the notebook's "
            "W[instance, feature, hidden]) or layout='hidden-features' (ARENA's W[instance, hidden, feature])"
        )
    fits = [lay for lay, n in ((FEATURES_HIDDEN, d1), (HIDDEN_FEATURES, d2)) if n == b_len]
    if len(fits) == 2:
        raise _invalid(
            f"W of shape {list(shape)} fits both layouts with b of {b_len} entries: pass "
            "layout='features-hidden' (the notebook's W[instance, feature, hidden]) or "
            "layout='hidden-features' (ARENA's W[instance, hidden, feature])"
        )
    if not fits:
        raise _invalid(
            f"b has {b_len} entries per instance but W of shape {list(shape)} has neither {d1} nor "
            f"{d2} features in either layout"
        )
    return fits[0]


def _per_instance(x: Any, name: str, k: int, n: int) -> np.ndarray:
    """A scalar or array broadcast to [instances, features]."""
    # The library's broadcasting rule, shared with the command line's weights-file reader.
    return _core.broadcast(name, _data_array(x, name), int(k), int(n))


class _Prepared:
    """Inputs in the core's canonical form: W [k, n, m] (features-hidden), b [k, n], ..."""

    def __init__(self, W, b, W_out, density, importance, layout, b_required=True):
        w = _float_array(W, "W")
        if w.ndim not in (2, 3):
            raise _invalid(
                f"W has shape {list(w.shape)} (rank {w.ndim}); expected a 2-D matrix or a 3-D "
                "[instances, ·, ·] stack"
            )
        if 0 in w.shape:
            raise _invalid(f"W has shape {list(w.shape)}, which is empty")
        self.stacked = w.ndim == 3
        k = w.shape[0] if self.stacked else 1
        bb = None if b is None else _float_array(b, "b")
        if bb is not None:
            ok = bb.ndim == 1 or (self.stacked and bb.ndim == 2 and bb.shape[0] in (1, k))
            if not ok:
                raise _invalid(
                    f"b has shape {list(bb.shape)}; with W of shape {list(w.shape)} expected "
                    + (f"[{k}, n] or [n]" if self.stacked else "[n]")
                )
        self.layout = _resolve_layout(w.shape, None if bb is None else bb.shape[-1], layout)
        w3 = w if self.stacked else w[None]
        fh = w3 if self.layout == FEATURES_HIDDEN else np.swapaxes(w3, 1, 2)
        self.k, self.n, self.m = fh.shape
        self.shape = w.shape
        self.w = np.ascontiguousarray(fh)
        self.b = np.zeros((k, self.n))
        if bb is not None:
            self.b[...] = bb
        self.w_out = None
        if W_out is not None:
            wo = _float_array(W_out, "W_out")
            # features-hidden: W_out is [hidden, features] (out = h @ W_out); hidden-features: ours, [features, hidden].
            want = (self.m, self.n) if self.layout == FEATURES_HIDDEN else (self.n, self.m)
            want = ((k,) if self.stacked else ()) + want
            if wo.shape != want:
                raise _invalid(f"W_out has shape {list(wo.shape)}; expected {list(want)} under layout='{self.layout}'")
            wo3 = wo if self.stacked else wo[None]
            self.w_out = np.ascontiguousarray(wo3 if self.layout == FEATURES_HIDDEN else np.swapaxes(wo3, 1, 2))
        self.density = None if density is None else _per_instance(density, "density", self.k, self.n)
        self.importance = _per_instance(1.0 if importance is None else importance, "importance", self.k, self.n)

    def out_w(self, g: np.ndarray) -> np.ndarray:
        """A [k, n, m] array back in the input's layout and rank."""
        g = g if self.layout == FEATURES_HIDDEN else np.swapaxes(g, 1, 2)
        return np.ascontiguousarray(g if self.stacked else g[0])

    def out_k(self, v: np.ndarray):
        return v if self.stacked else v[0]

    def hessian_order(self) -> np.ndarray:
        """Canonical index of each parameter in the input's order (W.ravel(), W_out.ravel(), b)."""
        n, m = self.n, self.m
        if self.layout == FEATURES_HIDDEN:
            w_idx = np.arange(n * m)
            wo_idx = n * m + np.arange(n * m)
        else:  # user W [m, n] at h*n + f is canonical f*m + h; W_out [n, m] at i*m + h is h*n + i
            h, f = np.divmod(np.arange(n * m), n)
            w_idx = f * m + h
            i, h2 = np.divmod(np.arange(n * m), m)
            wo_idx = n * m + h2 * n + i
        parts = [w_idx] + ([wo_idx] if self.w_out is not None else [])
        start = n * m * len(parts)
        return np.concatenate(parts + [start + np.arange(n)])


@dataclass(frozen=True)
class LossResult:
    """The exact loss of one model (floats) or of each instance of a stack (arrays over instances).

    Attributes:
        loss: the loss (a float for a 2-D W, an array [instances] for a stack).
        per_feature: each feature's weighted term (they sum to ``loss``), [features] or [instances, features].
        grad_W, grad_b, grad_W_out: the exact gradient in the input's layout and shape (``grad=True``).
        hessian: the exact Hessian (``hessian=True``) over the parameters in the order
            ``W.ravel()``, ``W_out.ravel()`` (untied only), ``b`` — W in the input's layout.
        error: a bound on the absolute error of ``loss``: floating-point rounding of the closed
            form, or the quadrature's estimate for smooth activations.
        layout: the layout used for W (given or inferred).
    """

    loss: Union[float, np.ndarray]
    per_feature: np.ndarray
    error: Union[float, np.ndarray]
    layout: str
    grad_W: Optional[np.ndarray] = None
    grad_b: Optional[np.ndarray] = None
    grad_W_out: Optional[np.ndarray] = None
    hessian: Optional[np.ndarray] = field(default=None, repr=False)


def _evaluate(p: _Prepared, activation, distribution, reduction, grad, hessian, tol) -> LossResult:
    r = _core.loss(
        p.w, p.b, p.importance, p.density, p.w_out,
        str(activation), str(distribution), str(reduction), bool(grad), bool(hessian),
        None if tol is None else float(tol),
    )
    scalar = (lambda v: float(v[0])) if not p.stacked else (lambda v: v)
    extra = {}
    if grad:
        extra["grad_W"] = p.out_w(r["grad_W"])
        extra["grad_b"] = p.out_k(r["grad_b"])
        if p.w_out is not None:
            wo = r["grad_W_out"]
            wo = wo if p.layout == FEATURES_HIDDEN else np.swapaxes(wo, 1, 2)
            extra["grad_W_out"] = np.ascontiguousarray(p.out_k(wo))
    if hessian:
        order = p.hessian_order()
        h = r["hessian"][:, order][:, :, order]
        extra["hessian"] = p.out_k(h)
    return LossResult(
        loss=scalar(r["loss"]),
        per_feature=p.out_k(r["per_feature"]),
        error=scalar(r["error"]),
        layout=p.layout,
        **extra,
    )


def loss(
    W,
    b=None,
    *,
    density=None,
    importance=1.0,
    activation: str = "relu",
    distribution: str = "independent",
    reduction: str = "sum",
    W_out=None,
    layout: Optional[str] = None,
    grad: bool = False,
    hessian: bool = False,
    tol: Optional[float] = None,
) -> LossResult:
    """The exact expected loss of ``W, b`` (one model or a stack of instances).

    Args:
        W: [features, hidden] / [hidden, features], or a stack [instances, ·, ·] (see ``layout``).
        b: the output bias, [features] or [instances, features]; ``None`` means 0.
        density: probability that each feature is non-zero (independent data); a scalar or an
            array broadcastable to [instances, features], e.g. the notebook's
            ``feature_probability`` of shape [instances, 1]. ``None``: 1, or the distribution's.
        importance: importances, a scalar or broadcastable to [instances, features].
        activation: ``relu``, ``linear``, ``leaky_relu[:alpha]`` (closed forms) or ``gelu``,
            ``softplus`` (adaptive quadrature with an error estimate, see ``tol``).
        distribution: ``independent``, ``one-hot`` or ``one-hot:q1,q2,...``.
        reduction: ``sum`` (the paper's) or ``mean`` (divided by the number of features, the notebook's).
        W_out: untied read-out; [hidden, features] with layout features-hidden, [features, hidden] otherwise.
        layout: ``features-hidden`` or ``hidden-features``; inferred from ``b`` when only one fits.
        grad: also compute the exact gradient. hessian: also the exact Hessian.
        tol: absolute error target of the quadrature (smooth activations only).

    Returns:
        A :class:`LossResult`. The computation runs without holding the GIL.

    Raises:
        ValueError: bad shapes, dtypes, non-finite values, or data settings out of range.
    """
    p = _Prepared(W, b, W_out, density, importance, layout)
    return _evaluate(p, activation, distribution, reduction, grad, hessian, tol)


@dataclass(frozen=True)
class CriticalPoint:
    """A distinct critical point found by :func:`minimize` (W in the requested layout)."""

    loss: float
    count: int
    W: np.ndarray
    b: np.ndarray
    grad_norm: float
    kind: str
    hessian_eigenvalues: list
    geometry: dict
    W_out: Optional[np.ndarray] = None


@dataclass(frozen=True)
class Census:
    """The distinct critical points of a multi-start exact minimisation, lowest loss first."""

    points: list
    starts: int

    @property
    def best(self) -> CriticalPoint:
        return self.points[0]


def _point_arrays(d: dict, layout: str):
    w = np.asarray(d["W"], dtype=np.float64)  # [n, m], features-hidden
    wo = None if "W_out" not in d else np.asarray(d["W_out"], dtype=np.float64)  # [m, n]
    if layout == HIDDEN_FEATURES:
        w = np.ascontiguousarray(w.T)
        wo = None if wo is None else np.ascontiguousarray(wo.T)
    return w, np.asarray(d["b"], dtype=np.float64), wo


def minimize(
    n_features: int,
    n_hidden: int,
    *,
    density=None,
    importance=1.0,
    activation: str = "relu",
    distribution: str = "independent",
    reduction: str = "sum",
    untied: bool = False,
    restarts: int = 16,
    seed: int = 0,
    layout: str = FEATURES_HIDDEN,
) -> Census:
    """Minimise the exact loss from ``restarts`` seeded starts and return the census of distinct
    critical points (each minimised, polished by Newton steps and classified by its Hessian).

    ``density`` and ``importance`` are scalars or per-feature arrays; ``layout`` is the layout of
    the returned ``W`` (default the notebook's [features, hidden]).
    """
    layout = _parse_layout(layout)
    n, m = int(n_features), int(n_hidden)
    if n < 1 or m < 1:
        raise _invalid(f"n_features and n_hidden must be at least 1, got {n_features} and {n_hidden}")
    imp = _per_instance(1.0 if importance is None else importance, "importance", 1, n)[0]
    den = None if density is None else _per_instance(density, "density", 1, n)[0]
    if int(restarts) < 0 or int(seed) < 0:
        raise _invalid("restarts and seed must be non-negative")
    text = _core.minimize(
        n, m, imp.tolist(), None if den is None else den.tolist(),
        str(activation), str(distribution), str(reduction), int(restarts), int(seed), bool(untied),
    )
    d = json.loads(text)
    points = []
    for pt in d["points"]:
        w, bias, wo = _point_arrays(pt, layout)
        points.append(
            CriticalPoint(
                loss=pt["loss"], count=pt["count"], W=w, b=bias, grad_norm=pt["grad_norm"],
                kind=pt["kind"], hessian_eigenvalues=pt["hessian_eigenvalues"],
                geometry=pt["geometry"], W_out=wo,
            )
        )
    return Census(points=points, starts=d["starts"])


@dataclass(frozen=True)
class Verdict:
    """Is a trained model at the optimum? One per instance (see :func:`verify`).

    ``status`` is ``at_optimum``, ``worse_local_minimum``, ``not_converged``, ``saddle`` or
    ``below_best_known`` (exact minimisation from the weights ends below the best critical point
    known without reaching a critical point: the search missed a lower basin); ``text`` the
    sentence the command-line tool prints; ``amount`` the relative gap / excess / improvement /
    deficit (or the gradient norm for a saddle). The numbers the verdict rests on:
    ``relative_distance`` (from the weights to the critical point exact local minimisation
    reaches, relative to the parameters' norm), ``improvement`` (the relative loss gain of that
    minimisation) and ``gap`` (the relative loss above the best critical point known, negative
    below it); "not converged" means both the distance and the gain are beyond training noise
    (see the README's verify section).
    """

    status: str
    text: str
    amount: float
    loss: float
    grad_norm: float
    kind: str
    local_loss: float
    local_distance: float
    best_loss: float
    best_count: int
    local_W: np.ndarray
    local_b: np.ndarray
    best_W: np.ndarray
    best_b: np.ndarray
    relative_distance: float
    gap: float
    improvement: float


def verify(
    W,
    b=None,
    *,
    density=None,
    importance=1.0,
    activation: str = "relu",
    distribution: str = "independent",
    reduction: str = "sum",
    W_out=None,
    layout: Optional[str] = None,
    restarts: int = 16,
    seed: int = 0,
):
    """Judge trained weights: inspect each instance at its weights, minimise exactly from there,
    and compare with the best critical point a seeded multi-start search finds for its data.

    Per-instance data (e.g. the notebook's ``feature_probability`` of shape [instances, 1]) are
    honoured: each instance is judged against its own objective. Returns a :class:`Verdict`
    for a 2-D ``W`` and a list of them for a stack.
    """
    p = _Prepared(W, b, W_out, density, importance, layout)
    if int(restarts) < 0 or int(seed) < 0:
        raise _invalid("restarts and seed must be non-negative")
    text = _core.verify(
        p.w, p.b, p.importance, p.density, p.w_out,
        str(activation), str(distribution), str(reduction), int(restarts), int(seed),
    )
    out = []
    for r in json.loads(text):
        lw, lb, _ = _point_arrays(r["local"], p.layout)
        bw, bb, _ = _point_arrays(r["best"], p.layout)
        out.append(
            Verdict(
                status=r["status"], text=r["verdict"], amount=r["amount"], loss=r["loss"],
                grad_norm=r["grad_norm"], kind=r["kind"], local_loss=r["local_loss"],
                local_distance=r["local_distance"], best_loss=r["best_loss"],
                best_count=r["best_count"], local_W=lw, local_b=lb, best_W=bw, best_b=bb,
                relative_distance=r["relative_distance"], gap=r["gap"], improvement=r["improvement"],
            )
        )
    return out if p.stacked else out[0]


def geometry(W, b=None, *, layout: Optional[str] = None):
    """Feature norms, superposition, dimensionality (the paper's D_i), dimensions per feature,
    dropped features and antipodal pairs. A dict for a 2-D ``W``, a list of dicts for a stack.
    ``layout`` is inferred from ``b`` when given, else required."""
    p = _Prepared(W, b, None, None, None, layout)
    out = json.loads(_core.geometry(p.w))
    return out if p.stacked else out[0]


def load(path, *, layout: Optional[str] = None, w_name: Optional[str] = None, b_name: Optional[str] = None):
    """Read trained weights from ``.npy``, ``.npz``, ``.safetensors`` or a ``torch.save`` file
    (``.pt`` / ``.pth``: a state_dict, a checkpoint dict or a whole pickled module; never
    unpickled by Python, so no code in the file runs).

    ``layout`` is the file's layout (default features-hidden); ``w_name`` / ``b_name`` pick
    tensors (default ``W`` then ``w``; ``b_final`` then ``b`` then ``bias``; nested names are
    dotted, e.g. ``model.W``). Returns ``(W, b)`` with ``W`` always a stack
    [instances, features, hidden] (features-hidden) and ``b`` [instances, features] or None.
    """
    return _core.read_weights(str(path), None if layout is None else str(layout), w_name, b_name)
