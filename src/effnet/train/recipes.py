"""Recipes more than one config starts from: the transfer recipe of ``effnet finetune`` and
configs/finetune_*.py, and the paper's Table 5 fine-tuning protocol on top of it.

Values, not code paths: each is a function returning a :class:`~.config.TrainConfig`, so a config
file is one call with what differs (data set, schedule length, minival size).
"""

from __future__ import annotations

from typing import Any

from .config import TrainConfig

#: The transfer recipe that ``effnet finetune`` and configs/finetune_*.py share. The paper gives
#: no fine-tuning hyperparameters (docs/paper.md section 8); this is a common short schedule.
TRANSFER_RECIPE: dict[str, Any] = dict(
    batch_size=64,  # fits B0-B3 at their resolution on one consumer GPU
    optimizer="sgd",  # SGD + Nesterov momentum, the usual transfer optimizer
    lr_per_256=0.04,  # 0.01 at batch 64
    warmup_epochs=1.0,  # let the new head settle before the full learning rate
    lr_decay_rate=0.7,  # x0.7 five times over the run: ~0.17x the base rate at the end
    freeze_backbone_epochs=1,  # first epoch trains the fresh classifier only
    backbone_lr_scale=0.1,  # pretrained layers move 10x slower than the new head
    label_smoothing=0.1,  # as in the ImageNet recipe
    crop_scale_min=0.25,  # milder than ImageNet's 0.08: objects often fill less of the frame
    drop_path_rate=0.2,  # the paper's stochastic depth
    ema_decay=0.999,  # short runs: a long-horizon 0.9999 average would lag the weights
)


def transfer_config(epochs: int = 10, **changes: Any) -> TrainConfig:
    """:data:`TRANSFER_RECIPE` over ``epochs``, decaying five times (every ``epochs / 5``)."""
    return TrainConfig(**{**TRANSFER_RECIPE, "epochs": epochs, "lr_decay_epochs": epochs / 5},
                       **changes)  # fmt: skip


#: What a Table 5 data set adds to :data:`TRANSFER_RECIPE`: B0's resolution (use the pretrained
#: variant's own for larger models) and the paper's ImageNet augmentation and weight decay, since
#: the paper fine-tunes with its ImageNet setup.
TABLE5_PROTOCOL: dict[str, Any] = dict(
    image_size=224,
    weight_decay=1e-5,
    autoaugment="imagenet",
    hflip=True,
)


def finetune_config(
    dataset: str, epochs: int = 10, name: str | None = None, **changes: Any
) -> TrainConfig:
    """Fine-tuning on ``dataset``: :func:`transfer_config` with :data:`TABLE5_PROTOCOL`.

    One function so that the eight Table 5 configs and ``effnet finetune`` differ only in what
    really differs (data set, schedule length, minival size); ``name`` names the output folder
    ``runs/finetune_<name>`` (default: the data set). ``data_dir`` stays None: DATA comes from
    the command line, or a torchvision set downloads to $EFFNET_HOME/datasets.
    """
    protocol = {**TABLE5_PROTOCOL, "output_dir": f"runs/finetune_{name or dataset}"}
    return transfer_config(epochs, **{**protocol, "dataset": dataset, **changes})
