"""RMSProp exactly as TensorFlow 1 computes it, which is what the paper's recipe was tuned with.

PyTorch's ``torch.optim.RMSprop`` differs in three ways that matter at eps = 1e-3 (PAPER.md
section 9): it adds epsilon *outside* the square root, starts the mean-square accumulator at 0
(TF starts it at 1, so early steps are small instead of huge), and multiplies the learning rate
outside the momentum buffer (TF folds it in, so a learning-rate change does not rescale the
momentum already accumulated). Per parameter, with gradient g (plus the L2 term wd * w):

    ms  = decay * ms + (1 - decay) * g**2            (ms starts at 1)
    mom = momentum * mom + lr * g / sqrt(ms + eps)   (mom starts at 0)
    w   = w - mom
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.optim import Optimizer


class RMSpropTF(Optimizer):
    """TensorFlow-1-style RMSProp (epsilon inside the square root, accumulator initialised to 1).

    ``weight_decay`` is added to the gradient (an L2 term in the loss, as the reference code does),
    so parameter groups with ``weight_decay=0`` keep BN and bias parameters undecayed.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.016,
        decay: float = 0.9,
        momentum: float = 0.9,
        eps: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0 or eps <= 0 or not 0 <= decay < 1 or not 0 <= momentum < 1 or weight_decay < 0:
            raise ValueError(
                f"invalid RMSpropTF settings: lr={lr} decay={decay} momentum={momentum} "
                f"eps={eps} weight_decay={weight_decay}"
            )
        defaults = dict(lr=lr, decay=decay, momentum=momentum, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, decay, momentum = group["lr"], group["decay"], group["momentum"]
            eps, weight_decay = group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("RMSpropTF does not support sparse gradients")
                grad = p.grad if weight_decay == 0 else p.grad.add(p, alpha=weight_decay)
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["square_avg"] = torch.ones_like(p, memory_format=torch.preserve_format)
                    if momentum > 0:
                        state["momentum_buffer"] = torch.zeros_like(
                            p, memory_format=torch.preserve_format
                        )
                state["step"] += 1
                square_avg = state["square_avg"]
                square_avg.mul_(decay).addcmul_(grad, grad, value=1 - decay)
                denom = square_avg.add(eps).sqrt_()
                if momentum > 0:
                    buf = state["momentum_buffer"]
                    buf.mul_(momentum).addcdiv_(grad, denom, value=lr)
                    p.sub_(buf)
                else:
                    p.addcdiv_(grad, denom, value=-lr)
        return loss
