"""EfficientNet-B0 on ImageNet with the paper's full training recipe (docs/paper.md section 7).

Reproduces: B0's 77.1% top-1 (paper Table 2) from scratch. Recipe: RMSProp in TensorFlow's form
(decay 0.9, momentum 0.9, epsilon 1e-3 inside the square root), 0.016 per 256 images (0.256 at
the reference batch of 4096) with 5 warm-up epochs then x0.97 every 2.4 epochs, weight decay 1e-5
(not on BN or biases), BN momentum 0.99 (in the spec), label smoothing 0.1, AutoAugment,
stochastic depth 0.2, dropout 0.2, EMA 0.9999, 350 epochs, 25,000 training images held out as a
minival for early stopping; the early-stopped checkpoint is scored on the 50,000 validation images.

Costs: 350 epochs x ~1.256M images = ~440M training images at ~1.2 G multiply-adds each (forward
+ backward ~ 3 x 0.39 G), about 1e18 FLOPs. At an assumed 2,500 images/s per modern GPU with AMP
and channels_last (benchmarks/gpu_train.py measures the real figure) that is ~50 GPU-hours, e.g.
~6 hours with `torchrun --nproc_per_node=8`. Memory: ~13.5 MB of fp16 activations per image
(docs/paper.md section 9), so 512 images per GPU on 8 GPUs fits in 80 GB; with fewer GPUs raise
grad_accum_steps rather than lowering batch_size (or lower both: lr scales with batch_size).

Data: an ImageNet folder with train/<wnid>/*.JPEG and val/<wnid>/*.JPEG:
    torchrun --nproc_per_node=8 -m effnet.cli train --config configs/b0_imagenet.py \\
        --override data.dir=/data/imagenet
"""

from effnet.train import TrainConfig


def get_config() -> TrainConfig:
    return TrainConfig.from_sections(
        data={
            "dataset": "imagefolder",
            "dir": "data/imagenet",
            "image_size": None,  # the variant's own resolution: 224
            "minival_size": 25_000,
            "eval_crop_pct": 0.875,
            "interpolation": "bicubic",
        },
        model={
            "name": "efficientnet_b0",
        },
        optim={
            "lr_per_256": 0.016,
            "name": "rmsprop_tf",
            "rmsprop_decay": 0.9,
            "momentum": 0.9,
            "rmsprop_eps": 1e-3,
            "weight_decay": 1e-5,
            "ema_decay": 0.9999,
        },
        schedule={
            "epochs": 350,
            "batch_size": 4096,
            "grad_accum_steps": 1,
            "warmup_epochs": 5,
            "lr_decay_rate": 0.97,
            "lr_decay_epochs": 2.4,
            "lr_staircase": True,
        },
        regularization={
            "label_smoothing": 0.1,
            "autoaugment": "imagenet",
            "crop_scale_min": 0.08,
            "hflip": True,
            "drop_path_rate": 0.2,
            "dropout": 0.2,
        },
        runtime={
            "amp": "auto",
            "channels_last": True,
            "num_workers": 8,
            "output_dir": "runs/b0_imagenet",
        },
    )
