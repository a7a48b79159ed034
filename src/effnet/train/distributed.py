"""One process or many: the torchrun environment, rank-0 duties and cross-rank helpers.

Launched by ``torchrun --nproc_per_node=N``, every process reads RANK / WORLD_SIZE / LOCAL_RANK
from the environment, joins a process group (NCCL on GPUs, gloo on CPU) and drives one device.
Launched plainly, the same code runs as rank 0 of a world of 1 and no process group exists.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ..models.device import resolve_device


@dataclass
class Dist:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool  # we created the process group, so we tear it down

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device_name: str) -> Dist:
    """Join the torchrun process group when launched by torchrun; otherwise a world of one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    owns = False
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        owns = True
    return Dist(rank, world, local_rank, device, owns)


def teardown(d: Dist) -> None:
    if d.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


def all_reduce_sum(d: Dist, values: list[float]) -> list[float]:
    """Sum a few numbers over ranks (correct-prediction counts, losses)."""
    if not d.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=_comm_device(d))
    dist.all_reduce(t)
    return t.tolist()


def all_agree(d: Dist, flag: bool) -> bool:
    """True only when ``flag`` is true on every rank (e.g. "my micro-batch has images")."""
    if not d.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], device=_comm_device(d))
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def gather_objects(d: Dist, obj: Any) -> list[Any]:
    """Every rank's ``obj`` on every rank (small things: RNG states, fingerprints)."""
    if not d.enabled:
        return [obj]
    out: list[Any] = [None] * d.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(d: Dist, obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not d.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def average_buffers(d: Dist, module: torch.nn.Module) -> None:
    """Average BN running statistics over ranks, in one all-reduce.

    Each rank's forward pass updates its running mean/variance from its own images, so without
    this the ranks' models (and their EMAs) drift apart in their buffers; the average is also the
    better estimate, as it has seen every rank's data.
    """
    if not d.enabled:
        return
    buffers = [b for b in module.buffers() if b.dtype.is_floating_point]
    if not buffers:
        return
    flat = torch.cat([b.detach().reshape(-1) for b in buffers])
    dist.all_reduce(flat)
    flat /= d.world_size
    offset = 0
    for b in buffers:
        b.copy_(flat[offset : offset + b.numel()].view_as(b))
        offset += b.numel()


#: DDP's "Grad strides do not match bucket view strides" for a tensor with a dimension of size 1.
GRAD_STRIDES_SIZE_1 = (
    r"(?s)Grad strides do not match bucket view strides.*grad\.sizes\(\) = \[[^\]]*\b1\b"
)


def data_parallel(module: torch.nn.Module, d: Dist) -> torch.nn.Module:
    """``module`` under DistributedDataParallel, with BN buffers left to :func:`average_buffers`.

    Buffers are averaged after every step instead of broadcast from rank 0 before every forward.
    torch 2.13 renamed that switch (``broadcast_buffers`` -> ``forward_sync_buffers``) and warns
    about the old name; the new one is used where it exists. Both sync the (equal) buffers at
    start-up, which is harmless: every rank starts from the same weights.
    """
    import inspect
    import warnings

    # A dimension of size 1 may carry any stride: a channels_last depthwise kernel (C, 1, 3, 3) is
    # (9, 1, 3, 1) or (9, 9, 3, 1) depending on the kernel that wrote it, with the same bytes. DDP
    # compares stride tuples and warns on every run; for such shapes the warning is spurious.
    warnings.filterwarnings("ignore", message=GRAD_STRIDES_SIZE_1, category=UserWarning)
    ids = [d.device.index] if d.device.type == "cuda" else None
    ddp = torch.nn.parallel.DistributedDataParallel
    params = inspect.signature(ddp.__init__).parameters
    switch = "forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers"
    return ddp(module, device_ids=ids, **{switch: False})


def weights_fingerprint(model: torch.nn.Module) -> str:
    """SHA-256 of every tensor's bytes: equal across ranks exactly when the weights are."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(
            tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes()
        )
    return digest.hexdigest()


def _comm_device(d: Dist) -> torch.device:
    return d.device if d.device.type == "cuda" else torch.device("cpu")
