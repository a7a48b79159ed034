"""Every hyperparameter of a training run in one dataclass, and configs as Python files.

Defaults are the paper's ImageNet recipe (docs/paper.md section 7), each with the reason for its
value. A config file in ``configs/`` defines ``get_config() -> TrainConfig`` (big_vision style),
so a recipe is code that can import another recipe and change three fields; ``--override key=value``
changes one field from the command line, parsed to the field's type. An experiment's file may
define one more getter beside it (``get_search()``, ``get_study()``) returning that experiment's
settings object; :func:`load_config_module` executes the file once and hands out both.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import math
import traceback
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ..spec import MAX_RESOLUTION
from .sections import field_for, flatten, nest
from .stages import Progressive

OPTIMIZERS = ("rmsprop_tf", "sgd", "adamw")
AMP_MODES = ("auto", "none", "bf16", "fp16")
AUTOAUGMENT_POLICIES = ("imagenet", "cifar10", "svhn")


@dataclass
class TrainConfig:
    """One training run. Field defaults reproduce the paper's EfficientNet-B0 ImageNet recipe.

    ``TASK`` names the task that trains it (:func:`effnet.train.task.task_for`): a subclass with
    another task's fields (a detection config) names its own.
    """

    TASK: ClassVar[str] = "effnet.train.task:ClassificationTask"

    # --- what to train on -----------------------------------------------------------------------
    model: str = "efficientnet_b0"  # registered name or a spec .json from `effnet scale`
    dataset: str = "imagefolder"  # "digits", "imagefolder", or a torchvision set ("cifar10", ...)
    data_dir: str | None = None  # root of the image folder / download cache of a torchvision set
    image_size: int | None = None  # None = the model's own resolution (224 for B0, 600 for B7)
    minival_size: int = 25_000  # paper: 25k training images held out for early stopping
    limit_train_images: int | None = None  # None = all; a cap makes quick experiments quick

    # --- schedule (docs/paper.md section 7) -----------------------------------------------------
    epochs: int = 350  # the reference code's ImageNet schedule
    max_steps: int | None = None  # None = run all epochs; a cap lets tests and searches stop early
    batch_size: int = 4096  # global images per optimizer step (all processes x accumulation)
    fit_batch: bool = False  # True: batch_size is a default a small data set may lower (fit.py)
    grad_accum_steps: int = 1  # micro-batches per step, for when batch_size does not fit memory
    lr_per_256: float = 0.016  # paper: 0.256 at batch 4096, scaled linearly with batch size
    lr: float | None = None  # absolute lr after warm-up, not scaled by the batch; None: lr_per_256
    warmup_epochs: float = 5.0  # reference code: linear warm-up from 0 over 5 epochs
    lr_decay_rate: float = 0.97  # paper: multiply by 0.97 ...
    lr_decay_epochs: float = 2.4  # ... every 2.4 epochs
    lr_staircase: bool = True  # reference code decays in steps (tf exponential_decay staircase)
    lr_schedule: str = "paper"  # "paper" (warm-up, exponential decay) or "cosine" (to 0 at the end)

    # --- optimizer ------------------------------------------------------------------------------
    optimizer: str = "rmsprop_tf"  # paper: RMSProp in TensorFlow's form; "sgd"/"adamw" for tuning
    rmsprop_decay: float = 0.9  # paper: RMSProp decay 0.9
    momentum: float = 0.9  # paper: momentum 0.9 (also SGD's momentum)
    rmsprop_eps: float = 1e-3  # paper: epsilon 1e-3, inside the square root
    weight_decay: float = 1e-5  # paper: 1e-5, as an L2 gradient term, not on BN or biases
    backbone_lr_scale: float = 1.0  # lr multiplier for all but the classifier (fine-tuning)
    freeze_backbone_epochs: int = 0  # first N epochs train only the classifier (fine-tuning)
    grad_clip_norm: float = 0.0  # 0 = off; the paper does not clip

    # --- regularisation -------------------------------------------------------------------------
    label_smoothing: float = 0.1  # reference code: 0.1
    autoaugment: str | None = "imagenet"  # paper: AutoAugment (torchvision's ImageNet policy)
    crop_scale_min: float = 0.08  # reference code: random crops covering 8%-100% of the image
    hflip: bool = True  # reference code: random horizontal flips
    drop_path_rate: float | None = 0.2  # paper: survival 0.8 at the last block; None = spec's
    dropout: float | None = None  # None = the variant's (paper: 0.2 for B0 rising to 0.5 for B7)
    bn_momentum: float | None = None  # None = spec's 0.01 (PyTorch terms; paper's TF 0.99)
    ema_decay: float = 0.9999  # reference code: EMA of weights, evaluated instead of the raw ones
    ema_warmup: bool = True  # TF's num_updates: decay min(d, (1+n)/(10+n)) so early EMA is usable
    eval_crop_pct: float = 0.875  # paper: evaluate a center crop of resolution / 0.875
    interpolation: str = "bicubic"  # paper: bicubic resizing at evaluation
    # EfficientNetV2's progressive learning: training image size, dropout, RandAugment and mixup
    # per stage (effnet.train.progressive); None trains at image_size throughout. Evaluation
    # stays at image_size (V2 evaluates larger than it trains: S 300 -> 384).
    progressive: Progressive | None = None

    # --- hardware -------------------------------------------------------------------------------
    device: str = "auto"  # "auto" = cuda when present, else cpu; or "cpu", "cuda", "cuda:1"
    amp: str = "auto"  # "auto" = bf16 on GPUs with it, fp16 (+GradScaler) on older, off on CPU
    channels_last: bool = True  # depthwise convs run faster in NHWC on GPUs (docs/paper.md sec. 9)
    compile: bool = False  # torch.compile the model: faster steps after a minutes-long compile
    num_workers: int = 8  # data-loading processes per training process
    deterministic: bool = False  # torch.use_deterministic_algorithms, for bit-exact reruns
    sync_bn: bool = False  # the reference uses per-replica BN; SyncBN for tiny per-GPU batches

    # --- bookkeeping ----------------------------------------------------------------------------
    output_dir: str = "runs/efficientnet_b0"  # checkpoints, logs, curves
    seed: int = 0  # initialisation, data order, augmentation, dropout: all follow from it
    eval_every: int = 1  # epochs between minival evaluations (early stopping granularity)
    select_on_minival: bool = True  # paper: report the best-on-minival (early-stopped) weights;
    #                                 False reports the final weights, for minivals too small to
    #                                 choose between epochs (best.safetensors is written either way)
    log_every: int = 50  # steps between JSONL / TensorBoard scalar records
    save_every_steps: int = 0  # 0 = resumable checkpoint at epoch ends only; N = also every N steps
    init_checkpoint: str | None = None  # effnet .safetensors to start from (fine-tuning)
    zero_init_head: bool = False  # big_vision's transfer default; the paper's U(+-1/sqrt(classes))
    #                               head starts 10-class logits at std ~4, slowing short runs

    def __post_init__(self) -> None:
        validate(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_sections(cls: type[C], **sections: dict[str, Any]) -> C:
        """A config written section by section (:mod:`.sections`): ``TrainConfig.from_sections(
        data={"dataset": "digits"}, optim={"lr_per_256": 0.5})``; defaults fill the rest."""
        return cls(**flatten(sections, field_names(cls)))

    def with_sections(self: C, **sections: dict[str, Any]) -> C:
        """This config with the sections' settings changed (what a derived recipe writes)."""
        return dataclasses.replace(self, **flatten(sections, field_names(type(self))))

    def to_sections(self) -> dict[str, dict[str, Any]]:
        """Every setting under its section, as :meth:`from_sections` takes them."""
        return nest({f: getattr(self, f) for f in field_names(type(self))})


C = TypeVar("C", bound=TrainConfig)


def field_names(kind: type) -> list[str]:
    """A config class's fields, in order."""
    return [f.name for f in dataclasses.fields(kind)]


LR_SCHEDULES = ("paper", "cosine")


def validate(cfg: TrainConfig) -> None:
    """Reject values that would fail later, deep inside a run, with a message naming the field."""

    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ValueError(f"config: {message}")

    need(
        cfg.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {cfg.optimizer!r}"
    )
    need(
        cfg.lr_schedule in LR_SCHEDULES,
        f"lr_schedule must be one of {LR_SCHEDULES}, got {cfg.lr_schedule!r}",
    )
    need(cfg.amp in AMP_MODES, f"amp must be one of {AMP_MODES}, got {cfg.amp!r}")
    need(
        cfg.autoaugment is None or cfg.autoaugment in AUTOAUGMENT_POLICIES,
        f"autoaugment must be None or one of {AUTOAUGMENT_POLICIES}, got {cfg.autoaugment!r}",
    )
    need(cfg.epochs >= 1, f"epochs must be >= 1, got {cfg.epochs}")
    need(
        cfg.max_steps is None or cfg.max_steps >= 1, f"max_steps must be >= 1, got {cfg.max_steps}"
    )
    need(cfg.batch_size >= 1, f"batch_size must be >= 1, got {cfg.batch_size}")
    need(cfg.grad_accum_steps >= 1, f"grad_accum_steps must be >= 1, got {cfg.grad_accum_steps}")
    need(cfg.lr_per_256 > 0, f"lr_per_256 must be positive, got {cfg.lr_per_256}")
    need(cfg.lr is None or cfg.lr > 0, f"lr must be positive or None, got {cfg.lr}")
    need(cfg.warmup_epochs >= 0, f"warmup_epochs must be >= 0, got {cfg.warmup_epochs}")
    need(cfg.lr_decay_epochs > 0, f"lr_decay_epochs must be positive, got {cfg.lr_decay_epochs}")
    need(0 <= cfg.ema_decay < 1, f"ema_decay must be in [0, 1), got {cfg.ema_decay}")
    need(
        0 <= cfg.label_smoothing < 1,
        f"label_smoothing must be in [0, 1), got {cfg.label_smoothing}",
    )
    need(0 < cfg.crop_scale_min <= 1, f"crop_scale_min must be in (0, 1], got {cfg.crop_scale_min}")
    need(
        cfg.image_size is None or 8 <= cfg.image_size <= MAX_RESOLUTION,
        f"image_size must be in [8, {MAX_RESOLUTION}], got {cfg.image_size}",
    )
    need(
        isinstance(cfg.output_dir, str) and bool(cfg.output_dir.strip()),
        f"output_dir must name a folder, got {cfg.output_dir!r}",
    )
    need(cfg.eval_every >= 1 and cfg.log_every >= 1, "eval_every and log_every must be >= 1")
    need(cfg.save_every_steps >= 0, f"save_every_steps must be >= 0, got {cfg.save_every_steps}")
    need(cfg.freeze_backbone_epochs >= 0, "freeze_backbone_epochs must be >= 0")
    need(cfg.backbone_lr_scale >= 0, "backbone_lr_scale must be >= 0")
    need(
        cfg.bn_momentum is None or 0 < cfg.bn_momentum < 1,
        f"bn_momentum must be in (0, 1) (PyTorch convention), got {cfg.bn_momentum}",
    )
    need(cfg.minival_size >= 0, f"minival_size must be >= 0, got {cfg.minival_size}")
    need(cfg.num_workers >= 0, f"num_workers must be >= 0, got {cfg.num_workers}")
    need(
        cfg.progressive is None or isinstance(cfg.progressive, Progressive),
        f"progressive must be a Progressive schedule or None, got {cfg.progressive!r}",
    )


# ------------------------------------------------------------------------------------------------
# Config files and overrides
# ------------------------------------------------------------------------------------------------
def config_search_dirs() -> list[Path]:
    """Where a bare config name ("b0_digits") is looked up: ./configs, then the checkout's."""
    checkout = Path(__file__).resolve().parents[3] / "configs"
    return [Path.cwd() / "configs", checkout]


def resolve_config_path(path_or_name: str | Path) -> Path:
    """A config file path, or a name found in :func:`config_search_dirs` (".py" optional)."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    if path.suffix != ".py" and len(path.parts) == 1:
        for folder in config_search_dirs():
            candidate = folder / f"{path.name}.py"
            if candidate.is_file():
                return candidate
    known = sorted({p.stem for d in config_search_dirs() if d.is_dir() for p in d.glob("*.py")})
    hint = f"; known configs: {', '.join(known)}" if known else ""
    raise FileNotFoundError(f"config {str(path_or_name)!r} not found{hint}")


Settings = TypeVar("Settings")


@dataclass(frozen=True)
class ConfigModule:
    """A config file, executed once: its ``get_config()`` and any experiment getter beside it.

    Commands that read both the training config and an experiment's settings from one file ask
    this object for each, so the file's code (which may print, count or load other configs) runs
    once per command. The experiment's settings type is the caller's: this layer does not know
    the experiments, it only checks that the getter returns the type asked for.
    """

    path: Path
    module: types.ModuleType

    @functools.cached_property
    def settings(self) -> Any:
        """What ``get_config()`` returns (a training or a detection config), run once."""
        return run_config_code(self.path, self.module.get_config)

    def train_config(self, overrides: list[str] | None = None) -> TrainConfig:
        """``get_config()`` with ``key=value`` overrides applied."""
        cfg = self.settings
        if not isinstance(cfg, TrainConfig):
            raise ValueError(
                f"{self.path}: get_config() returned {type(cfg).__name__}, not TrainConfig"
            )
        return apply_overrides(cfg, overrides or [])

    def optional(self, getter: str, kind: type[Settings]) -> Settings | None:
        """``getter()``'s result, checked to be a ``kind``; None when the file has no ``getter``."""
        function = getattr(self.module, getter, None)
        if function is None:
            return None
        if not callable(function):
            raise ValueError(f"{self.path}: {getter} is not a function")
        value = run_config_code(self.path, function)
        if not isinstance(value, kind):
            raise ValueError(
                f"{self.path}: {getter}() returned {type(value).__name__}, not {kind.__name__}"
            )
        return value


def run_config_code(path: Path, function: Any) -> Any:
    """``function()`` (a config file's code); an error in it is one ValueError naming the file and
    line, not a traceback that ends in "KeyError: 'b'"."""
    try:
        return function()
    except Exception as err:  # anything the user's Python raises
        lines = [
            f.lineno for f in traceback.extract_tb(err.__traceback__) if f.filename == str(path)
        ]
        where = f"{path}, line {lines[-1]}" if lines else str(path)
        raise ValueError(f"{where}: {type(err).__name__}: {err}") from None


def load_config_module(path_or_name: str | Path) -> ConfigModule:
    """Execute a config file (a path, or a name in :func:`config_search_dirs`) once."""
    path = resolve_config_path(path_or_name)
    module_name = f"effnet_config_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path} is not a Python config file")
    module = importlib.util.module_from_spec(spec)
    run_config_code(path, lambda: spec.loader.exec_module(module))  # type: ignore[union-attr]
    if not callable(getattr(module, "get_config", None)):
        raise ValueError(f"{path} defines no get_config() -> TrainConfig")
    return ConfigModule(path, module)


def load_config(path_or_name: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Run a config file's ``get_config()`` and apply ``key=value`` overrides to the result."""
    return load_config_module(path_or_name).train_config(overrides)


def apply_overrides(cfg: Settings, overrides: list[str]) -> Settings:
    """``["schedule.epochs=3", "regularization.dropout=none"]`` -> a new config; unknown keys
    and bad values are errors naming the closest keys. A bare field name (``epochs=3``) works
    with a :class:`~.sections.FlatKeyWarning` naming its key.

    Any config dataclass (training, detection): types come from its annotations.
    """
    hints = typing.get_type_hints(type(cfg))
    fields = field_names(type(cfg))
    changes: dict[str, Any] = {}
    given: dict[str, str] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"override {item!r} is not of the form key=value")
        field = field_for(key, fields)  # optim.lr, or the bare lr with a warning
        if field in given:  # the last one would win unseen
            raise ValueError(f"override key {key!r} is given twice ({given[field]} and {item})")
        given[field] = item
        changes[field] = parse_value(key, text.strip(), hints[field])
    result = dataclasses.replace(cfg, **changes)  # type: ignore[type-var]
    if "minival_size" in changes and getattr(result, "dataset", None) == "digits":
        raise ValueError(
            "override minival_size does nothing on digits, whose 180-image minival is a fixed "
            "split; it sizes the minival of imagefolder and torchvision sets"
        )
    return result


def parse_value(key: str, text: str, annotation: Any) -> Any:
    """Parse ``text`` as the type a field is annotated with (``int | None`` accepts "none")."""
    args = typing.get_args(annotation)
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    if is_union:
        if type(None) in args and text.lower() in ("none", "null"):
            return None
        annotation = next(a for a in args if a is not type(None))
    try:
        if annotation is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if annotation is int:
            return int(text)
        if annotation is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
        return text
    except ValueError:
        name = getattr(annotation, "__name__", str(annotation))
        name = "a finite float" if annotation is float else name
        raise ValueError(f"override {key}={text!r}: expected {name}") from None
