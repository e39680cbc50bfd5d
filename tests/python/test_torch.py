"""tms_exact.torch.ExactLoss: autograd gradcheck in float64, agreement with tms_exact.loss,
and a training loop on the exact objective."""

import numpy as np
import pytest
import torch

import tms_exact
from tms_exact.torch import ExactLoss, exact_loss

N, M = 5, 2


def test_gradcheck_2d():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(N, M, dtype=torch.float64, generator=g, requires_grad=True)
    b = (0.1 * torch.randn(N, dtype=torch.float64, generator=g)).requires_grad_()
    exact = ExactLoss(density=0.3, importance=0.9 ** torch.arange(N, dtype=torch.float64))
    assert torch.autograd.gradcheck(exact, (W, b), eps=1e-6, atol=1e-8, rtol=1e-6)


def test_gradcheck_stack_with_per_instance_density_and_shared_bias():
    g = torch.Generator().manual_seed(1)
    k = 3
    W = torch.randn(k, N, M, dtype=torch.float64, generator=g, requires_grad=True)
    b = (0.1 * torch.randn(N, dtype=torch.float64, generator=g)).requires_grad_()  # shared by instances
    density = torch.tensor([[1.0], [0.3], [0.05]], dtype=torch.float64)
    exact = ExactLoss(density=density, reduction="mean")
    assert exact(W, b).shape == (k,)
    assert torch.autograd.gradcheck(exact, (W, b), eps=1e-6, atol=1e-8, rtol=1e-6)


def test_hidden_features_layout_and_untracked_bias():
    g = torch.Generator().manual_seed(2)
    W = torch.randn(M, N, dtype=torch.float64, generator=g, requires_grad=True)
    exact = ExactLoss(density=0.2, layout="hidden-features")
    assert torch.autograd.gradcheck(lambda w: exact(w), (W,), eps=1e-6, atol=1e-8, rtol=1e-6)


def test_forward_matches_loss_and_keeps_dtype_and_gradient_values():
    g = torch.Generator().manual_seed(3)
    W = torch.randn(2, N, M, generator=g, requires_grad=True)  # float32, as the notebook trains
    b = torch.zeros(2, N, requires_grad=True)
    fp = torch.tensor([[0.1], [0.5]])
    out = exact_loss(W, b, density=fp, reduction="mean")
    assert out.dtype == torch.float32 and out.shape == (2,)
    ref = tms_exact.loss(W, b, density=fp, reduction="mean", grad=True)
    np.testing.assert_allclose(out.detach().numpy(), ref.loss, rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(W.grad.numpy(), ref.grad_W, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(b.grad.numpy(), ref.grad_b, rtol=1e-5, atol=1e-7)


def test_training_on_the_exact_loss_descends_to_the_exact_minimum():
    torch.manual_seed(0)
    density, importance = 0.1, torch.tensor([1.0, 1.0])
    W = torch.nn.Parameter(torch.nn.init.xavier_normal_(torch.empty(2, 1, dtype=torch.float64)))
    b = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    exact = ExactLoss(density=density, importance=importance)
    opt = torch.optim.Adam([W, b], lr=1e-2)
    first = exact(W, b).item()
    for _ in range(1500):
        opt.zero_grad()
        loss = exact(W, b)
        loss.backward()
        opt.step()
    final = exact(W, b).item()
    best = tms_exact.minimize(2, 1, density=density, restarts=4).best.loss
    assert final < first
    assert final == pytest.approx(best, rel=1e-3)


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="torch tensors"):
        exact_loss(np.zeros((N, M)), None, layout="features-hidden")
    with pytest.raises(ValueError, match="does not broadcast"):
        ExactLoss(density=torch.ones(4))(torch.zeros(3, N, M), torch.zeros(3, N))
    with pytest.raises(ValueError, match="dtype"):
        ExactLoss()(torch.zeros(N, M, dtype=torch.int64), torch.zeros(N))
