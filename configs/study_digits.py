"""Width vs depth vs resolution vs compound scaling of B0 on the embedded digits (effnet study).

Reproduces: the paper's Figure 8 / Table 7 comparison (PAPER.md section 4) on data that ships with
effnet, not ImageNet. B0 is scaled by width only, depth only, resolution only and compound
(alpha 1.2, beta 1.1, gamma 1.15) at phi = 1; each single dimension is solved to the compound
model's multiply-adds (all four land within 1%), and all five networks are trained from scratch.

Base resolution 56px: the 8x8 digits are upsampled 7x, so the five stride-2 stages still leave a
2x2 final map, and compound phi = 1 lands on 64px, where B0's multiply-adds grow 1.85x, close to
the paper's "each unit of phi doubles FLOPs". (At 32px the last stage sees 1x1 and any larger
size jumps FLOPs 2.4x at once, so resolution-only cannot match phi = 1 within 10%.) Resolution
scaling adds no information here, since every image is 8x8 at heart: it only gives the network
larger feature maps, which is itself part of what the study shows.

Costs: 5 runs of 12 epochs (1,257 training images each); the base is 30M multiply-adds per image,
the scaled ones 55M. One epoch of all five costs about 12.5 epochs of configs/b0_digits.py (B0 at
32px, measured side by side), so about 12-20 minutes on 2 quiet CPU cores. Add budgets
with ``--phi 1 2.5`` (four more networks at 170M multiply-adds, about 3x the time), and seeds with
``--seeds 3`` (360 test images: one image is 0.28 points, so single-seed gaps of a point or two
are noise).

    effnet study --config configs/study_digits.py --dry-run
    effnet study --config configs/study_digits.py
"""

from effnet.train import TrainConfig


def get_config() -> TrainConfig:
    return TrainConfig(
        model="efficientnet_b0",
        dataset="digits",
        image_size=56,  # the base resolution every scaled network starts from
        epochs=12,
        batch_size=64,
        lr_per_256=0.016,
        warmup_epochs=1,
        autoaugment=None,  # ImageNet's policy would flip and recolour digits into other digits
        crop_scale_min=0.6,
        hflip=False,
        ema_decay=0.999,
        eval_crop_pct=1.0,
        num_workers=0,
        log_every=5,
        output_dir="runs/study_digits",
    )


def get_study() -> dict:
    """Budgets (compound coefficients) and seeds; ``effnet study --phi/--seeds`` override them."""
    return {"phis": (1.0,), "seeds": 1}
