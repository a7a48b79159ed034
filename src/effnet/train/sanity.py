"""Does a result mean anything? The one place that decides when a number is noise.

A short run with the paper's ImageNet recipe on a small data set ends with an accuracy, a loss
curve and a checkpoint like any other run, yet its accuracy can be what guessing scores. Likewise a
grid search ranks candidates whose accuracies differ by a few images of a small minival. This
module holds the rules that tell such results apart, without torch:

- :func:`chance_band` and :func:`check_run`: a training run whose reported accuracy is within
  noise of chance, or whose training loss did not fall, gets ONE warning naming the likely cause,
  with the values this run used, and the fix. The loop's :class:`~.result.Outcome` calls it, so
  ``effnet train``, ``effnet finetune``, every search candidate and every study network are checked
  the same way, and ``summary.json`` / :class:`~.result.TrainResult` carry the warning.
- :class:`Spread` and :func:`within_noise`: accuracies repeated over seeds (search and study), and
  whether one candidate is separated from another by more than their noise.

The noise model is the binomial one. An accuracy measured on ``n`` images is a proportion: a
network that is right with probability ``p`` on each image scores ``Binomial(n, p) / n``, whose
standard deviation is ``sqrt(p (1 - p) / n)``. Two standard deviations (:data:`Z`) is the bound
used everywhere here: a guesser exceeds it about 2.5% of the time (normal approximation), so a
score at or under it is one a network that learnt nothing could have scored.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import TrainConfig

#: Standard errors a score must clear to count as more than noise (about 95%, two-sided).
Z = 2.0

#: Below this many optimizer steps a run is short whatever the recipe (the digits demo takes 470).
FEW_STEPS = 100

#: The short-run values of configs/b0_digits.py that the warning suggests, by the cause they fix.
SHORT_RUN_FIX = {
    "bn": "bn_momentum=0.1",
    "ema": "ema_decay=0.999",
    "warmup": "warmup_epochs=1",
    "head": "zero_init_head=True",
}


def binomial_se(p: float, n: int) -> float:
    """The standard error of an accuracy ``p`` measured on ``n`` images (0 images: infinite)."""
    if n <= 0:
        return math.inf
    p = min(max(p, 0.0), 1.0)
    return math.sqrt(p * (1 - p) / n)


def chance_band(num_classes: int, scored: int) -> tuple[float, float]:
    """``(chance, margin)``: guessing's accuracy 1/classes and :data:`Z` binomial standard errors
    of it on ``scored`` images. An accuracy at or below ``chance + margin`` is within noise of
    guessing (below chance too: a network worse than guessing has learnt nothing usable either)."""
    chance = 1 / max(num_classes, 1)
    return chance, Z * binomial_se(chance, scored)


def near_chance(accuracy: float, num_classes: int, scored: int) -> bool:
    """Whether ``accuracy`` on ``scored`` images is within noise of guessing among the classes."""
    chance, margin = chance_band(num_classes, scored)
    return num_classes >= 2 and accuracy <= chance + margin


def learnt(accuracy: float | None, num_classes: int) -> bool:
    """Whether an accuracy shows learning beyond doubt: at least half-way from chance to 100%."""
    if accuracy is None or math.isnan(accuracy):
        return False
    chance = 1 / max(num_classes, 1)
    return accuracy >= (1 + chance) / 2


# ------------------------------------------------------------------------------------------------
# One training run
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunFacts:
    """What the check needs from a run's data and model beyond its config and progress."""

    num_classes: int
    train_images: int
    minival_images: int
    test_images: int
    bn_momentum: float  # the model's, after the config's override


def run_facts(data: Any, spec: Any) -> RunFacts:
    """The facts of a run from the loop's data splits and model spec."""
    return RunFacts(
        num_classes=data.num_classes,
        train_images=len(data.train),
        minival_images=len(data.val) if data.val is not None else 0,
        test_images=len(data.test) if data.test is not None else 0,
        bn_momentum=spec.bn_momentum,
    )


@dataclass(frozen=True)
class RunEnd:
    """How a run ended: the reported accuracy (None: nothing scored), on how many images of which
    split, the mean training loss of each evaluated epoch, and the run's length and peak lr."""

    accuracy: float | None
    scored: int
    split: str
    losses: Sequence[float]
    steps: int
    epochs: float
    peak_lr: float
    facts: RunFacts


def check_run(cfg: TrainConfig, end: RunEnd) -> str | None:
    """One warning when the run's result means nothing, naming the cause and the fix; else None.

    It fires when the reported accuracy is within noise of chance (:func:`near_chance`) or the
    mean training loss of the last evaluated epoch is not below the first's (a run that learns
    lowers it, whatever the data). A run with one evaluated epoch has no loss trend to judge, and
    a flat or rising loss beside an accuracy that shows learning (:func:`learnt`) is no sign of a
    meaningless run: a fine-tune from pretrained weights starts near its final loss, and label
    smoothing and augmentation keep the loss of a 100%-accurate model well above zero.
    """
    symptoms = []
    acc, classes = end.accuracy, end.facts.num_classes
    if acc is not None and not math.isnan(acc) and near_chance(acc, classes, end.scored):
        chance, margin = chance_band(classes, end.scored)
        symptoms.append(
            f"{end.split} top-1 {100 * acc:.1f}% on {end.scored} images is within "
            f"noise of chance ({100 * chance:.1f}% +- {100 * margin:.1f} points for "
            f"{classes} classes)"
        )
    if len(end.losses) >= 2 and not end.losses[-1] < end.losses[0] and not learnt(acc, classes):
        symptoms.append(
            f"the training loss did not fall ({end.losses[0]:.2f} -> {end.losses[-1]:.2f})"
        )
    if not symptoms:
        return None
    causes, fixes = likely_causes(cfg, end)
    fix = " ".join(fixes)
    advice = (
        f"set {fix} (the short-run values of configs/b0_digits.py) and train longer"
        if fix
        else "train longer"
    )
    if cfg.init_checkpoint is None:
        advice += ", or start from pretrained weights: `effnet finetune DATA_DIR`"
    return (
        f"this run's result means nothing: {' and '.join(symptoms)}. Likely cause: "
        f"{'; '.join(causes) or 'none in the config; check the labels and the data'}. "
        f"Fix: {advice}."
    )


def likely_causes(cfg: TrainConfig, end: RunEnd) -> tuple[list[str], list[str]]:
    """The config choices that make this run too short to learn, each with this run's values,
    and the config changes that fix them (:data:`SHORT_RUN_FIX`)."""
    causes, fixes = [], []
    steps, scratch = max(end.steps, 1), cfg.init_checkpoint is None  # else BN stats are trained
    bn_left = (1 - end.facts.bn_momentum) ** steps
    if scratch and bn_left > 0.05 and end.facts.bn_momentum < 0.1:
        causes.append(
            f"BN momentum {end.facts.bn_momentum:g} over {end.steps} steps leaves the running "
            f"statistics {bn_left:.0%} at their initial values (the paper's 0.01 is for a "
            "350-epoch schedule)"
        )
        fixes.append(SHORT_RUN_FIX["bn"])
    ema_left = _ema_initial_share(cfg.ema_decay, cfg.ema_warmup, steps)
    if ema_left > 0.05 and cfg.ema_decay > 0.999:
        causes.append(
            f"EMA decay {cfg.ema_decay:g} keeps {ema_left:.0%} of the initial weights after "
            f"{end.steps} steps"
        )
        fixes.append(SHORT_RUN_FIX["ema"])
    if 0 < end.epochs <= cfg.warmup_epochs:
        causes.append(
            f"a {cfg.warmup_epochs:g}-epoch warm-up in a {end.epochs:g}-epoch run never reaches "
            f"the full lr (peak {end.peak_lr:.3g})"
        )
        if cfg.warmup_epochs > 1:
            fixes.append(SHORT_RUN_FIX["warmup"])
    if scratch and not cfg.zero_init_head and end.steps < 10 * FEW_STEPS:
        causes.append("the paper's random head starts with logits of std ~4")
        fixes.append(SHORT_RUN_FIX["head"])
    rose = len(end.losses) >= 2 and end.losses[-1] > end.losses[0]
    if rose and cfg.warmup_epochs < end.epochs:
        causes.append(f"lr too high: the loss rose at peak lr {end.peak_lr:.3g}")
        fixes.append(f"lr_per_256={cfg.lr_per_256 / 4:g}")
    if end.steps < FEW_STEPS:
        causes.append(
            f"only {end.steps} optimizer steps ({end.facts.train_images} training images, "
            f"batch {cfg.batch_size}, {end.epochs:g} epochs)"
        )
    return causes, fixes


def _ema_initial_share(decay: float, warmup: bool, steps: int) -> float:
    """The weight of the starting weights in the EMA after ``steps`` updates (TF's warm-up uses
    ``min(decay, (1 + n) / (10 + n))`` at update n, which forgets the start within a few steps)."""
    share = 1.0
    for n in range(steps):
        share *= min(decay, (1 + n) / (10 + n)) if warmup else decay
        if share < 1e-3:
            return 0.0
    return share


# ------------------------------------------------------------------------------------------------
# Accuracies over seeds (search and study)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spread:
    """One candidate's accuracies, one per seed that scored, and their mean and spread."""

    values: tuple[float, ...]

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float:
        """The sample standard deviation over seeds (0 with one seed: no spread measured)."""
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    def noise(self, scored: int | None) -> float:
        """The standard error of the mean: the larger of the seed spread and one run's binomial
        error on ``scored`` images, over sqrt(seeds). The binomial floor keeps two lucky seeds
        that agree from claiming a precision that ``scored`` images cannot give; ``scored`` None
        (not recorded) leaves the seed spread alone."""
        if not self.values:
            return math.inf
        floor = 0.0 if scored is None else binomial_se(self.mean or 0.0, scored)
        return max(self.std, floor) / math.sqrt(len(self.values))


def spread(values: Sequence[float | None]) -> Spread:
    """The accuracies that exist (a diverged seed has none), as a :class:`Spread`."""
    return Spread(tuple(float(v) for v in values if v is not None and not math.isnan(v)))


def gap_noise(a: Spread, b: Spread, scored: int | None) -> float:
    """:data:`Z` standard errors of the difference of two means (independent, so the errors add
    in quadrature): a gap at or under it is noise."""
    return Z * math.hypot(a.noise(scored), b.noise(scored))


def within_noise(a: Spread, b: Spread, scored: int | None) -> bool:
    """Whether the means of ``a`` and ``b`` are indistinguishable: their gap is not more than
    :func:`gap_noise`. Either one without a score is never separated from the other."""
    if a.mean is None or b.mean is None:
        return True
    return abs(a.mean - b.mean) <= gap_noise(a, b, scored)


def rivals(best: Spread, others: Sequence[Spread], scored: int | None) -> list[int]:
    """The indices of ``others`` within noise of ``best`` (:func:`within_noise`): when there is
    any, ``best`` is not distinguishable from them, and naming it best would mislead."""
    return [i for i, other in enumerate(others) if within_noise(best, other, scored)]


#: How :func:`within_noise` decides, in words, for the reports that apply it.
NOISE_RULE = (
    "a candidate's noise is the larger of its standard deviation over seeds and one run's "
    "binomial standard error sqrt(p(1-p)/n) on the n scored images, divided by sqrt(seeds); two "
    "candidates differ only when their means are more than twice their combined noise "
    "sqrt(e1^2 + e2^2) apart"
)


def experiment_warning(warnings: Sequence[tuple[str, str | None]]) -> str | None:
    """ONE warning for an experiment whose runs (``(label, warning)`` pairs) warned, or None."""
    warned = [(label, text) for label, text in warnings if text]
    if not warned:
        return None
    label, text = warned[0]
    return f"{len(warned)} of {len(warnings)} runs mean nothing; {label}: {text}"
