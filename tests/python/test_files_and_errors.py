"""torch.save files read through tms_exact.load (the Rust reader; nothing is unpickled), and bad
inputs raising one-line ValueErrors."""

import collections
import json

import numpy as np
import pytest
import torch

import tms_exact
from conftest import FIXTURES

EXPECTED = json.loads((FIXTURES / "torch_expected.json").read_text())


def as_stack_fh(w, layout):
    w = np.asarray(w, dtype=np.float64)
    w = w if w.ndim == 3 else w[None]
    return w if layout == "features-hidden" else np.swapaxes(w, 1, 2)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_committed_fixtures_match_what_torch_saved(name):
    e = EXPECTED[name]
    W, b = tms_exact.load(FIXTURES / name, layout=e["layout"], w_name=e["w_name"], b_name=e["b_name"])
    np.testing.assert_array_equal(W, as_stack_fh(e["W"], e["layout"]))
    want_b = np.asarray(e["b"], dtype=np.float64)
    np.testing.assert_array_equal(b, want_b if want_b.ndim == 2 else want_b[None])


@pytest.mark.parametrize("name", ["torch_sd_3d_f32.pt", "torch_sd_3d_bf16.pt", "torch_strided_hf.pt", "torch_checkpoint.pt"])
def test_fixtures_agree_with_torch_load(name):
    e = EXPECTED[name]
    obj = torch.load(FIXTURES / name, weights_only=True)
    if "model" in obj:
        obj = obj["model"]
    w_key, b_key = e["w_name"].split(".")[-1], e["b_name"].split(".")[-1]
    W, b = tms_exact.load(FIXTURES / name, layout=e["layout"], w_name=e["w_name"], b_name=e["b_name"])
    np.testing.assert_array_equal(W, as_stack_fh(obj[w_key].double().numpy(), e["layout"]))
    np.testing.assert_array_equal(b, obj[b_key].double().numpy())


def test_files_written_by_this_torch(tmp_path):
    # Whatever torch the environment has: a notebook-like state_dict, a transposed view, a module.
    g = torch.Generator().manual_seed(0)
    W = torch.randn(3, 5, 2, generator=g)
    b = torch.randn(3, 5, generator=g)
    torch.save(collections.OrderedDict(W=W, b_final=b), tmp_path / "sd.pt")
    got_W, got_b = tms_exact.load(tmp_path / "sd.pt")
    np.testing.assert_array_equal(got_W, W.double().numpy())
    np.testing.assert_array_equal(got_b, b.double().numpy())
    torch.save({"w": W.transpose(1, 2), "bias": b}, tmp_path / "view.pth")
    got_W, _ = tms_exact.load(tmp_path / "view.pth", layout="hidden-features")
    np.testing.assert_array_equal(got_W, W.double().numpy())
    lin = torch.nn.Sequential(torch.nn.Linear(2, 5))
    torch.save(lin, tmp_path / "module.pt")
    got_W, got_b = tms_exact.load(tmp_path / "module.pt", w_name="0.weight", b_name="0.bias")
    np.testing.assert_array_equal(got_W[0], lin[0].weight.detach().double().numpy())
    # The loss of a loaded file equals the loss of the tensors it came from.
    r = tms_exact.loss(*tms_exact.load(tmp_path / "sd.pt"), density=0.1)
    np.testing.assert_array_equal(r.loss, tms_exact.loss(W, b, density=0.1).loss)


BAD = [
    (lambda: tms_exact.loss(np.zeros((2, 2, 2, 2)), np.zeros(2)), "rank 4"),
    (lambda: tms_exact.loss(np.arange(6).reshape(3, 2), np.zeros(3)), "dtype int64"),
    (lambda: tms_exact.loss(np.ones((3, 2)) + 1j, np.zeros(3)), "dtype complex"),
    (lambda: tms_exact.loss(np.array([[np.nan, 1.0], [0.0, 1.0], [1.0, 1.0]]), np.zeros(3)), "non-finite"),
    (lambda: tms_exact.loss(np.ones((3, 2)), [0.0, np.inf, 0.0]), "non-finite"),
    (lambda: tms_exact.loss(np.ones((3, 5, 2)), np.zeros((3, 5)), density=[0.1, 0.2, 0.3, 0.4]), "does not broadcast"),
    (lambda: tms_exact.loss(np.ones((3, 5, 2)), np.zeros((4, 5))), "expected [3, n] or [n]"),
    (lambda: tms_exact.loss(np.ones((5, 2)), np.zeros(4)), "neither"),
    (lambda: tms_exact.loss(np.ones((3, 3)), np.zeros(3)), "fits both layouts"),
    (lambda: tms_exact.loss(np.ones((5, 2)), np.zeros(2), layout="features-hidden"), "would match layout='hidden-features'"),
    (lambda: tms_exact.loss(np.ones((5, 2)), None), "layout is needed"),
    (lambda: tms_exact.loss(np.ones((5, 2)), np.zeros(5), layout="sideways"), "unknown weight layout"),
    (lambda: tms_exact.loss(np.ones((5, 2)), np.zeros(5), density=1.5), "outside [0, 1]"),
    (lambda: tms_exact.loss(np.ones((5, 2)), np.zeros(5), importance=-1.0), "must be ≥ 0"),
    (lambda: tms_exact.loss(np.ones((5, 2)), np.zeros(5), activation="tanhh"), "unknown activation"),
    (lambda: tms_exact.loss(np.ones((5, 2)), np.zeros(5), reduction="avg"), "unknown reduction"),
    (lambda: tms_exact.loss(np.ones((5, 2)), np.zeros(5), distribution="one-hot", density=0.5), "independent data only"),
    (lambda: tms_exact.loss(np.ones((5, 2)), np.zeros(5), activation="gelu", hessian=True), "Hessian needs a closed form"),
    (lambda: tms_exact.loss(np.ones((5, 2)), np.zeros(5), tol=1e-9), "tol applies"),
    (lambda: tms_exact.loss(np.ones((5, 2)), np.zeros(5), W_out=np.ones((5, 2))), "W_out has shape"),
    (lambda: tms_exact.loss("abc", np.zeros(5)), "dtype <U3"),
    (lambda: tms_exact.minimize(0, 1), "at least 1"),
    (lambda: tms_exact.minimize(2, 1, restarts=0), "restarts"),
    (lambda: tms_exact.geometry(np.ones((5, 2))), "layout is needed"),
    (lambda: tms_exact.load(FIXTURES / "torch_legacy.pt"), "legacy (non-zip) torch.save format"),
    (lambda: tms_exact.load(FIXTURES / "torch_bad_int.pt"), "dtype int64"),
    (lambda: tms_exact.load(FIXTURES / "torch_no_w.pt"), "the file holds: weights"),
    (lambda: tms_exact.load(FIXTURES / "missing.pt"), "missing.pt"),
]


@pytest.mark.parametrize("call,text", BAD, ids=[t for _, t in BAD])
def test_bad_input_is_one_clear_value_error(call, text):
    with pytest.raises(ValueError) as info:
        call()
    msg = str(info.value)
    assert text in msg
    assert "\n" not in msg and "panicked" not in msg


def test_a_non_torch_file_with_a_pt_name(tmp_path):
    p = tmp_path / "junk.pt"
    p.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="not a torch.save file"):
        tms_exact.load(p)
    q = tmp_path / "renamed.pt"
    q.write_bytes((FIXTURES / "notebook_fh_f32.npz").read_bytes())
    with pytest.raises(ValueError, match="npz renamed"):
        tms_exact.load(q)
