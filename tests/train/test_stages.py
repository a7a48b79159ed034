"""The progressive-learning schedule as values: each field checked with a one-line reason, pairs
kept as tuples, epochs cut into equal runs, and the schedule importable (from
effnet.train.stages, and from effnet.train.progressive, where config files import it) without
torch, so that a config file loads without torch."""

import subprocess
import sys
from pathlib import Path

import pytest

from effnet.train.stages import Progressive

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("stages", 0, "stages must be >= 1, got 0"),
        ("image_size", (4, 300), r"image sizes too small: \(4, 300\)"),
        ("dropout", (0.1, 1.0), r"dropout must be in \[0, 1\), got \(0.1, 1.0\)"),
        ("mixup", (-0.2, 0.0), r"mixup alpha must be >= 0, got \(-0.2, 0.0\)"),
    ],
)
def test_a_bad_field_is_refused_naming_it(field, value, message):
    with pytest.raises(ValueError, match=f"^progressive: {message}$"):
        Progressive(**{field: value})


def test_pairs_given_as_lists_are_kept_as_tuples():
    schedule = Progressive(stages=2, image_size=[64, 96], dropout=[0.0, 0.2])
    assert schedule == Progressive(stages=2, image_size=(64, 96), dropout=(0.0, 0.2))
    assert hash(schedule) == hash(Progressive(stages=2, image_size=(64, 96), dropout=(0.0, 0.2)))
    assert schedule.replace(stages=3).table()[1].image_size == 80


def test_epochs_are_cut_into_equal_runs_in_stage_order():
    # 10 epochs in 4 stages: 2.5 epochs a stage, each epoch in the stage its start falls in
    assert [Progressive().stage_of(e, 10) for e in range(10)] == [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]
    # fewer epochs than stages: the stages that start on an epoch, the last one included
    assert [Progressive(stages=4).stage_of(e, 2) for e in range(2)] == [0, 2]


def test_a_progressive_config_file_loads_without_torch():
    code = (
        "import sys\n"
        "from effnet.train.config import load_config\n"
        "from effnet.train import progressive, stages\n"
        f"cfg = load_config({str(ROOT / 'configs' / 'v2_digits.py')!r})\n"
        "assert progressive.Progressive is stages.Progressive\n"
        "assert isinstance(cfg.progressive, stages.Progressive), cfg.progressive\n"
        "sys.exit(3 if 'torch' in sys.modules else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
