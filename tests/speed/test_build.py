"""What the speed tools time: effnet models and torchvision's ResNets by name, each prepared on
the backend asked for (and "plain" left exactly as built)."""

import pytest
import torch

from effnet.deploy.fuse import count_batchnorms
from effnet.deploy.inference import BACKENDS, OptimizedModel
from effnet.registry import UnknownModelError, list_models
from effnet.speed import build
from tests.photo_inputs import photos, with_statistics


def test_bench_backends_are_plain_the_fast_path_backends_and_auto():
    assert ("plain", *BACKENDS, "auto") == build.BENCH_BACKENDS


def test_effnet_models_are_built_in_eval_mode_at_their_own_resolution():
    model, resolution = build.build_model("efficientnet_b1")
    assert resolution == 240  # docs/paper.md section 1, Table 2
    assert not model.training
    assert model.spec.name == "efficientnet_b1"


def test_torchvision_baselines_are_torchvisions_resnets():
    model, resolution = build.build_model("torchvision:resnet50")
    assert resolution == 224 and not model.training
    assert type(model).__module__.startswith("torchvision.")
    # ResNet-50: 25.6M parameters (torchvision's own figure).
    assert sum(p.numel() for p in model.parameters()) == 25_557_032


@pytest.mark.parametrize(
    "name, error, message",
    [
        ("torchvision:vgg16", ValueError, "unknown baseline 'torchvision:vgg16'"),
        ("no_such_net", UnknownModelError, "unknown model 'no_such_net'"),
    ],
)
def test_unknown_names_are_refused(name, error, message):
    with pytest.raises(error, match=message):
        build.build_model(name)


def test_plain_is_the_model_itself_without_gradients():
    model, _ = build.build_model("efficientnet_b0")
    model.train()
    fn = build.prepare(model, "plain", batch_size=1, resolution=32, threads=1)
    assert fn is model and not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_a_fast_path_backend_is_optimized_and_gives_the_same_logits():
    images = photos(64)  # at 32 px the last stages are 1x1 and three photos make degenerate stats
    model = with_statistics(build.build_model("efficientnet_b0")[0], images)
    fn = build.prepare(model, "eager", batch_size=3, resolution=64, threads=1)
    assert isinstance(fn, OptimizedModel) and fn.backend == "eager"
    assert count_batchnorms(fn.module) == 0
    with torch.no_grad():
        expected = model(images)
        assert expected.abs().max() > 0.5  # real logits, so 1e-4 is a real bound
        torch.testing.assert_close(fn(images), expected, atol=1e-4, rtol=0)


def test_an_unknown_backend_is_refused():
    model, _ = build.build_model("efficientnet_b0")
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'"):
        build.prepare(model, "tensorrt", batch_size=1, resolution=32, threads=1)


def test_known_models_are_the_registry_and_table4s_baselines():
    names = build.known_models()
    assert names[: len(list_models())] == list_models()
    assert names[-2:] == ["torchvision:resnet50", "torchvision:resnet152"]
