"""The paper's step-1 grid search (``effnet search-scaling``) for EfficientNet-B0 on digits.

Reproduces: the procedure of docs/paper.md section 1, step 1 (fix phi = 1, search alpha, beta, gamma
under alpha * beta^2 * gamma^2 ~= 2, keep the best by validation accuracy; the paper found 1.2,
1.1, 1.15 for B0 on ImageNet), on the embedded digits with a short schedule. The grid is coarse:
alpha in {1.0, 1.2, 1.4}, beta in {1.0, 1.1, 1.2}, gamma in {1.0, 1.15, 1.3} within 0.15 of 2,
which leaves 6 candidates and includes the paper's answer.

Base resolution 56px (the 8x8 digits upsampled 7x; see configs/study_digits.py for why). Note that
at such small sizes the real multiply-adds of a candidate can differ from alpha*beta^2*gamma^2:
feature maps are ceil(size / stride), so a few extra pixels can add a whole row at every stride.
The ranked table prints both. The minival has 180 images (one image = 0.56 points; one run's
binomial error is about +-3 points at 25%), so neighbouring ranks are usually within noise: the
table names a best only when it leads by more than twice the combined noise, and says "no
candidate is distinguishable from the others" otherwise. ``--seeds 3`` trains every candidate with
seeds 0, 1 and 2 (each cached on its own) and ranks their means.

Costs: 6 runs of 4 epochs at 49-84M multiply-adds per image (the base: 30M); about 8-12 minutes
on 2 quiet CPU cores (``--jobs 2`` helps only with more cores). Finished candidates are cached in
runs/search_efficientnet_b0/candidates: rerunning trains only what is missing. The paper's finer
grid is ``--alpha 1.0:1.4 --beta 1.0:1.4 --gamma 1.0:1.4 --step 0.05 --tolerance 0.1`` (75
candidates).

    effnet search-scaling --config configs/search_digits.py --dry-run
    effnet search-scaling --config configs/search_digits.py
"""

from pathlib import Path

from effnet.experiments.grid_search import SearchConfig
from effnet.train import TrainConfig, load_config


def get_config() -> TrainConfig:
    # The digits demo's recipe (configs/b0_digits.py: BN momentum 0.1, zero-initialised head,
    # lr decay x0.85 per epoch, EMA 0.999, no flips or AutoAugment), at the study's base size.
    # With the paper's BN momentum (0.01 in PyTorch terms) and EMA, a run this short evaluates
    # running statistics that never caught up with the weights: minival at chance.
    demo = load_config(Path(__file__).with_name("b0_digits.py"))
    return demo.with_sections(
        data={"image_size": 56},  # the base resolution every scaled network starts from
        schedule={"epochs": 4},
        runtime={"log_every": 5, "output_dir": "runs/search_digits"},
    )


def get_search() -> SearchConfig:
    """The grid; ``effnet search-scaling --alpha/--beta/--gamma/--step/--tolerance`` override it."""
    return SearchConfig(
        alpha="1.0,1.2,1.4",
        beta="1.0,1.1,1.2",
        gamma="1.0,1.15,1.3",
        tolerance=0.15,
        target=2.0,
        phi=1.0,
    )
