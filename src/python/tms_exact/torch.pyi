from typing import Optional

import torch
from numpy.typing import ArrayLike

def exact_loss(
    W: torch.Tensor,
    b: Optional[torch.Tensor] = ...,
    *,
    density: Optional[ArrayLike] = ...,
    importance: ArrayLike = ...,
    activation: str = ...,
    distribution: str = ...,
    reduction: str = ...,
    layout: Optional[str] = ...,
) -> torch.Tensor: ...

class ExactLoss(torch.nn.Module):
    def __init__(
        self,
        density: Optional[ArrayLike] = ...,
        importance: ArrayLike = ...,
        reduction: str = ...,
        layout: Optional[str] = ...,
        activation: str = ...,
        distribution: str = ...,
    ) -> None: ...
    def forward(self, W: torch.Tensor, b: Optional[torch.Tensor] = ...) -> torch.Tensor: ...
