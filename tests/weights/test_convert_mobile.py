"""EfficientNet-Lite and EdgeTPU checkpoints of timm (own and tf_ ports) and of
efficientnet-lite-pytorch load exactly, and export back.

The same recipe as ``test_convert.py``: random peer weights with BN pushed away from identity,
saved in the peer's own format, converted, compared on real photos at 72 px (odd and even sizes
in front of strided convs, where TensorFlow "SAME" padding is asymmetric).
"""

import pytest
import timm
import torch
from efficientnet_lite_pytorch import EfficientNet as LitePyTorch

from effnet import flops
from effnet.registry import get_spec
from effnet.weights import convert_checkpoint, infer_model
from effnet.weights.convert import shapes_only
from effnet.weights.export import export_state_dict
from effnet.weights.peers import PEERS
from tests.weights.test_convert import (
    SIZE,
    TOLERANCE,
    logits,
    normalise,
    photo_batch,
    randomize_bn,
    save_peer,
)

#: timm's tf_efficientnet_lite0-4 and tf_efficientnet_es/em/el: the issue's exact counts.
PARAMS = {
    "efficientnet_lite0": 4_652_008,
    "efficientnet_lite1": 5_416_680,
    "efficientnet_lite2": 6_092_072,
    "efficientnet_lite3": 8_197_096,
    "efficientnet_lite4": 13_006_568,
    "efficientnet_es": 5_438_392,
    "efficientnet_em": 6_899_496,
    "efficientnet_el": 10_589_712,
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", list(PARAMS))
def test_parameter_counts_are_exact(name):
    from effnet.models import EfficientNet

    spec = get_spec(name)
    with shapes_only():
        model = EfficientNet(spec)
    assert sum(p.numel() for p in model.parameters()) == PARAMS[name]
    assert flops.count(spec).params == PARAMS[name]


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_em"])
def test_spec_formulas_count_the_multiply_adds_torch_counts(name):
    from effnet.models import EfficientNet
    from effnet.profile import measure_macs

    spec = get_spec(name)
    model = EfficientNet(spec).eval()
    assert flops.count(spec, resolution=96).macs == measure_macs(model, 96)


def test_lite_keeps_stem_head_and_outer_stages_fixed_while_edgetpu_scales_them():
    lite0, lite4 = get_spec("efficientnet_lite0"), get_spec("efficientnet_lite4")
    assert (lite4.stem.channels, lite4.head_channels) == (32, 1280)
    assert (lite4.stages[0].repeats, lite4.stages[-1].repeats) == (1, 1)
    assert lite4.stages[1].repeats == 4 > lite0.stages[1].repeats  # ceil(1.8 * 2)
    assert lite4.activation == "relu6" and all(s.se_ratio == 0 for s in lite4.stages)
    el = get_spec("efficientnet_el")
    assert (el.stem.channels, el.head_channels) == (40, 1536)
    assert [s.kind for s in el.stages] == ["fused"] * 3 + ["mbconv"] * 3
    assert el.stages[0].expand_from == 32  # EdgeTPU's 24 channels, widened by 1.2


def _timm_peer(peer: str, name: str) -> torch.nn.Module:
    return timm.create_model(PEERS[peer].peer_model_name(name))


CASES = [
    ("timm", "efficientnet_lite0"),
    ("timm-tf", "efficientnet_lite0"),
    ("timm-tf", "efficientnet_lite2"),
    ("timm", "efficientnet_es"),
    ("timm-tf", "efficientnet_es"),
    ("timm-tf", "efficientnet_em"),
    ("timm-tf", "efficientnet_el"),
    *(pytest.param("timm-tf", n, marks=pytest.mark.slow) for n in ("efficientnet_lite4",)),
]


@pytest.mark.parametrize(("peer", "name"), CASES)
def test_timm_checkpoint_gives_timms_logits_and_exports_back(peer, name, tmp_path):
    reference = randomize_bn(_timm_peer(peer, name))
    path = save_peer(peer, reference, tmp_path)
    assert infer_model(torch.load(path) if path.endswith(".pth") else _st(path), peer) == name
    model = convert_checkpoint(path, peer, name)
    assert (model.padding, model.spec.bn_eps) == (PEERS[peer].padding, PEERS[peer].bn_eps)
    x = normalise(photo_batch(), model.preprocess)
    expected = logits(reference, x)
    assert (expected[0] - expected[1]).abs().max() > 0.1
    assert (logits(model, x) - expected).abs().max().item() <= TOLERANCE

    back = _timm_peer(peer, name)
    back.load_state_dict(export_state_dict(model, peer))
    assert torch.equal(logits(back, x), expected)


def _st(path):
    from safetensors.torch import load_file

    return load_file(path)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite3"])
def test_lite_pytorch_checkpoint_gives_the_reference_models_logits(name, tmp_path):
    reference = LitePyTorch.from_name(PEERS["lite-pytorch"].peer_model_name(name), image_size=SIZE)
    reference = randomize_bn(reference)
    path = tmp_path / "lite.pth"
    torch.save(reference.state_dict(), path)
    model = convert_checkpoint(path, "lite-pytorch")  # the variant is told from the shapes
    assert model.spec.name == name and model.padding == "same"
    x = normalise(photo_batch(), model.preprocess)
    assert (logits(model, x) - logits(reference, x)).abs().max().item() <= TOLERANCE


def test_b_family_peers_refuse_fused_blocks():
    from effnet.models import EfficientNet

    with shapes_only():
        model = EfficientNet(get_spec("efficientnet_es"))
    with pytest.raises(ValueError, match="fused"):
        export_state_dict(model, "lukemelas", strict=False)
