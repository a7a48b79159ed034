"""EfficientNetV2-M on ImageNet with progressive learning (V2 paper Table 6 for M).

Reproduces: V2-M's 85.1% top-1 (V2 paper Table 7) at 54M parameters and 24B FLOPs, evaluated
at 480 px. configs/v2_s_imagenet.py's recipe with M's stages: 128 -> 380 px, RandAugment 5 ->
20, mixup alpha 0 -> 0.2, dropout 0.1 -> 0.4 over four stages of about 87 epochs.
Costs: V2 paper Table 7 reports 13 hours on 32 TPUv3 cores (V2-S: 7.1).
"""

from pathlib import Path

from effnet.train import TrainConfig, load_config


def get_config() -> TrainConfig:
    s = load_config(Path(__file__).with_name("v2_s_imagenet.py"))
    return s.with_sections(
        data={"image_size": 480},
        model={"name": "efficientnetv2_m"},
        schedule={
            "progressive": s.progressive.replace(
                image_size=(128, 380), randaugment=(5, 20), mixup=(0.0, 0.2), dropout=(0.1, 0.4)
            )
        },
        regularization={"dropout": 0.4},
        runtime={"output_dir": "runs/v2_m_imagenet"},
    )
