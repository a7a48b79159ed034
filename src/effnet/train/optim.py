"""RMSProp exactly as TensorFlow 1 computes it, which is what the paper's recipe was tuned with.

PyTorch's ``torch.optim.RMSprop`` differs in three ways that matter at eps = 1e-3 (docs/paper.md
section 9): it adds epsilon *outside* the square root, starts the mean-square accumulator at 0
(TF starts it at 1, so early steps are small instead of huge), and multiplies the learning rate
outside the momentum buffer (TF folds it in, so a learning-rate change does not rescale the
momentum already accumulated). Per parameter, with gradient g (plus the L2 term wd * w):

    ms  = decay * ms + (1 - decay) * g**2            (ms starts at 1)
    mom = momentum * mom + lr * g / sqrt(ms + eps)   (mom starts at 0)
    w   = w - mom

:func:`param_groups` and :func:`build_optimizer` turn a config into the optimizer a run steps:
weight decay only where the paper applies it, and a separate learning-rate scale for the backbone
when fine-tuning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from .config import TrainConfig


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
            params, grads, square_avgs, buffers = self._group_tensors(group)
            if not params:
                continue
            # The same element-wise operations as the formula above, one call per group: the
            # per-tensor Python loop cost more than the arithmetic for B0's ~200 small tensors.
            if weight_decay != 0:
                grads = torch._foreach_add(grads, params, alpha=weight_decay)
            torch._foreach_mul_(square_avgs, decay)
            torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - decay)
            denom = torch._foreach_add(square_avgs, eps)
            torch._foreach_sqrt_(denom)
            if momentum > 0:
                torch._foreach_mul_(buffers, momentum)
                torch._foreach_addcdiv_(buffers, grads, denom, value=lr)
                torch._foreach_sub_(params, buffers)
            else:
                torch._foreach_addcdiv_(params, grads, denom, value=-lr)
        return loss

    def _group_tensors(self, group: dict[str, Any]) -> tuple[list[torch.Tensor], ...]:
        """The group's parameters that have gradients, with their gradients and state tensors,
        the state created (ms = 1, momentum = 0) on a parameter's first step."""
        momentum = group["momentum"]
        params, grads, square_avgs, buffers = [], [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("RMSpropTF does not support sparse gradients")
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["square_avg"] = torch.ones_like(p, memory_format=torch.preserve_format)
                if momentum > 0:
                    state["momentum_buffer"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format
                    )
            state["step"] += 1
            params.append(p)
            grads.append(p.grad)
            square_avgs.append(state["square_avg"])
            if momentum > 0:
                buffers.append(state["momentum_buffer"])
        return params, grads, square_avgs, buffers


def param_groups(
    model: nn.Module, cfg: TrainConfig, is_head: Callable[[str], bool] | None = None
) -> list[dict[str, Any]]:
    """Weight decay on conv/linear weights only (not BN, not biases); head vs backbone lr.

    ``is_head`` tells the head's parameters by name (the task's; default: a classifier's).

    Each group carries ``lr_scale`` and ``backbone``, which :class:`~.schedule.PaperSchedule`
    reads to scale (or, while the backbone is frozen, zero) the group's learning rate.
    """
    groups: dict[tuple[bool, bool], dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        head = is_head(name) if is_head is not None else name.startswith("classifier.")
        decay = param.ndim > 1
        group = groups.setdefault(
            (head, decay),
            {
                "params": [],
                "weight_decay": cfg.weight_decay if decay else 0.0,
                "lr_scale": 1.0 if head else cfg.backbone_lr_scale,
                "backbone": not head,
            },
        )
        group["params"].append(param)
    return list(groups.values())


def build_optimizer(cfg: TrainConfig, groups: list[dict[str, Any]], lr: float) -> Optimizer:
    """The config's optimizer; SGD and AdamW are there for tuning runs, not the paper's recipe."""
    if cfg.optimizer == "rmsprop_tf":
        return RMSpropTF(
            groups, lr=lr, decay=cfg.rmsprop_decay, momentum=cfg.momentum, eps=cfg.rmsprop_eps
        )
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    return torch.optim.AdamW(groups, lr=lr)
