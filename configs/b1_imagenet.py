"""EfficientNet-B1 on ImageNet: B0's recipe (configs/b0_imagenet.py) at B1's size.

Reproduces: B1's 79.1% top-1 (paper Table 2). Differences from B0: the model (compound
scaled, 0.7 G multiply-adds), its resolution 240 and its dropout 0.2
(docs/paper.md section 1). Costs: ~1.8x B0's compute per image, so ~1.8x B0's ~50 GPU-hours.
"""

from pathlib import Path

from effnet.train import TrainConfig, load_config


def get_config() -> TrainConfig:
    return load_config(Path(__file__).with_name("b0_imagenet.py")).with_sections(
        data={"image_size": 240},
        model={"name": "efficientnet_b1"},
        regularization={"dropout": 0.2},
        runtime={"output_dir": "runs/b1_imagenet"},
    )
