"""Timings of the Python package at the notebook's (n, m) = (5, 2); prints medians.

Run: python tests/python/bench_overhead.py   (not collected by pytest; numbers vary by machine)

1. One loss + gradient: inside Rust (the library calls alone), through the raw extension call,
   and through tms_exact.loss with numpy arrays and with torch tensors.
2. One training step (zero_grad, loss, backward, AdamW step) on the exact loss via ExactLoss,
   and one step of the notebook's sampled loss (batch 1024), for 1 and 10 instances.
"""

import statistics
import time

import numpy as np
import torch

import tms_exact
from tms_exact import _core
from tms_exact.torch import ExactLoss

torch.set_num_threads(1)
N, M, BATCH = 5, 2, 1024
IMP = 0.9 ** np.arange(N)


def median_seconds(fn, calls, repeats=7):
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - t) / calls)
    return statistics.median(samples)


def show(label, seconds):
    print(f"{label:58s} {seconds * 1e6:10.1f} µs")


def per_call():
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(N, M)), rng.normal(scale=0.1, size=N)
    w3, b2 = W[None].copy(), b[None].copy()
    imp2, den2 = IMP[None].copy(), np.full((1, N), 0.05)
    rust = statistics.median(_core.time_loss_grad(w3, b2, imp2, den2, 2000) for _ in range(7))
    show("loss+grad (5,2): inside Rust", rust)
    raw = median_seconds(lambda: _core.loss(w3, b2, imp2, den2, None, "relu", "independent", "sum", True, False, None), 2000)
    show("loss+grad (5,2): raw extension call", raw)
    api = median_seconds(lambda: tms_exact.loss(W, b, density=0.05, importance=IMP, grad=True), 2000)
    show("loss+grad (5,2): tms_exact.loss, numpy", api)
    Wt, bt = torch.tensor(W), torch.tensor(b)
    tt = median_seconds(lambda: tms_exact.loss(Wt, bt, density=0.05, importance=IMP, grad=True), 2000)
    show("loss+grad (5,2): tms_exact.loss, torch tensors", tt)
    print(f"  Python overhead over Rust: {api - rust:.2e} s ({api / rust:.1f}x the Rust call)")


def training_steps(k):
    torch.manual_seed(0)
    fp = (20 ** -torch.linspace(0, 1, k))[:, None]
    imp = torch.tensor(IMP, dtype=torch.float32)[None, :]

    def fresh():
        W = torch.nn.Parameter(torch.nn.init.xavier_normal_(torch.empty(k, N, M)))
        b = torch.nn.Parameter(torch.zeros(k, N))
        return W, b, torch.optim.AdamW([W, b], lr=1e-3)

    W, b, opt = fresh()
    exact = ExactLoss(density=fp, importance=imp, reduction="mean")

    def exact_step():
        opt.zero_grad()
        exact(W, b).sum().backward()
        opt.step()

    W2, b2, opt2 = fresh()

    def sampled_step():
        # The Anthropic notebook's step: a fresh batch, mean over batch and features, summed over instances.
        feat = torch.rand(BATCH, k, N)
        x = torch.where(torch.rand(BATCH, k, N) <= fp, feat, torch.zeros(()))
        h = torch.einsum("bif,ifh->bih", x, W2)
        out = torch.relu(torch.einsum("bih,ifh->bif", h, W2) + b2)
        loss = (imp * (x - out) ** 2).mean(dim=(0, 2)).sum()
        opt2.zero_grad()
        loss.backward()
        opt2.step()

    e = median_seconds(exact_step, 300)
    s = median_seconds(sampled_step, 300)
    show(f"training step, {k} instance(s): ExactLoss", e)
    show(f"training step, {k} instance(s): sampled batch {BATCH}", s)


if __name__ == "__main__":
    print(f"tms_exact {tms_exact.__version__}, torch {torch.__version__}, 1 torch thread")
    per_call()
    for k in (1, 10):
        training_steps(k)
