"""The import contracts in pyproject.toml hold for the reasons they state: on a copy of the
package, one import against a contract (a loop back into a lower layer, torch in a torch-free
module, a module that names no layer) makes lint-imports fail and name that import.

That the real package keeps every contract, and has no import loop, is tests/test_layout.py's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint_copy(tmp_path: Path, file: str, line: str) -> subprocess.CompletedProcess[str]:
    """lint-imports on a copy of ``src/effnet`` where ``file`` ends with ``line`` (a new file when
    there is none), with this project's contracts."""
    src = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "effnet", src / "effnet", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = src / "effnet" / file
    text = target.read_text() if target.exists() else ""
    target.write_text(f"{text}\n{line}\n")
    env = {**os.environ, "PYTHONPATH": str(src)}  # the copy, ahead of the installed package
    return subprocess.run(
        [str(LINT), "--no-cache", "--no-logo"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("file", "line", "report"),
    [
        # the loop that was: the config imported the code that applies its schedule
        ("train/config.py", "from .progressive import StageRunner",
         "effnet.train.config is not allowed to import effnet.train.progressive"),
        ("train/stages.py", "from .config import TrainConfig",
         "effnet.train.stages is not allowed to import effnet.train.config"),
        ("train/schedule.py", "from . import loop",
         "effnet.train.schedule is not allowed to import effnet.train.loop"),
        ("data/__init__.py", "from .. import train",
         "effnet.data is not allowed to import effnet.train"),
        ("registry.py", "from . import models",
         "effnet.registry is not allowed to import effnet.models"),
        ("detection/spec.py", "from . import model",
         "effnet.detection.spec is not allowed to import effnet.detection.model"),
        ("spec.py", "import torch", "effnet.spec is not allowed to import torch"),
        ("deploy/backends.py", "import torch",
         "effnet.deploy.backends is not allowed to import torch"),
        ("train/stages.py", "import torchvision",
         "effnet.train.stages is not allowed to import torchvision"),
        ("progress.py", "import timm", "effnet.progress -> timm"),  # peers: tests only
    ],
)  # fmt: skip
def test_an_import_against_a_contract_fails_lint_naming_it(tmp_path, file, line, report):
    result = lint_copy(tmp_path, file, line)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    assert report in result.stdout, result.stdout[-3000:]


@pytest.mark.parametrize("file", ["cache.py", "train/tune.py", "detection/mask.py"])
def test_a_new_module_must_name_its_layer(tmp_path, file):
    result = lint_copy(tmp_path, file, '"""A module placed in no layer."""')
    module = "effnet." + file.removesuffix(".py").replace("/", ".")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    assert "not listed as layers" in result.stdout
    assert f"- {module}\n" in result.stdout
