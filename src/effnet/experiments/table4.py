"""The paper's Table 4 latency protocol, repeated on this machine.

Table 4 (docs/paper.md section 6) times batch-1 inference on one CPU core, mean of 20 runs:
ResNet-152 0.554 s vs EfficientNet-B1 0.098 s (5.7x). :func:`table4` repeats that protocol with
torchvision's ResNets measured in the same process so the ratio compares like with like; the
machine differs from the paper's Xeon, the ratio is what carries over. The paper's own figures
come from :mod:`effnet.paper`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import paper
from ..registry import get_spec
from ..speed.bench import BenchResult, bench
from ..speed.build import TORCHVISION_PREFIX

TABLE4_MODELS = (
    *(f"efficientnet_b{i}" for i in range(8)),
    f"{TORCHVISION_PREFIX}resnet50",
    f"{TORCHVISION_PREFIX}resnet152",
)
#: Paper Table 4 (:mod:`effnet.paper`): seconds per image, one Xeon E5-2690 core, batch 1.
PAPER_LATENCY_S = {
    (TORCHVISION_PREFIX + name if name.startswith("resnet") else name): seconds
    for name, seconds in paper.TABLE4_LATENCY_S.items()
}
PAPER_RATIO = paper.TABLE4_RATIO
PAPER_GPIPE_NOTE = (
    "GPipe / B7 (paper: {:.1f} s vs {:.1f} s, {:.1f}x) is not reproducible here: GPipe is a "
    "557M-parameter AmoebaNet trained with pipeline parallelism; no PyTorch implementation of "
    "that exact network or its weights is published, so there is nothing to time against B7."
).format(*paper.TABLE4_GPIPE)


def table4_name(name: str) -> str:
    """Accept ``b1``, ``efficientnet_b1``, ``resnet152``; the ResNets mean torchvision's."""
    short = name.lower()
    if short in ("resnet50", "resnet152"):
        return TORCHVISION_PREFIX + short
    if len(short) == 2 and short[0] == "b" and short[1].isdigit():
        return f"efficientnet_{short}"
    return name


def display_name(name: str) -> str:
    """The name as the paper's table writes it: "EfficientNet-B1", "ResNet-152 (torchvision)"."""
    if name.startswith(TORCHVISION_PREFIX):
        depth = name[len(TORCHVISION_PREFIX) + len("resnet") :]
        return f"ResNet-{depth} (torchvision)"
    if name.startswith("efficientnet_"):
        return "EfficientNet-" + name.split("_", 1)[1].upper()
    return name


@dataclass
class Table4:
    """The measured rows, and the ResNet-152 / B1 ratio set beside the paper's."""

    results: list[BenchResult]

    def latency(self, name: str) -> float | None:
        """Mean seconds per image of ``name``, or None when it was not measured."""
        found = [r.mean_s for r in self.results if r.model == name]
        return found[0] if found else None

    @property
    def ratio(self) -> float | None:
        """ResNet-152 latency / EfficientNet-B1 latency (the paper's 5.7x)."""
        r152 = self.latency(f"{TORCHVISION_PREFIX}resnet152")
        b1 = self.latency("efficientnet_b1")
        return r152 / b1 if r152 and b1 else None

    def ratio_line(self) -> str:
        """The measured ratio next to the paper's, or why there is none."""
        if self.ratio is None:
            return (
                f"ResNet-152 / EfficientNet-B1 latency: n/a (measure both efficientnet_b1 and "
                f"resnet152 to compare with the paper's {PAPER_RATIO}x)"
            )
        return (
            f"ResNet-152 / EfficientNet-B1 latency: {self.ratio:.2f}x here "
            f"(paper Table 4: {PAPER_RATIO}x, {paper.TABLE4_LATENCY_S['resnet152']} s vs "
            f"{paper.TABLE4_LATENCY_S['efficientnet_b1']} s on one Xeon E5-2690 core)"
        )

    def format(self) -> str:
        """The table ``effnet bench --table4`` prints."""
        r0 = self.results[0]
        # "auto" resolves per model, so name every backend that ended up timed.
        backends = ", ".join(dict.fromkeys(r.backend for r in self.results))
        head = f"{'model':<28}{'params':>12}{'res':>5}{'mean s':>10}{'std s':>9}{'paper s':>9}"
        lines = [
            f"Table 4 protocol: batch 1, {r0.threads} thread(s), {len(r0.times_s)} runs after "
            f"warm-up, backend {backends}",
            head,
            "-" * len(head),
        ]
        for r in self.results:
            paper_s = PAPER_LATENCY_S.get(r.model)
            lines.append(
                f"{display_name(r.model):<28}{r.params:>12,}{r.resolution:>5}{r.mean_s:>10.4f}"
                f"{r.std_s:>9.4f}{(f'{paper_s:.3f}' if paper_s else '-'):>9}"
            )
        lines.append(self.ratio_line())
        lines.append(PAPER_GPIPE_NOTE)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """What ``effnet bench --table4 --json`` writes."""
        return {
            "protocol": "table4",
            "results": [r.to_dict() for r in self.results],
            "ratio_resnet152_over_b1": self.ratio,
            "paper_ratio": PAPER_RATIO,
            "gpipe_note": PAPER_GPIPE_NOTE,
        }


def _progress(items: Sequence[str], desc: str) -> Iterable[str]:
    from ..progress import bar

    return bar(items, desc=desc, unit="model", file=sys.stderr, leave=False)


def table4(
    models: Sequence[str] | None = None,
    runs: int = 20,
    warmup: int = 2,
    resolution: int | None = None,
    backend: str = "plain",
    threads: int = 1,
    memory: bool = False,
) -> Table4:
    """The paper's latency protocol: batch 1, one thread, mean and std of ``runs`` runs."""
    names = [table4_name(m) for m in (models or TABLE4_MODELS)]
    for name in names:
        if not name.startswith(TORCHVISION_PREFIX):
            get_spec(name)  # unknown names fail before any timing starts
    results = [
        bench(name, backend, 1, threads, resolution, runs, warmup, memory)
        for name in _progress(names, "table 4")
    ]
    return Table4(results)
