"""EfficientNet-B5 on ImageNet: B0's recipe (configs/b0_imagenet.py) at B5's size.

Reproduces: B5's 83.6% top-1 (paper Table 2). Differences from B0: the model (compound
scaled, 9.9 G multiply-adds), its resolution 456 and its dropout 0.4
(docs/paper.md section 1). Costs: ~25x B0's compute per image, so ~25x B0's ~50 GPU-hours.
Activation memory grows faster than compute: raise grad_accum_steps (same recipe, same
global batch) until a micro-batch fits, e.g. --override schedule.grad_accum_steps=8.
"""

from pathlib import Path

from effnet.train import TrainConfig, load_config


def get_config() -> TrainConfig:
    return load_config(Path(__file__).with_name("b0_imagenet.py")).with_sections(
        data={"image_size": 456},
        model={"name": "efficientnet_b5"},
        regularization={"dropout": 0.4},
        runtime={"output_dir": "runs/b5_imagenet"},
    )
