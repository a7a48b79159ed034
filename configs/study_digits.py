"""Width vs depth vs resolution vs compound scaling of B0 on the embedded digits (effnet study).

Reproduces: the paper's Figure 8 / Table 7 comparison (docs/paper.md section 4) on data that
ships with effnet, not ImageNet. B0 is scaled by width only, depth only, resolution only and
compound (alpha 1.2, beta 1.1, gamma 1.15) at phi = 1; each single dimension is solved to the
compound model's multiply-adds (all four land within 1%), and all five networks are trained from
scratch.

Base resolution 56px: the 8x8 digits are upsampled 7x, so the five stride-2 stages still leave a
2x2 final map, and compound phi = 1 lands on 64px, where B0's multiply-adds grow 1.85x, close to
the paper's "each unit of phi doubles FLOPs". (At 32px the last stage sees 1x1 and any larger
size jumps FLOPs 2.4x at once, so resolution-only cannot match phi = 1 within 10%.) Resolution
scaling adds no information here, since every image is 8x8 at heart: it only gives the network
larger feature maps, which is itself part of what the study shows.

Costs: 5 runs of 6 epochs (1,257 training images each); the base is 30M multiply-adds per image,
the scaled ones 55M. One epoch of all five costs about 12.5 epochs of configs/b0_digits.py (B0 at
32px, measured side by side), so about 12-20 minutes on 2 quiet CPU cores. Add budgets
with ``--phi 1 2.5`` (four more networks at 170M multiply-adds, about 3x the time), and seeds with
``--seeds 3`` (360 test images: one image is 0.28 points, so single-seed gaps of a point or two
are noise; the outcome says so when compound's lead is within twice the combined noise of the
seeds' spread and the test set's binomial error).

    effnet study --config configs/study_digits.py --dry-run
    effnet study --config configs/study_digits.py
"""

from pathlib import Path

from effnet.experiments.study import StudyConfig
from effnet.train import TrainConfig, load_config


def get_config() -> TrainConfig:
    # The digits demo's recipe (configs/b0_digits.py: BN momentum 0.1, zero-initialised head,
    # lr decay x0.85 per epoch, EMA 0.999, no flips or AutoAugment), at the study's base size.
    # With the paper's BN momentum (0.01 in PyTorch terms) and EMA, a run this short evaluates
    # running statistics that never caught up with the weights: minival at chance.
    demo = load_config(Path(__file__).with_name("b0_digits.py"))
    return demo.with_sections(
        data={"image_size": 56},  # the base resolution every scaled network starts from
        schedule={"epochs": 6},
        runtime={"log_every": 5, "output_dir": "runs/study_digits"},
    )


def get_study() -> StudyConfig:
    """Budgets (compound coefficients) and seeds; ``effnet study --phi/--seeds`` override them."""
    return StudyConfig(phis=(1.0,), seeds=1)
