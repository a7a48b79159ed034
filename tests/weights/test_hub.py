"""The evaluation transform that belongs to a model, a weight set, a checkpoint or a name."""

import pytest
import timm
import torch
import torchvision.models as tvm
from PIL import Image
from skimage import data
from timm.data import create_transform, resolve_data_config

import effnet
from effnet.data.preprocess import Preprocess
from effnet.weights import WEIGHTS, save_model, transforms_for
from effnet.weights.hub import preprocess_for


def test_transforms_for_matches_the_publishers_transform_on_a_photo(tmp_path):
    photo = Image.fromarray(data.chelsea())
    tv = tvm.EfficientNet_B1_Weights.IMAGENET1K_V2.transforms()  # bilinear, resize 255, crop 240
    ours = transforms_for("efficientnet_b1.tv2_in1k")(photo)
    assert ours.shape == (3, 240, 240)
    assert torch.allclose(ours, tv(photo), atol=1e-5)

    cfg = resolve_data_config({}, model=timm.create_model("tf_efficientnet_b3.aa_in1k"))
    timm_transform = create_transform(**cfg)  # bicubic, resize 331, crop 300
    assert torch.allclose(
        transforms_for(WEIGHTS["efficientnet_b3.tf_aa_in1k"])(photo),
        timm_transform(photo),
        atol=1e-5,
    )

    # models, names, checkpoints and raw Preprocess objects all work
    model = effnet.create_model("efficientnet_b2")
    assert transforms_for(model)(photo).shape == (3, 260, 260)  # no weights: the paper's default
    assert transforms_for("efficientnet_b2")(photo).shape == (3, 260, 260)  # default weights
    path = save_model(tmp_path / "m.safetensors", model, preprocess=Preprocess(96))
    assert transforms_for(path)(photo).shape == (3, 96, 96)
    assert transforms_for(Preprocess(64, 1.0))(photo).shape == (3, 64, 64)
    with pytest.raises(TypeError, match="transforms_for takes"):
        transforms_for(3.5)


def test_a_models_carried_preprocessing_wins_over_the_papers_default():
    model = effnet.create_model("efficientnet_b0")
    assert preprocess_for(model) == Preprocess(224)
    model.preprocess = Preprocess(128, crop_pct=1.0, interpolation="bilinear")
    assert preprocess_for(model) is model.preprocess
    assert (
        preprocess_for("efficientnet_b0.tv_in1k") == WEIGHTS["efficientnet_b0.tv_in1k"].preprocess
    )
