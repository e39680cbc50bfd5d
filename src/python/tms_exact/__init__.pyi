"""Type stubs of tms_exact (see the module docstring for the definitions)."""

from dataclasses import dataclass
from os import PathLike
from typing import Any, Optional, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

__version__: str
FEATURES_HIDDEN: str
HIDDEN_FEATURES: str

@dataclass(frozen=True)
class LossResult:
    loss: Union[float, NDArray[np.float64]]
    per_feature: NDArray[np.float64]
    error: Union[float, NDArray[np.float64]]
    layout: str
    grad_W: Optional[NDArray[np.float64]] = ...
    grad_b: Optional[NDArray[np.float64]] = ...
    grad_W_out: Optional[NDArray[np.float64]] = ...
    hessian: Optional[NDArray[np.float64]] = ...

def loss(
    W: ArrayLike,
    b: Optional[ArrayLike] = ...,
    *,
    density: Optional[ArrayLike] = ...,
    importance: ArrayLike = ...,
    activation: str = ...,
    distribution: str = ...,
    reduction: str = ...,
    W_out: Optional[ArrayLike] = ...,
    layout: Optional[str] = ...,
    grad: bool = ...,
    hessian: bool = ...,
    tol: Optional[float] = ...,
) -> LossResult: ...

@dataclass(frozen=True)
class CriticalPoint:
    loss: float
    count: int
    W: NDArray[np.float64]
    b: NDArray[np.float64]
    grad_norm: float
    kind: str
    hessian_eigenvalues: list[float]
    geometry: dict[str, Any]
    W_out: Optional[NDArray[np.float64]] = ...

@dataclass(frozen=True)
class Census:
    points: list[CriticalPoint]
    starts: int
    @property
    def best(self) -> CriticalPoint: ...

def minimize(
    n_features: int,
    n_hidden: int,
    *,
    density: Optional[ArrayLike] = ...,
    importance: ArrayLike = ...,
    activation: str = ...,
    distribution: str = ...,
    reduction: str = ...,
    untied: bool = ...,
    restarts: int = ...,
    seed: int = ...,
    layout: str = ...,
) -> Census: ...

@dataclass(frozen=True)
class Verdict:
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
    local_W: NDArray[np.float64]
    local_b: NDArray[np.float64]
    best_W: NDArray[np.float64]
    best_b: NDArray[np.float64]
    relative_distance: float
    gap: float
    improvement: float

def verify(
    W: ArrayLike,
    b: Optional[ArrayLike] = ...,
    *,
    density: Optional[ArrayLike] = ...,
    importance: ArrayLike = ...,
    activation: str = ...,
    distribution: str = ...,
    reduction: str = ...,
    W_out: Optional[ArrayLike] = ...,
    layout: Optional[str] = ...,
    restarts: int = ...,
    seed: int = ...,
) -> Union[Verdict, list[Verdict]]: ...

def geometry(
    W: ArrayLike, b: Optional[ArrayLike] = ..., *, layout: Optional[str] = ...
) -> Union[dict[str, Any], list[dict[str, Any]]]: ...

def load(
    path: Union[str, PathLike[str]],
    *,
    layout: Optional[str] = ...,
    w_name: Optional[str] = ...,
    b_name: Optional[str] = ...,
) -> tuple[NDArray[np.float64], Optional[NDArray[np.float64]]]: ...
