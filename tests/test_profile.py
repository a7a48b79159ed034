"""Per-stage profiles: the rows add up to ``flops.count``'s totals, and to what
``torch.utils.flop_counter`` counts on the built model, for the paper's variants and at other input
sizes and class counts. B0: 5.3M parameters, 0.39B FLOPs (docs/paper.md section 1, Table 2)."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from effnet import flops
from effnet.models import EfficientNet
from effnet.profile import measure_macs, profile
from effnet.registry import get_spec


def flop_counter_macs(model: torch.nn.Module, resolution: int) -> int:
    """torch's own count, taken here independently of ``measure_macs``."""
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, resolution, resolution))
    return counter.get_total_flops() // 2


@pytest.mark.parametrize(
    "name, num_classes, resolution",
    [
        ("efficientnet_b0", 1000, None),
        ("efficientnet_b3", 1000, None),
        ("efficientnet_b0", 10, 160),
        ("mobilenet_v2", 1000, None),
    ],
)
def test_stage_rows_sum_to_flops_count_and_to_the_flop_counter(name, num_classes, resolution):
    spec = get_spec(name)
    result = profile(name, num_classes=num_classes, resolution=resolution)
    res = resolution or spec.resolution
    total = flops.count(spec, num_classes, res)
    assert sum(r.params for r in result.rows) == result.params == total.params
    assert sum(r.macs for r in result.rows) == result.macs == total.macs
    model = EfficientNet(spec, num_classes=num_classes)
    assert result.params == sum(p.numel() for p in model.parameters())
    assert result.measured_macs == result.macs == flop_counter_macs(model, res)


def test_b0_matches_the_papers_size_and_cost():
    result = profile("efficientnet_b0", cross_check=False)
    assert result.params / 1e6 == pytest.approx(5.3, rel=0.01)
    assert 2 * result.macs / 1e9 == pytest.approx(0.78, rel=0.02)  # 0.39B multiply-adds
    assert result.measured_macs is None


def test_table_layout():
    text = profile("efficientnet_b0", cross_check=False).format()
    lines = text.splitlines()
    assert lines[0] == "efficientnet_b0 at 224x224"
    assert lines[1].split() == ["stage", "input", "channels", "layers", "params", "MACs"]
    # Stem, seven MBConv stages, head conv, classifier (Table 1's rows).
    assert [line[:2].strip() for line in lines[3:13]] == [str(i) for i in range(1, 11)]
    assert lines[13] == lines[2] == "-" * len(lines[1])
    assert lines[14].split() == ["total", "5,288,548", "385,814,752"]
    assert lines[15] == "= 5.289 M parameters, 0.386 G multiply-adds"
    assert len(lines) == 16  # no cross-check line when it was not run
    checked = profile("efficientnet_b0", resolution=64).format().splitlines()[-1]
    assert checked.startswith("torch.utils.flop_counter on the built model: ")
    assert checked.endswith("(+0.0000% vs the table)")


def test_measure_macs_leaves_the_training_mode_as_it_was():
    model = EfficientNet(get_spec("efficientnet_b0"))
    model.train()
    measure_macs(model, 64)
    assert model.training
    model.eval()
    measure_macs(model, 64)
    assert not model.training
