"""Progressive learning on the digits (EfficientNetV2, section 4.2), small enough to watch.

Reproduces: nothing from the paper; it shows V2's progressive learning running through the
training engine. EfficientNetV2-B0 from scratch on scikit-learn's digits (1,257 training, 180
minival, 360 test images of 8x8 pixels), with b0_digits.py's recipe (RMSProp, staircase decay,
EMA, BN momentum 0.1, zero-initialised head) and three stages that grow together, as the paper's
Algorithm 1 interpolates them:

| stage | epochs | train size | dropout | RandAugment | mixup alpha |
|---|---|---|---|---|---|
| 1 | 1-4  | 16 px | 0.05 | 0 | 0 |
| 2 | 5-8  | 20 px | 0.125 | 2 | 0.1 |
| 3 | 9-12 | 24 px | 0.2 | 4 | 0.2 |

Evaluation is at 24 px throughout (``image_size``). The digits carry 8x8 pixels of information,
so the sizes stay small; RandAugment is kept mild (magnitude <= 4 of torchvision's 30) because a
strongly rotated or sheared 6 is a 9. Costs: about 2 minutes on 2 CPU cores;
``benchmarks/v2_train.py`` times it against B0 and B4 on the same data.
"""

from pathlib import Path

from effnet.train import TrainConfig, load_config
from effnet.train.progressive import Progressive


def get_config() -> TrainConfig:
    """b0_digits.py's recipe with V2-B0 and the three stages."""
    return load_config(Path(__file__).with_name("b0_digits.py")).with_sections(
        model={"name": "efficientnetv2_b0"},
        schedule={
            "progressive": Progressive(
                stages=3,
                image_size=(16, 24),
                randaugment=(0, 4),
                dropout=(0.05, 0.2),
                mixup=(0.0, 0.2),
            ),
        },
        runtime={"output_dir": "runs/v2_digits"},
    )
