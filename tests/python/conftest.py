"""Shared helpers of the tms_exact pytest suite (run by .ci/python-tests)."""

import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "weights"


def _binary() -> str:
    """The tms-exact binary: $TMS_EXACT_BIN, else built by cargo with the profile `cargo test`
    uses, so after `cargo test` (as in .ci/run) this is a no-op."""
    env = os.environ.get("TMS_EXACT_BIN")
    if env:
        return env
    out = subprocess.run(
        ["cargo", "build", "--quiet", "--profile", "test", "--bin", "tms-exact", "--message-format=json"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
            return msg["executable"]
    raise RuntimeError("cargo built no tms-exact executable")


@pytest.fixture(scope="session")
def cli():
    """Runs the CLI with arguments; returns its parsed JSON stdout."""
    exe = _binary()

    def run(*args):
        r = subprocess.run([exe, *map(str, args)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    return run


@pytest.fixture
def model_file(tmp_path):
    """Writes a model file (W in the CLI's hidden-features layout) and returns its path."""

    def write(W_hf, b, **extra):
        p = tmp_path / f"model{len(list(tmp_path.iterdir()))}.json"
        p.write_text(json.dumps({"W": [list(map(float, r)) for r in W_hf], "b": list(map(float, b)), **extra}))
        return p

    return write
