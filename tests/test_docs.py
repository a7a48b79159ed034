"""The README's and docs/'s code blocks run, so the documentation cannot drift from the code.

Every ```python block of a page runs in one namespace, in order; every line of a ```bash block is
an ``effnet`` command run in this process (``.venv/bin/effnet`` and ``effnet`` alike). Each page
runs in a fresh folder holding what its examples name: an image folder ``data/pets`` (digits as
PNGs), photos (``cat.jpg``, ``photos/``, ``more/``), two ImageNet classes
(``data/imagenet/val``), a starting checkpoint ``b0.safetensors``, peer files to convert, and
``configs/``. The overrides that keep it fast are few and listed here:

- pretrained weight names (no download in tests) become a local B0 checkpoint with ImageNet class
  names and a 64 px preprocessing (``IMAGENET_STANDIN``);
- every training run stops after one step of at most 8 images at 32 px on the CPU
  (``short_run``, applied where the engine starts a run, so the page's own commands and keywords
  are what is tested), the embedded digits are cut to 24 images per split (``FewDigits``), and
  ``optimize_for_inference`` picks the eager backend instead of timing all, and ONNX exports use
  the faster legacy exporter;
- commands that need hardware, a download or many minutes are not run; ``NOT_RUN`` names each
  with the reason, and the test fails on a command that is neither run nor listed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata
from sklearn.datasets import load_digits

import effnet
import effnet.data.datasets
import effnet.data.digits
import effnet.train.loop
from effnet.cli import main
from effnet.data import Preprocess
from effnet.detection.config import DetectionConfig
from effnet.weights import save_model
from effnet.weights.imagenet_classes import IMAGENET1K_CLASSES

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(python|bash)\n(.*?)^```", re.S | re.M)

IMAGENET_STANDIN = "imagenet_b0.safetensors"
#: Text replaced before a block runs: weights that would be downloaded, and backend timing.
SUBSTITUTIONS = {
    "efficientnet_b0.tf_aa_in1k": IMAGENET_STANDIN,
    "pretrained=True": f'pretrained="{IMAGENET_STANDIN}"',
    'pretrained="tv_in1k"': f'pretrained="{IMAGENET_STANDIN}"',
    'backend="auto"': 'backend="eager"',
}
#: In export commands only: the TorchScript-based ONNX exporter, several times faster
#: (tests/use/test_export.py and tests/cli/test_export.py run the default, torch.export, one).
COMMAND_SUBSTITUTIONS = {".onnx": ".onnx --exporter legacy"}
#: Commands shown but not run here, by how they start, and why.
NOT_RUN = {
    "make": "creates .venv and installs; what CI runs around this test",
    "torchrun": "needs several GPUs and ImageNet",
    "python benchmarks/": "a benchmark of minutes; tests/benchmarks/ checks it",
    "effnet bench": "times models for minutes; tests/cli/test_bench.py runs it briefly",
    "effnet pick": "benchmarks every variant; tests/cli/test_pick.py runs it briefly",
    "effnet study": "trains five networks; tests/cli/test_study.py runs it with one step each",
    "effnet search-scaling --config configs/search_digits.py --jobs": (
        "trains six networks; tests/cli/test_search_scaling.py runs it with one step each"
    ),
    "effnet finetune ~/data/cifar10": "downloads CIFAR-10 (170 MB)",
    "effnet serve --weights b0.safetensors --ray": (
        "starts a Ray instance; tests/serve/test_ray_serve.py runs it"
    ),
}
#: Commands that run until stopped: started in the background on a free port (the page's
#: 127.0.0.1:8000 becomes it), stopped with SIGTERM when the page is done, and must exit 0.
SERVICES = ("effnet serve",)


def short_run(cfg):
    """One optimizer step on at most 16 images at <= 32 px, on the CPU (a detector's data, a
    page's own small COCO folder, is used whole: it has no image limit)."""
    limit = {} if isinstance(cfg, DetectionConfig) else {"limit_train_images": 16}
    return cfg.replace(
        max_steps=1,
        batch_size=min(cfg.batch_size, 8),
        image_size=min(cfg.image_size or 32, 32),
        num_workers=0,
        device="cpu",
        log_every=1,
        **limit,
    )


def blocks(page: Path) -> list[tuple[str, str]]:
    return [(kind, body) for kind, body in BLOCK.findall(page.read_text())]


def commands(body: str) -> list[str]:
    """The command lines of a bash block: continuations joined, comments and blanks dropped, each
    as its words joined by single spaces (quotes removed, as the shell would)."""
    joined = re.sub(r"\\\n\s*", " ", body)
    lines = [shlex.split(line, comments=True) for line in joined.splitlines()]
    return [" ".join(words) for words in lines if words]


def not_run_reason(command: str) -> str | None:
    plain = command.removeprefix(".venv/bin/")
    return next((why for start, why in NOT_RUN.items() if plain.startswith(start)), None)


def substitute(text: str, command: bool = False, extra: dict | None = None) -> str:
    export = command and text.removeprefix(".venv/bin/").startswith("effnet export")
    changes = {**SUBSTITUTIONS, **COMMAND_SUBSTITUTIONS} if export else dict(SUBSTITUTIONS)
    changes.update(extra or {})
    for old, new in changes.items():
        text = text.replace(old, new)
    return text


# ------------------------------------------------------------------------------------------------
# What the examples name
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def materials(tmp_path_factory):
    """Built once: the image folder, photos, the stand-in checkpoints and the peer files."""
    root = tmp_path_factory.mktemp("doc_materials")
    digits = load_digits()
    pixels = np.clip(digits.images * (255 / 16), 0, 255).round().astype(np.uint8)
    for i in range(250):
        split = "train" if i < 200 else "test"
        folder = root / "data" / "pets" / split / str(digits.target[i])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels[i]).save(folder / f"{i:04d}.png")
    cat = Image.fromarray(skdata.chelsea())
    cat.save(root / "cat.jpg")
    for folder, photo in (("photos", skdata.coffee()), ("more", skdata.astronaut())):
        (root / folder).mkdir()
        Image.fromarray(photo).resize((160, 120)).save(root / folder / f"{folder}.jpg")
    cat.resize((150, 100)).save(root / "photos" / "cat_small.jpg")
    for name, photo in (("tabby", skdata.chelsea()), ("espresso", skdata.coffee())):
        (root / "data" / "imagenet" / "val" / name).mkdir(parents=True)
        Image.fromarray(photo).save(root / "data" / "imagenet" / "val" / name / f"{name}.jpg")
    torch.manual_seed(0)
    imagenet = effnet.create_model("efficientnet_b0")
    save_model(root / IMAGENET_STANDIN, imagenet, IMAGENET1K_CLASSES, Preprocess(64, 0.875))
    shutil.copy(root / IMAGENET_STANDIN, root / "b0.safetensors")
    _peer_files(root)
    return root


def _peer_files(root: Path) -> None:
    """A timm tf_efficientnet_b3 state dict and a Keras EfficientNetB0 weights file (random)."""
    import timm

    peer = timm.create_model("tf_efficientnet_b3", pretrained=False)
    torch.save(peer.state_dict(), root / "tf_efficientnet_b3.pth")
    script = (
        "import keras; keras.applications.EfficientNetB0(weights=None)"
        f".save_weights({str(root / 'efficientnetb0.weights.h5')!r})"
    )
    env = {**os.environ, "KERAS_BACKEND": "torch", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=600)


@pytest.fixture
def sandbox(materials, tmp_path, monkeypatch):
    """A fresh working folder with the materials, the configs, and short training runs."""
    for item in materials.iterdir():
        target = tmp_path / item.name
        if item.is_dir():
            shutil.copytree(item, target)
        else:
            shutil.copy(item, target)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    monkeypatch.chdir(tmp_path)
    original = effnet.train.loop.run
    monkeypatch.setattr(
        effnet.train.loop, "run", lambda cfg, *a, **k: original(short_run(cfg), *a, **k)
    )
    monkeypatch.setattr(effnet.data.datasets, "DigitsImages", FewDigits)
    return tmp_path


class FewDigits(effnet.data.digits.DigitsImages):
    """The embedded digits, 24 images per split: what the demo trains on, in miniature."""

    def __init__(self, split: str) -> None:
        super().__init__(split)
        self.pixels, self.targets = self.pixels[:24], self.targets[:24]


# ------------------------------------------------------------------------------------------------
# The pages
# ------------------------------------------------------------------------------------------------
#: The pages with examples (docs/paper.md is a reference page: tables, no code).
GUIDES = [page for page in PAGES if page.name != "paper.md"]


@pytest.mark.parametrize("page", GUIDES, ids=[p.name for p in GUIDES])
def test_every_code_block_of_the_page_runs(page, sandbox):
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    ran, services = 0, []
    try:
        for index, (kind, body) in enumerate(blocks(page)):
            ran += run_block(f"{page.name} block {index + 1}", kind, body, namespace, services)
    finally:
        for service in services:
            assert service.stop() == 0, service.output()
    assert ran >= 3, f"{page.name}: only {ran} examples ran"


def run_block(where: str, kind: str, body: str, namespace: dict, services: list) -> int:
    """Run one block (see the module docstring); how many examples ran."""
    port = {"127.0.0.1:8000": f"127.0.0.1:{services[0].port}"} if services else {}
    if kind == "python":
        exec(compile(substitute(body, extra=port), where, "exec"), namespace)
        return 1
    ran = 0
    for command in commands(body):
        if not_run_reason(command):
            continue
        if command.removeprefix(".venv/bin/").startswith(SERVICES):
            services.append(start_service(command))
            ran += 1
            continue
        words = substitute(command, command=True).split(" ")
        assert words[0] in ("effnet", ".venv/bin/effnet"), f"{where}: unknown {command!r}"
        code = main(words[1:])
        assert code == 0, f"{where}: `{command}` exited {code}"
        ran += 1
    return ran


def start_service(command: str):
    """``effnet serve ...`` in the background, healthy; on the eager engine unless the page names
    one (timing every engine is tests/deploy's job)."""
    from tests.serve.service import start

    args = substitute(command, command=True).split(" ")[2:]
    from effnet.deploy.metadata import format_for_path

    checkpoint = format_for_path(args[args.index("--weights") + 1]) is None
    if "--backend" not in args and checkpoint:  # an exported file runs on its own engine
        args += ["--backend", "eager"]
    return start(*args)[0]


def test_every_page_is_linked_from_the_readme_and_every_command_is_run_or_explained():
    readme = (ROOT / "README.md").read_text()
    for page in PAGES[1:]:
        assert f"(docs/{page.name})" in readme, f"README does not link docs/{page.name}"
    assert set(PAGES) - set(GUIDES) == {ROOT / "docs" / "paper.md"}
    assert not blocks(ROOT / "docs" / "paper.md")  # nothing there escapes the harness
    shown = {c for p in PAGES for kind, body in blocks(p) if kind == "bash" for c in commands(body)}
    for command in shown:
        plain = command.removeprefix(".venv/bin/")
        assert plain.startswith("effnet ") or not_run_reason(command), command
    plain = {c.removeprefix(".venv/bin/") for c in shown}
    stale = [start for start in NOT_RUN if not any(c.startswith(start) for c in plain)]
    assert not stale, f"NOT_RUN lists commands no page shows: {stale}"


def test_code_and_docs_cite_the_papers_figures_in_the_repository():
    """The paper's notes outside the repository are no reference for a reader of it; docs/paper.md
    is, with every section the code, tests, configs and benchmarks cite."""
    paper = (ROOT / "docs" / "paper.md").read_text()
    sections = set(re.findall(r"^## Section (\d+)", paper, re.M))
    outside = "PAPER" + ".md"  # spelled apart, so this file does not cite it either
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    for folder in ("src", "tests", "configs", "benchmarks"):
        files += (ROOT / folder).rglob("*.py")
    for path in sorted(files):
        text = path.read_text()
        name = path.relative_to(ROOT)
        assert outside not in text, name
        for cited in re.findall(r"docs/paper\.md\s+section\s+(\d+)", text):
            assert cited in sections, f"{name} cites section {cited}"
    assert {"1", "2", "7", "8", "9"} <= sections


def test_the_readme_quotes_the_measured_demo():
    readme = (ROOT / "README.md").read_text()
    assert "98.06% test top-1" in readme and "98.3%" not in readme and "2.5 minutes" not in readme
