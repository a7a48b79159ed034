"""EfficientNet-B2 on ImageNet: B0's recipe (configs/b0_imagenet.py) at B2's size.

Reproduces: B2's 80.1% top-1 (paper Table 2). Differences from B0: the model (compound
scaled, 1.0 G multiply-adds), its resolution 260 and its dropout 0.3
(docs/paper.md section 1). Costs: ~2.6x B0's compute per image, so ~2.6x B0's ~50 GPU-hours.
"""

from pathlib import Path

from effnet.train import TrainConfig, load_config


def get_config() -> TrainConfig:
    return load_config(Path(__file__).with_name("b0_imagenet.py")).with_sections(
        data={"image_size": 260},
        model={"name": "efficientnet_b2"},
        regularization={"dropout": 0.3},
        runtime={"output_dir": "runs/b2_imagenet"},
    )
