"""EfficientNet-B6 on ImageNet: B0's recipe (configs/b0_imagenet.py) at B6's size.

Reproduces: B6's 84.0% top-1 (paper Table 2). Differences from B0: the model (compound
scaled, 19 G multiply-adds), its resolution 528 and its dropout 0.5
(docs/paper.md section 1). Costs: ~49x B0's compute per image, so ~49x B0's ~50 GPU-hours.
Activation memory grows faster than compute: raise grad_accum_steps (same recipe, same
global batch) until a micro-batch fits, e.g. --override schedule.grad_accum_steps=8.
"""

from pathlib import Path

from effnet.train import TrainConfig, load_config


def get_config() -> TrainConfig:
    return load_config(Path(__file__).with_name("b0_imagenet.py")).with_sections(
        data={"image_size": 528},
        model={"name": "efficientnet_b6"},
        regularization={"dropout": 0.5},
        runtime={"output_dir": "runs/b6_imagenet"},
    )
