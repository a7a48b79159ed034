"""effdet checkpoints in: numerically equal outputs, table-driven names, readable errors."""

import pytest
import torch

from effnet.detection.convert import EFFDET_RULES, convert_effdet, infer_det_spec
from effnet.detection.spec import get_det_spec
from effnet.weights.checkpoint import CheckpointMismatchError

from .effdet_ref import effdet_model


@pytest.mark.parametrize(
    "name, size, sum_fusion",
    # D0 and D1 (fast fusion, B0 and B1 at odd pyramid sizes), and D0's network with D6/D7's
    # unweighted fusion (D6 itself is the same code at 52M parameters: too slow for every run)
    [("d0", 128, False), ("d1", 96, False), ("d0", 80, True)],
)
def test_random_weights_give_effdets_outputs(name, size, sum_fusion):
    ref = effdet_model(name, size, fpn_name="bifpn_sum" if sum_fusion else None)
    spec = get_det_spec(name).replace(fusion="sum" if sum_fusion else "fast")
    net = convert_effdet(ref.state_dict(), spec).eval()
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref_class, ref_box = ref(x)
        class_maps, box_maps = net(x)
    for got, want in zip(class_maps + box_maps, ref_class + ref_box, strict=True):
        assert got.shape == want.shape
        assert want.std() > 0.01  # the comparison is not between constants
        assert (got - want).abs().max() <= 1e-4


def test_model_is_told_from_the_shapes_and_files_load(tmp_path):
    state = effdet_model("d0", 64).state_dict()
    assert infer_det_spec(state).name == "efficientdet_d0"
    path = tmp_path / "tf_efficientdet_d0.pth"
    torch.save({"model": {f"model.{k}": v for k, v in state.items()}}, path)  # a bench file
    net = convert_effdet(path, class_names=[f"c{i}" for i in range(90)])
    assert net.num_classes == 90 and net.labels()[2] == "c2"
    assert net.weights_source == str(path)


def test_d6_and_d7_need_a_name():
    shapes = {  # what infer_det_spec reads: the BiFPN's width and number of cells
        "fpn.cell.0.fnode.0.after_combine.conv.conv_pw.weight": torch.empty(384, 384, 1, 1),
        "fpn.cell.7.fnode.0.combine.edge_weights": torch.empty(2),
    }
    with pytest.raises(ValueError, match="efficientdet_d6, efficientdet_d7"):
        infer_det_spec(shapes)


def test_every_effdet_tensor_is_claimed_and_a_wrong_model_is_named():
    import re

    state = effdet_model("d0", 64).state_dict()
    heads = [k for k in state if not k.startswith("backbone.")]
    rules = [re.compile(p) for p, _ in EFFDET_RULES]
    assert all(any(r.fullmatch(k) for r in rules) for k in heads)
    with pytest.raises(
        CheckpointMismatchError, match=r"effdet 'fpn\.resample\.3\.conv\.conv\.weight'"
    ):
        convert_effdet(state, "efficientdet_d1")
