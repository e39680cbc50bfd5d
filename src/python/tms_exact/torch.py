"""The exact expected loss as a differentiable PyTorch operation.

``ExactLoss`` replaces the sampled batch loss of a training loop::

    exact = ExactLoss(density=model.feature_probability, importance=model.importance,
                      reduction="mean")            # the notebook's scale
    loss = exact(model.W, model.b_final).sum()      # one exact loss per instance, summed
    loss.backward()                                 # the exact gradient, no sampling noise

The forward pass is the closed-form loss of the current weights; the backward pass is its exact
gradient (computed together with the loss by the Rust core, on CPU in float64, then cast to the
weights' dtype and device). Second derivatives through autograd are not supported (use
``tms_exact.loss(..., hessian=True)``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

try:
    import torch
    from torch.autograd.function import once_differentiable
except ImportError as e:  # the package itself needs only numpy
    raise ImportError(f"tms_exact.torch needs PyTorch ({e}); install it with: pip install torch") from e

from . import _Prepared, _data_array, _evaluate

__all__ = ["ExactLoss", "exact_loss"]


class _ExactLossFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, W, b, spec):
        need_grad = bool(ctx.needs_input_grad[0] or ctx.needs_input_grad[1])
        p = _Prepared(W, b, None, spec["density"], spec["importance"], spec["layout"])
        r = _evaluate(p, spec["activation"], spec["distribution"], spec["reduction"], need_grad, False, None)
        as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=W.dtype, device=W.device)  # noqa: E731
        if need_grad:
            ctx.grad_W = as_t(r.grad_W)
            ctx.grad_b = as_t(r.grad_b)
            ctx.b_shape = None if b is None else b.shape
        return as_t(r.loss)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        gW = gb = None
        if ctx.needs_input_grad[0]:
            gW = g.reshape(g.shape + (1, 1)) * ctx.grad_W
        if ctx.needs_input_grad[1]:
            gb = g.reshape(g.shape + (1,)) * ctx.grad_b
            if gb.shape != ctx.b_shape:  # a bias shared by the instances of a stack
                gb = gb.sum_to_size(ctx.b_shape)
        return gW, gb, None


def exact_loss(
    W: torch.Tensor,
    b: Optional[torch.Tensor] = None,
    *,
    density=None,
    importance=1.0,
    activation: str = "relu",
    distribution: str = "independent",
    reduction: str = "sum",
    layout: Optional[str] = None,
) -> torch.Tensor:
    """Functional form of :class:`ExactLoss`: a scalar for a 2-D ``W``, one loss per instance
    for a stack ``[instances, ·, ·]``; differentiable in ``W`` and ``b``."""
    if not isinstance(W, torch.Tensor) or (b is not None and not isinstance(b, torch.Tensor)):
        raise ValueError("invalid input: exact_loss takes torch tensors (use tms_exact.loss for numpy arrays)")
    spec = {
        "density": density,
        "importance": importance,
        "activation": activation,
        "distribution": distribution,
        "reduction": reduction,
        "layout": layout,
    }
    return _ExactLossFunction.apply(W, b, spec)


class ExactLoss(torch.nn.Module):
    """The exact expected loss of ``(W, b)`` as an ``nn.Module``; see the module docstring.

    Args:
        density, importance: scalars or arrays/tensors broadcastable to [instances, features]
            (the notebook's ``feature_probability`` [instances, 1] and ``importance`` [1, features]).
        reduction: ``sum`` (the paper's loss) or ``mean`` (the notebook's: divided by n).
        layout: ``features-hidden`` (the notebook's ``W[instance, feature, hidden]``) or
            ``hidden-features``; inferred from ``b`` when only one fits.
        activation, distribution: as in :func:`tms_exact.loss`.

    Calling ``exact(W, b)`` returns a scalar for a 2-D ``W`` and a tensor [instances] for a stack.
    """

    def __init__(
        self,
        density=None,
        importance=1.0,
        reduction: str = "sum",
        layout: Optional[str] = None,
        activation: str = "relu",
        distribution: str = "independent",
    ):
        super().__init__()
        # Converted once: the data settings are constants of the objective, not parameters.
        self.density = None if density is None else _data_array(density, "density")
        self.importance = _data_array(1.0 if importance is None else importance, "importance")
        self.reduction = reduction
        self.layout = layout
        self.activation = activation
        self.distribution = distribution

    def forward(self, W: torch.Tensor, b: Optional[torch.Tensor] = None) -> torch.Tensor:
        return exact_loss(
            W,
            b,
            density=self.density,
            importance=self.importance,
            activation=self.activation,
            distribution=self.distribution,
            reduction=self.reduction,
            layout=self.layout,
        )

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, layout={self.layout!r}, activation={self.activation!r}"
