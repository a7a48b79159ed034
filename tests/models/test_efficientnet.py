"""The torch model: structure, feature pyramid, heads, initialisation, padding, bad input."""

import math

import pytest
import torch
from torch import nn

import effnet
from effnet.models import EfficientNet
from effnet.nn import MBConv


@pytest.fixture(scope="module")
def b0():
    return effnet.create_model("efficientnet_b0")


def test_features_only_returns_five_maps_at_strides_2_to_32():
    for name, res in [("efficientnet_b0", 224), ("efficientnet_b3", 160), ("resnet50", 128)]:
        model = effnet.create_model(name, features_only=True).eval()
        with torch.no_grad():
            maps = model(torch.randn(1, 3, res, res))
        assert [res // m.shape[-1] for m in maps] == [2, 4, 8, 16, 32]
        assert [m.shape[1] for m in maps] == [i["channels"] for i in model.feature_info]
    assert [i["channels"] for i in effnet.create_model("efficientnet_b0").feature_info] == [
        16, 24, 40, 112, 320
    ]  # fmt: skip


def test_out_indices_give_p3_to_p5_with_timm_style_feature_info():
    """What an FPN / EfficientDet backbone asks for: levels 2-4 at strides 8, 16, 32."""
    model = effnet.create_model("efficientnet_b0", features_only=True, out_indices=(2, 3, 4))
    info = model.feature_info
    assert info.channels() == [40, 112, 320]
    assert info.reduction() == [8, 16, 32]
    assert info.module_name() == ["blocks.2", "blocks.4", "blocks.6"]
    assert (info.channels(-1), info.reduction(0), len(info)) == (320, 8, 3)
    assert [d["num_chs"] for d in info] == [40, 112, 320]
    assert info.get_dicts(keys=("module", "reduction"))[0] == {"module": "blocks.2", "reduction": 8}
    model.eval()
    with torch.no_grad():
        maps = model(torch.randn(2, 3, 256, 256))
    assert isinstance(maps, list)
    assert [tuple(m.shape) for m in maps] == [(2, 40, 32, 32), (2, 112, 16, 16), (2, 320, 8, 8)]
    # The maps are the named submodules' outputs, equal to the full pyramid's levels.
    full = effnet.create_model("efficientnet_b0", features_only=True).eval()
    full.load_state_dict(model.state_dict())
    with torch.no_grad():
        every = full(torch.ones(1, 3, 64, 64))
        chosen = model(torch.ones(1, 3, 64, 64))
    assert all(torch.equal(a, b) for a, b in zip(chosen, every[2:], strict=True))
    assert full.feature_info.module_name()[:2] == ["blocks.0", "blocks.1"]
    assert effnet.create_model("resnet50", features_only=True).feature_info.module_name(0) == "stem"


def test_out_indices_stop_early_and_reject_bad_levels():
    model = effnet.create_model("efficientnet_b0", features_only=True, out_indices=(0, -4))
    assert model.feature_info.out_indices == (0, 1)  # -4 counts from the deepest level
    calls = []
    model.blocks[2].register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        assert [m.shape[1] for m in model.eval()(torch.randn(1, 3, 64, 64))] == [16, 24]
    assert calls == []  # stages below the deepest level asked for are not run
    with pytest.raises(ValueError, match=r"5 is not a level \(0: stride 2"):
        effnet.create_model("efficientnet_b0", features_only=True, out_indices=(2, 5))
    with pytest.raises(ValueError, match="distinct"):
        effnet.create_model("efficientnet_b0", features_only=True, out_indices=(4, -1))
    with pytest.raises(ValueError, match="features_only=True"):
        effnet.create_model("efficientnet_b0", out_indices=(2, 3, 4))


def test_forward_features_and_head_compose_to_forward(b0):
    b0.eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        feats = b0.forward_features(x)
        assert feats.shape == (2, 1280, 7, 7)
        assert torch.equal(b0.forward_head(feats), b0(x))
        assert b0.forward_head(feats, pre_logits=True).shape == (2, 1280)


def test_reset_classifier():
    model = effnet.create_model("efficientnet_b0")
    model.reset_classifier(10)
    assert model.classifier.out_features == 10
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 10)
    model.reset_classifier(0)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1280)


def test_batch_norm_settings_and_silu(b0):
    bns = [m for m in b0.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.eps == 1e-3 and m.momentum == 0.01 for m in bns)
    assert any(isinstance(m, nn.SiLU) for m in b0.modules())
    se = b0.blocks[1][0].se
    assert (se.reduce.in_channels, se.reduce.out_channels) == (96, 4)  # 0.25 x input width 16


def test_stochastic_depth_grows_linearly_to_the_last_block(b0):
    # B0's 16 blocks: rate 0.2 * i / 15. Blocks without a residual (the first of a stage that
    # changes width or stride, including block 15) have nothing to drop.
    blocks = [m for stage in b0.blocks for m in stage]
    rates = {i: b.drop_path.p for i, b in enumerate(blocks) if b.drop_path is not None}
    assert set(rates) == {i for i, b in enumerate(blocks) if b.has_skip}
    assert len(rates) == 9
    for index, p in rates.items():
        assert p == pytest.approx(0.2 * index / 15)
    assert max(rates.values()) == pytest.approx(0.2 * 14 / 15)


def test_dropout_and_drop_path_overrides():
    model = effnet.create_model("efficientnet_b0", dropout=0.5, drop_path_rate=0.0)
    assert model.dropout.p == 0.5
    assert all(
        b.drop_path is None for stage in model.blocks for b in stage if isinstance(b, MBConv)
    )


def test_paper_initialisation(b0):
    conv = b0.blocks[5][1].expand.conv  # 1x1, 192 -> 1152
    fan_out = conv.out_channels
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / fan_out), rel=0.05)
    dw = b0.blocks[5][1].depthwise.conv  # depthwise: fan_out = k*k
    assert dw.weight.std().item() == pytest.approx(math.sqrt(2 / 25), rel=0.05)
    bound = 1 / math.sqrt(1000)
    assert b0.classifier.weight.abs().max().item() <= bound
    assert b0.classifier.weight.abs().max().item() > 0.9 * bound


def test_wrong_input_channels_raise_a_clear_error(b0):
    with pytest.raises(ValueError, match=r"expects images shaped \(batch, 3, height, width\)"):
        b0(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match="got \\(3, 64, 64\\)"):
        b0(torch.randn(3, 64, 64))
    gray = effnet.create_model("efficientnet_b0", in_chans=1).eval()
    with torch.no_grad():
        assert gray(torch.randn(1, 1, 64, 64)).shape == (1, 1000)


def test_train_mode_backward_runs():
    model = EfficientNet(effnet.get_spec("efficientnet_b0"), num_classes=10)
    loss = model(torch.randn(2, 3, 64, 64)).logsumexp(1).mean()
    loss.backward()
    assert model.stem.conv.weight.grad is not None


def test_spec_file_round_trip(tmp_path):
    spec = effnet.scale(effnet.EFFICIENTNET_B0, phi=1)
    path = tmp_path / "b0_phi1.json"
    path.write_text(spec.to_json())
    model = effnet.create_model(str(path), num_classes=3)
    assert model.spec == spec
    with pytest.raises(FileNotFoundError, match="does not exist"):
        effnet.create_model(str(tmp_path / "missing.json"))


def test_labels_name_every_output_and_forget_old_names_with_the_head():
    model = EfficientNet(effnet.get_spec("efficientnet_b0"), num_classes=3)
    assert model.labels() == ["0", "1", "2"]  # weights that name nothing
    model.class_names = ["cat", "dog", "fox"]
    assert model.labels() == ["cat", "dog", "fox"]
    model.reset_classifier(4)
    assert model.labels() == ["0", "1", "2", "3"]


def test_input_of_another_dtype_is_one_valueerror_saying_what_to_do():
    model = effnet.create_model("efficientnet_b0", num_classes=3).eval()
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(ValueError, match=r"float32 weights but got torch.float16 images: call "):
        model(x.half())
    with pytest.raises(ValueError, match=r"got torch.uint8 images: convert the images to float"):
        model((x * 255).to(torch.uint8))
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16):  # mixing on purpose is fine
        assert model(x.bfloat16()).shape == (1, 3)
    assert model.half()(x.half()).dtype == torch.float16
