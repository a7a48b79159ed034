"""EfficientNet-B3 on ImageNet: B0's recipe (configs/b0_imagenet.py) at B3's size.

Reproduces: B3's 81.6% top-1 (paper Table 2). Differences from B0: the model (compound
scaled, 1.8 G multiply-adds), its resolution 300 and its dropout 0.3
(docs/paper.md section 1). Costs: ~4.6x B0's compute per image, so ~4.6x B0's ~50 GPU-hours.
Activation memory grows faster than compute: raise grad_accum_steps (same recipe, same
global batch) until a micro-batch fits, e.g. --override schedule.grad_accum_steps=8.
"""

from pathlib import Path

from effnet.train import TrainConfig, load_config


def get_config() -> TrainConfig:
    return load_config(Path(__file__).with_name("b0_imagenet.py")).with_sections(
        data={"image_size": 300},
        model={"name": "efficientnet_b3"},
        regularization={"dropout": 0.3},
        runtime={"output_dir": "runs/b3_imagenet"},
    )
