"""EfficientNet-B4 on ImageNet: B0's recipe (configs/b0_imagenet.py) at B4's size.

Reproduces: B4's 82.9% top-1 (paper Table 2). Differences from B0: the model (compound
scaled, 4.2 G multiply-adds), its resolution 380 and its dropout 0.4
(docs/paper.md section 1). Costs: ~11x B0's compute per image, so ~11x B0's ~50 GPU-hours.
Activation memory grows faster than compute: raise grad_accum_steps (same recipe, same
global batch) until a micro-batch fits, e.g. --override schedule.grad_accum_steps=8.
"""

from pathlib import Path

from effnet.train import TrainConfig, load_config


def get_config() -> TrainConfig:
    return load_config(Path(__file__).with_name("b0_imagenet.py")).with_sections(
        data={"image_size": 380},
        model={"name": "efficientnet_b4"},
        regularization={"dropout": 0.4},
        runtime={"output_dir": "runs/b4_imagenet"},
    )
