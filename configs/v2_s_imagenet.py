"""EfficientNetV2-S on ImageNet with progressive learning (Tan & Le, ICML 2021, section 5.1).

Reproduces: V2-S's 83.9% top-1 (V2 paper Table 7) at 22M parameters and 8.8B FLOPs, evaluated at
384 px. The recipe is V1's (configs/b0_imagenet.py: RMSProp decay 0.9 / momentum 0.9, batch
4096, warm-up to 0.256 then x0.97 every 2.4 epochs, weight decay 1e-5, EMA 0.9999, stochastic
depth 0.2, 350 epochs), which the V2 paper keeps, plus progressive learning: four stages of
about 87 epochs with the training size and regularization interpolated from first to last (V2
paper Table 6 for S):

| stage | train size | RandAugment | mixup alpha | dropout |
|---|---|---|---|---|
| 1 | 128 | 5 | 0 | 0.1 |
| 2 | 185 | 8 | 0 | 0.167 |
| 3 | 242 | 12 | 0 | 0.233 |
| 4 | 300 | 15 | 0 | 0.3 |

RandAugment replaces V1's AutoAugment (torchvision's RandAugment, 2 ops; its magnitude scale is
31 bins, not TensorFlow's 10 levels, so the same number is a milder distortion here).
Costs: V2 paper Table 7 reports 7.1 hours of training on 32 TPUv3 cores for V2-S against 21
hours for EfficientNet-B4 (82.9%) at 380 px; ``benchmarks/v2_train.py`` measures that ratio here.
"""

from pathlib import Path

from effnet.train import TrainConfig, load_config
from effnet.train.progressive import Progressive


def v2_imagenet(model: str, eval_size: int, **progressive) -> TrainConfig:
    """B0's ImageNet recipe for a V2 model, evaluated at ``eval_size``, trained progressively."""
    return load_config(Path(__file__).with_name("b0_imagenet.py")).with_sections(
        data={"image_size": eval_size},
        model={"name": model},
        schedule={"progressive": Progressive(stages=4, **progressive)},
        regularization={
            "autoaugment": None,  # RandAugment, per stage
            "dropout": progressive["dropout"][1],
        },
        runtime={"output_dir": f"runs/{model.replace('efficientnetv2', 'v2')}_imagenet"},
    )


def get_config() -> TrainConfig:
    return v2_imagenet(
        "efficientnetv2_s",
        384,
        image_size=(128, 300),
        randaugment=(5, 15),
        mixup=(0.0, 0.0),
        dropout=(0.1, 0.3),
    )
