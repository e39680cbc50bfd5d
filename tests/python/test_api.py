"""tms_exact's Python API against the command-line tool, the exact rational loss, closed forms
from the paper, and its own other routes (stacks vs single models, one layout vs the other)."""

import json
from fractions import Fraction

import numpy as np
import pytest

import tms_exact

N, M = 5, 2
DENSITY = [0.05, 0.1, 0.3, 0.7, 1.0]
IMPORTANCE = [0.9**i for i in range(N)]


def case(seed, n=N, m=M):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, m)), rng.normal(scale=0.3, size=n)


def flag(values):
    return ",".join(repr(float(v)) for v in values)


@pytest.mark.parametrize("seed", range(3))
def test_loss_and_gradient_match_the_cli_and_the_exact_rational(cli, model_file, seed):
    W_fh, b = case(seed)
    r = tms_exact.loss(W_fh, b, density=DENSITY, importance=IMPORTANCE, grad=True)
    assert r.layout == "features-hidden"  # inferred: b has n = 5 entries, W is [5, 2]
    c = cli("loss", model_file(W_fh.T, b), "--json", "--grad", "--exact",
            "--density", flag(DENSITY), "--importance", flag(IMPORTANCE))
    exact = Fraction(c["exact"])
    assert abs(Fraction(r.loss) - exact) <= Fraction(1e-12) * abs(exact)
    assert abs(Fraction(r.loss) - exact) <= Fraction(r.error)
    np.testing.assert_allclose(r.loss, c["loss"], rtol=1e-14, atol=0)
    np.testing.assert_allclose(r.per_feature, c["per_feature"], rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(r.grad_W, np.array(c["gradient"]["W"]).T, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(r.grad_b, c["gradient"]["b"], rtol=1e-12, atol=1e-15)


def test_untied_and_leaky_match_the_cli(cli, model_file):
    W_fh, b = case(7)
    W_out_hf = np.random.default_rng(8).normal(size=(N, M))  # ours: [features, hidden]
    r = tms_exact.loss(W_fh.T, b, W_out=W_out_hf, layout="hidden-features", activation="leaky_relu:0.1",
                       density=0.2, grad=True)
    c = cli("loss", model_file(W_fh.T, b, W_out=W_out_hf.tolist()), "--json", "--grad",
            "--activation", "leaky_relu:0.1", "--density", "0.2")
    np.testing.assert_allclose(r.loss, c["loss"], rtol=1e-14)
    np.testing.assert_allclose(r.grad_W, c["gradient"]["W"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(r.grad_W_out, c["gradient"]["W_out"], rtol=1e-12, atol=1e-15)


def test_smooth_activation_uses_quadrature_like_the_cli(cli, model_file):
    W_fh, b = case(3, n=3, m=2)
    r = tms_exact.loss(W_fh, b, activation="softplus", density=0.5, tol=1e-9)
    c = cli("loss", model_file(W_fh.T, b), "--json", "--activation", "softplus", "--density", "0.5",
            "--method", "quadrature", "--tol", "1e-9")
    assert abs(r.loss - c["loss"]) <= r.error + c["error"]
    assert 0 < r.error <= 1e-7


@pytest.mark.parametrize("s,r", [(0.01, 1.0), (0.1, 0.3), (0.5, 2.0)])
def test_closed_forms_of_the_paper(s, r):
    # Antipodal pair, no bias: (1 + r) s^2 / 6. Dropped feature with bias s/2: r (s/3 - s^2/4).
    anti = tms_exact.loss([[1.0], [-1.0]], [0.0, 0.0], density=s, importance=[1.0, r])
    assert anti.loss == pytest.approx((1 + r) * s * s / 6, rel=1e-14)
    drop = tms_exact.loss([[1.0], [0.0]], [0.0, s / 2], density=s, importance=[1.0, r])
    assert drop.loss == pytest.approx(r * (s / 3 - s * s / 4), rel=1e-13)
    assert abs(drop.per_feature[0]) <= drop.error  # feature 0 is reconstructed exactly


def test_a_stack_with_per_instance_densities_equals_one_call_per_instance():
    k = 4
    rng = np.random.default_rng(11)
    W = rng.normal(size=(k, N, M))
    b = rng.normal(scale=0.2, size=(k, N))
    density = (20.0 ** -np.linspace(0, 1, k))[:, None]  # the notebook's feature_probability
    importance = (0.9 ** np.arange(N))[None, :]
    r = tms_exact.loss(W, b, density=density, importance=importance, reduction="mean", grad=True)
    assert r.loss.shape == (k,) and r.grad_W.shape == W.shape and r.grad_b.shape == b.shape
    for i in range(k):
        one = tms_exact.loss(W[i], b[i], density=density[i, 0], importance=importance[0], reduction="mean", grad=True)
        assert r.loss[i] == one.loss
        np.testing.assert_array_equal(r.grad_W[i], one.grad_W)
        np.testing.assert_array_equal(r.per_feature[i], one.per_feature)
    # mean = sum / n
    s = tms_exact.loss(W, b, density=density, importance=importance)
    np.testing.assert_allclose(s.loss / N, r.loss, rtol=1e-15)
    # A bias shared by all instances ([n]) is broadcast.
    shared = tms_exact.loss(W, b[0], density=density)
    np.testing.assert_array_equal(shared.loss[0], tms_exact.loss(W[0], b[0], density=density[0, 0]).loss)


def test_layouts_agree_and_gradients_follow_the_input_layout():
    W_fh, b = case(5)
    fh = tms_exact.loss(W_fh, b, density=0.3, grad=True)
    hf = tms_exact.loss(W_fh.T.copy(), b, density=0.3, grad=True)  # inferred: b fits only [m, n]^T
    assert hf.layout == "hidden-features"
    assert fh.loss == hf.loss
    np.testing.assert_array_equal(fh.grad_W, hf.grad_W.T)
    # Non-contiguous and float32 inputs are converted, not misread.
    f32 = tms_exact.loss(np.asfortranarray(W_fh).astype(np.float32), b.astype(np.float32), density=0.3)
    ref = tms_exact.loss(W_fh.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64), density=0.3)
    assert f32.loss == ref.loss


@pytest.mark.parametrize("layout", ["features-hidden", "hidden-features"])
def test_hessian_is_the_derivative_of_the_gradient(layout):
    rng = np.random.default_rng(21)
    n, m = 4, 2
    W = rng.normal(size=(n, m) if layout == "features-hidden" else (m, n))
    W_out = rng.normal(size=(m, n) if layout == "features-hidden" else (n, m))
    b = rng.normal(scale=0.2, size=n)
    kw = dict(density=0.4, importance=[1.0, 0.8, 0.6, 0.4], layout=layout)
    H = tms_exact.loss(W, b, W_out=W_out, hessian=True, **kw).hessian
    x0 = np.concatenate([W.ravel(), W_out.ravel(), b])
    assert H.shape == (x0.size, x0.size)

    def grad(x):
        w, wo, bb = x[: n * m].reshape(W.shape), x[n * m: 2 * n * m].reshape(W_out.shape), x[2 * n * m:]
        r = tms_exact.loss(w, bb, W_out=wo, grad=True, **kw)
        return np.concatenate([r.grad_W.ravel(), r.grad_W_out.ravel(), r.grad_b])

    h = 1e-6
    fd = np.column_stack([(grad(x0 + h * e) - grad(x0 - h * e)) / (2 * h) for e in np.eye(x0.size)])
    np.testing.assert_allclose(H, fd, atol=1e-6 * max(1.0, np.abs(H).max()))


def test_minimize_matches_the_cli_and_its_best_point_verifies(cli):
    c = cli("minimize", "--n", 2, "--m", 1, "--density", 0.1, "--restarts", 4, "--json")
    census = tms_exact.minimize(2, 1, density=0.1, restarts=4)
    assert census.starts == c["starts"] == 4
    assert census.best.loss == pytest.approx(c["best"]["loss"], rel=1e-12)
    best = census.best
    # The point's loss through loss() (another route into the library) is the census's.
    assert tms_exact.loss(best.W, best.b, density=0.1, layout="features-hidden").loss == pytest.approx(best.loss, rel=1e-13)
    # Superposition wins at density 0.1 (antipodal pair, (1+1) s^2/6 without bias, lower with one).
    assert best.loss <= 2 * 0.01 / 6 * (1 + 1e-12)
    v = tms_exact.verify(best.W, best.b, density=0.1, restarts=4, layout="features-hidden")
    assert v.status == "at_optimum", v.text


def test_verify_judges_each_instance_against_its_own_density():
    dens = np.array([[1.0], [0.1]])
    Ws, bs = [], []
    for d in dens[:, 0]:
        best = tms_exact.minimize(2, 1, density=d, restarts=4).best
        Ws.append(best.W)
        bs.append(best.b)
    W, b = np.stack(Ws), np.stack(bs)
    verdicts = tms_exact.verify(W, b, density=dens, restarts=4)
    assert [v.status for v in verdicts] == ["at_optimum", "at_optimum"], [v.text for v in verdicts]
    # The numbers the verdict rests on: at an optimum, no distance and no gap to speak of.
    assert all(v.relative_distance < 1e-6 and 0 <= v.gap < 1e-9 for v in verdicts)
    # With both instances judged at density 0.1, the density-1 optimum is not optimal there.
    wrong = tms_exact.verify(W, b, density=0.1, restarts=4)
    assert wrong[0].status != "at_optimum"
    assert wrong[1].status == "at_optimum"


def test_geometry_of_an_antipodal_pair_and_a_dropped_feature():
    g = tms_exact.geometry([[1.0, -1.0, 0.0]], layout="hidden-features")
    assert g["dimensionality"][:2] == pytest.approx([0.5, 0.5])
    assert g["dropped"] == [2]
    assert g["antipodal_pairs"] == [[0, 1]]
    stack = tms_exact.geometry(np.zeros((2, 3, 1)) + [[[1.0], [-1.0], [0.0]]], np.zeros((2, 3)))
    assert len(stack) == 2 and stack[1]["dropped"] == [2]


def test_the_core_releases_the_interpreter_during_computation():
    import threading

    W_fh, b = case(1)
    results = []

    def work():
        results.append(tms_exact.loss(W_fh, b, density=0.2).loss)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 4


def test_results_serialise():
    r = tms_exact.loss([[1.0], [-1.0]], [0.0, 0.0], density=0.1)
    assert json.loads(json.dumps({"loss": r.loss, "per_feature": r.per_feature.tolist()}))["loss"] == r.loss
