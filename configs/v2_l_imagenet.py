"""EfficientNetV2-L on ImageNet with progressive learning (V2 paper Table 6 for L).

Reproduces: V2-L's 85.7% top-1 (V2 paper Table 7) at 120M parameters and 53B FLOPs, evaluated
at 480 px. configs/v2_s_imagenet.py's recipe with L's stages: 128 -> 380 px, RandAugment 5 ->
25, mixup alpha 0 -> 0.4, dropout 0.1 -> 0.5 over four stages of about 87 epochs.
Costs: V2 paper Table 7 reports 24 hours on 32 TPUv3 cores (V2-S: 7.1).
"""

from pathlib import Path

from effnet.train import TrainConfig, load_config


def get_config() -> TrainConfig:
    s = load_config(Path(__file__).with_name("v2_s_imagenet.py"))
    return s.with_sections(
        data={"image_size": 480},
        model={"name": "efficientnetv2_l"},
        schedule={
            "progressive": s.progressive.replace(
                image_size=(128, 380), randaugment=(5, 25), mixup=(0.0, 0.4), dropout=(0.1, 0.5)
            )
        },
        regularization={"dropout": 0.5},
        runtime={"output_dir": "runs/v2_l_imagenet"},
    )
