"""Checkpoints of torchvision, timm (own and tf_ ports) and efficientnet-pytorch load exactly.

Each peer model gets random weights with BN statistics and affine parameters pushed away from 0/1
(so a wrong epsilon or a swapped BN tensor changes the output), is saved in the peer's own file
format, converted, and must give the same eval-mode logits on real photos within 1e-4 (fp32).
Inputs are 72 px: small enough to be cheap, and 72 -> 36 -> 18 -> 9 -> 5 puts both even and odd
sizes in front of strided convs, where TensorFlow "SAME" padding is asymmetric.
"""

import math

import numpy as np
import pytest
import timm
import torch
import torchvision.models as tvm
from efficientnet_pytorch import EfficientNet as LukeMelas
from PIL import Image
from safetensors.torch import save_file
from skimage import data

import effnet
from effnet.data import Preprocess, eval_transform
from effnet.weights import (
    CheckpointMismatchError,
    convert_checkpoint,
    infer_model,
    load_model,
    save_model,
)
from effnet.weights.convert import shapes_only
from effnet.weights.peers import PEERS

SIZE = 72
TOLERANCE = 1e-4
DEFAULT = ["b0", "b1", "b3"]
LARGE = [pytest.param(v, marks=pytest.mark.slow) for v in ("b4", "b5", "b6", "b7")]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """72 px batches are too small to share between threads; on a busy machine the second
    thread's barrier waits cost 10-50x, so these tests run single-threaded."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def photo_batch(
    size: int = SIZE, photos: tuple[str, ...] = ("astronaut", "coffee")
) -> torch.Tensor:
    """Real photos as [0, 1] RGB tensors (N, 3, size, size)."""
    to_unit = eval_transform(Preprocess(size, 0.875, "bicubic", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)))
    return torch.stack([to_unit(Image.fromarray(getattr(data, name)())) for name in photos])


#: Range of the random BN scales. Below 1 on average, so a perturbation shrinks from block to
#: block: a random network with scales around 1 is chaotic, and 55 blocks amplify the 1e-7
#: rounding differences of two correct implementations (Keras's NHWC kernels) past 1e-4.
BN_SCALE = (0.2, 0.6)
#: Photos that set BN statistics (the comparisons run on the first two).
CALIBRATION = ("astronaut", "coffee", "chelsea", "rocket")


def normalise(images: torch.Tensor, pre: Preprocess) -> torch.Tensor:
    mean = torch.tensor(pre.mean).view(1, -1, 1, 1)
    std = torch.tensor(pre.std).view(1, -1, 1, 1)
    return (images - mean) / std


def randomize_bn(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random BN scale/shift, and BN running statistics measured on real photos.

    Both are far from the 0/1 of a fresh model (see ``assert_bn_matters``), so a wrong epsilon or
    a swapped BN tensor shows. Measured statistics also keep the deep random network well
    conditioned: with random statistics activations grow block after block (B6/B7 logits reach
    1e4) until the fp32 rounding differences of two correct implementations (Keras's NHWC
    kernels) exceed any tolerance.
    """
    gen = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    with torch.no_grad():
        for module in norms:
            module.weight.uniform_(*BN_SCALE, generator=gen)
            module.bias.copy_(torch.randn(module.num_features, generator=gen) * 0.2)
            module.momentum = 1.0  # running statistics := this batch's statistics
        model.eval()  # dropout and stochastic depth off; only BN measures the batch
        for module in norms:
            module.train()
        model(normalise(photo_batch(photos=CALIBRATION), Preprocess(SIZE)))
        for module, momentum in zip(norms, momenta, strict=True):
            module.momentum = momentum
    assert_bn_matters([(m.running_mean, m.running_var) for m in norms])
    return model.eval()


def assert_bn_matters(stats) -> None:
    """Running statistics far enough from mean 0 / variance 1 that ignoring them would show."""
    means = torch.cat([torch.as_tensor(mean).flatten() for mean, _ in stats])
    variances = torch.cat([torch.as_tensor(var).flatten() for _, var in stats])
    assert means.abs().mean() > 0.05 and (variances - 1).abs().mean() > 0.1


def logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


def build_peer(peer: str, variant: str) -> torch.nn.Module:
    if peer == "torchvision":
        return tvm.get_model(f"efficientnet_{variant}")
    if peer == "timm":
        return timm.create_model(f"efficientnet_{variant}")
    if peer == "timm-tf":
        return timm.create_model(f"tf_efficientnet_{variant}")
    # efficientnet-pytorch pads statically for the image size it is built for
    return LukeMelas.from_name(f"efficientnet-{variant}", image_size=SIZE)


def save_peer(peer: str, model: torch.nn.Module, directory) -> str:
    """Each peer's own file format: timm's hub files are safetensors, the rest torch pickles."""
    state = model.state_dict()
    if peer == "timm":
        path = directory / "model.safetensors"
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        path = directory / f"{peer}.pth"
        torch.save(state, path)
    return str(path)


@pytest.mark.parametrize("peer", ["torchvision", "timm", "timm-tf", "lukemelas"])
@pytest.mark.parametrize("variant", DEFAULT + LARGE)
def test_peer_checkpoint_gives_the_peers_logits(peer, variant, tmp_path):
    reference = randomize_bn(build_peer(peer, variant))
    path = save_peer(peer, reference, tmp_path)
    model = convert_checkpoint(path, peer, f"efficientnet_{variant}")

    info = PEERS[peer]
    assert model.padding == info.padding
    assert model.spec.bn_eps == info.eps_for(f"efficientnet_{variant}")
    x = normalise(photo_batch(), model.preprocess)
    expected = logits(reference, x)
    assert (expected[0] - expected[1]).abs().max() > 0.1  # logits depend on the photo
    diff = (logits(model, x) - expected).abs().max().item()
    print(f"max abs diff {peer} {variant}: {diff:.3g}")
    assert diff <= TOLERANCE

    # The effnet file records padding and epsilon, so reloading reproduces the peer again.
    saved = save_model(tmp_path / "effnet.safetensors", model)
    reloaded, meta = load_model(saved)
    assert (reloaded.padding, reloaded.spec.bn_eps) == (info.padding, model.spec.bn_eps)
    assert meta["preprocess"] == model.preprocess and len(meta["class_names"]) == 1000
    assert torch.equal(logits(reloaded, x), logits(model, x))


def test_peer_numerics_are_what_each_library_builds():
    # torchvision ported B5-B7 from efficientnet-pytorch: BN eps 1e-3, yet ordinary padding.
    builds = {
        ("torchvision", "b4"): lambda: tvm.efficientnet_b4(),
        ("torchvision", "b5"): lambda: tvm.efficientnet_b5(),
        ("timm", "b0"): lambda: timm.create_model("efficientnet_b0"),
        ("timm-tf", "b0"): lambda: timm.create_model("tf_efficientnet_b0"),
    }
    for (peer, variant), build in builds.items():
        with torch.device("meta"):
            net = build()
        eps = {m.eps for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)}
        stem = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
        padding = "symmetric" if stem.padding == (1, 1) else "same"
        assert eps == {PEERS[peer].eps_for(f"efficientnet_{variant}")}, (peer, variant)
        assert padding == PEERS[peer].padding, (peer, variant)


def test_wrong_padding_and_epsilon_are_what_the_peer_settings_prevent(tmp_path):
    reference = randomize_bn(timm.create_model("tf_efficientnet_b0"))
    path = tmp_path / "tf_efficientnet_b0_aa-827b6e33.pth"
    torch.save(reference.state_dict(), path)
    x = normalise(photo_batch(), Preprocess(SIZE))
    expected = logits(reference, x)
    with pytest.warns(UserWarning, match="timm-tf"):
        as_pytorch_trained = convert_checkpoint(path, "timm", "efficientnet_b0")
    assert (logits(as_pytorch_trained, x) - expected).abs().max() > 10 * TOLERANCE
    right = convert_checkpoint(path, "timm-tf", "efficientnet_b0")
    assert (logits(right, x) - expected).abs().max() <= TOLERANCE


def test_shape_mismatch_names_the_first_tensor_and_both_shapes(tmp_path):
    b3 = timm.create_model("efficientnet_b3")
    path = tmp_path / "b3.safetensors"
    save_file(b3.state_dict(), str(path))
    expected = (
        r"'stem\.conv\.weight' \(timm 'conv_stem\.weight'\) has shape \(40, 3, 3, 3\) "
        r"but the model expects \(32, 3, 3, 3\)"
    )
    with pytest.raises(CheckpointMismatchError, match=expected):
        convert_checkpoint(path, "timm", "efficientnet_b0")

    ten_classes = tvm.efficientnet_b0(num_classes=10).state_dict()
    with pytest.raises(CheckpointMismatchError, match=r"\(10, 1280\) but the model expects"):
        convert_checkpoint(ten_classes, "torchvision", "efficientnet_b0", num_classes=1000)
    assert convert_checkpoint(ten_classes, "torchvision", "efficientnet_b0").num_classes == 10

    ten_classes.pop("features.1.0.block.1.fc1.bias")
    with pytest.raises(
        CheckpointMismatchError,
        match=r"missing 'blocks\.0\.0\.se\.reduce\.bias' \(torchvision "
        r"'features\.1\.0\.block\.1\.fc1\.bias'\)",
    ):
        convert_checkpoint(ten_classes, "torchvision", "efficientnet_b0")


def test_variant_is_told_from_the_checkpoint():
    for variant in ("b1", "b2"):  # same stem and block count; the head width tells them apart
        with shapes_only():  # only names and shapes matter
            state = timm.create_model(f"tf_efficientnet_{variant}").state_dict()
        assert infer_model(state, "timm-tf") == f"efficientnet_{variant}"
    with pytest.raises(ValueError, match="matches none of"):
        infer_model(tvm.mobilenet_v2().state_dict(), "torchvision")


def test_training_checkpoints_are_unwrapped_and_pickles_stay_inert(tmp_path):
    reference = randomize_bn(build_peer("torchvision", "b0"))
    wrapped = {
        "epoch": 3,
        "state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()},
    }
    torch.save(wrapped, tmp_path / "train.pth")
    model = convert_checkpoint(tmp_path / "train.pth", "torchvision")
    x = normalise(photo_batch(), model.preprocess)
    assert (logits(model, x) - logits(reference, x)).abs().max() <= TOLERANCE

    marker = tmp_path / "code-ran"
    torch.save({"weights": _Payload(str(marker))}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="weights_only=True"):
        convert_checkpoint(tmp_path / "evil.pth", "torchvision")
    assert not marker.exists()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        convert_checkpoint(tmp_path / "missing.pth", "timm")
    with pytest.raises(ValueError, match="unknown checkpoint source 'caffe'"):
        convert_checkpoint(tmp_path / "train.pth", "caffe")


class _Payload:
    """Unpickling this would run code (touch a file); weights_only loading must refuse it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def test_converted_model_carries_the_published_preprocessing():
    b3 = convert_checkpoint(tvm.efficientnet_b3().state_dict(), "torchvision", "efficientnet_b3")
    # torchvision's own B3 transform: resize 320, crop 300, bicubic
    pre = b3.preprocess
    assert (pre.resolution, pre.resize_size, pre.interpolation) == (300, 320, "bicubic")
    assert math.isclose(pre.crop_pct, 300 / 320)
    assert np.allclose(pre.mean, (0.485, 0.456, 0.406))


@pytest.mark.parametrize("peer", ["torchvision", "timm", "lukemelas"])
def test_create_model_loads_a_file_converted_from_each_peer(peer, tmp_path):
    """The file's batch-norm epsilon (torchvision's 1e-5, not the spec's 1e-3) belongs to its
    weights: create_model(name, pretrained=file) builds the named model with it, and gives the
    converted model's logits."""
    reference = randomize_bn(build_peer(peer, "b0"))
    converted = convert_checkpoint(save_peer(peer, reference, tmp_path), peer, "efficientnet_b0")
    saved = save_model(tmp_path / "m.safetensors", converted)
    model = effnet.create_model("efficientnet_b0", pretrained=saved)
    assert model.spec.bn_eps == PEERS[peer].eps_for("efficientnet_b0")
    x = normalise(photo_batch(), converted.preprocess)
    assert torch.equal(logits(model, x), logits(converted, x))


def test_a_file_of_other_layers_names_the_fields_that_differ(tmp_path):
    saved = save_model(tmp_path / "b0.safetensors", effnet.create_model("efficientnet_b0"))
    with pytest.raises(ValueError, match=r"not efficientnet_b1: its .*stages\[1\]\.repeats"):
        effnet.create_model("efficientnet_b1", pretrained=saved)
