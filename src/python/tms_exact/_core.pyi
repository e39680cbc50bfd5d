"""The compiled core (src/python/mod.rs); use the functions of tms_exact instead."""

from typing import Any, Optional

import numpy as np
from numpy.typing import NDArray

__version__: str

def loss(
    w: NDArray[np.float64], b: NDArray[np.float64], importance: NDArray[np.float64],
    density: Optional[NDArray[np.float64]], w_out: Optional[NDArray[np.float64]],
    activation: str, distribution: str, reduction: str, grad: bool, hessian: bool,
    tol: Optional[float],
) -> dict[str, Any]: ...
def minimize(
    n: int, m: int, importance: list[float], density: Optional[list[float]], activation: str,
    distribution: str, reduction: str, restarts: int, seed: int, untied: bool,
) -> str: ...
def verify(
    w: NDArray[np.float64], b: NDArray[np.float64], importance: NDArray[np.float64],
    density: Optional[NDArray[np.float64]], w_out: Optional[NDArray[np.float64]],
    activation: str, distribution: str, reduction: str, restarts: int, seed: int,
) -> str: ...
def geometry(w: NDArray[np.float64]) -> str: ...
def read_weights(
    path: str, layout: Optional[str] = ..., w_name: Optional[str] = ..., b_name: Optional[str] = ...
) -> tuple[NDArray[np.float64], Optional[NDArray[np.float64]]]: ...
def time_loss_grad(
    w: NDArray[np.float64], b: NDArray[np.float64], importance: NDArray[np.float64],
    density: Optional[NDArray[np.float64]], reps: int,
) -> float: ...
def broadcast(name: str, a: NDArray[np.float64], k: int, n: int) -> NDArray[np.float64]: ...
