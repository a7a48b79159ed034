"""Fine-tuning is just another config: init checkpoint, new head, frozen backbone, lr scale."""

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file
from skimage import data as skdata

import effnet
from effnet.train import load_config, train
from effnet.weights.checkpoint import load_model, save_model


def photo_folder(root):
    """``root/{train,val}/{cat,coffee}``: 8 + 2 crops of scikit-image's photos per class."""
    rng = np.random.default_rng(0)
    for name, photo in (("cat", skdata.chelsea()), ("coffee", skdata.coffee())):
        for split, count in (("train", 8), ("val", 2)):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                y, x = rng.integers(0, 100, size=2)
                crop = Image.fromarray(photo[y : y + 200, x : x + 200]).resize((40, 40))
                crop.save(root / split / name / f"{i}.png")
    return root


def test_init_checkpoint_with_other_classes_frozen_backbone_trains_only_the_head(tmp_path):
    torch.manual_seed(1)
    source = effnet.create_model("efficientnet_b0", num_classes=5)
    init = save_model(tmp_path / "init.safetensors", source, [f"c{i}" for i in range(5)])
    data = photo_folder(tmp_path / "photos")
    cfg = load_config(
        "configs/b0_digits.py",
        [f"init_checkpoint={init}", "freeze_backbone_epochs=1", "epochs=1", "ema_decay=0",
         "dataset=imagefolder", f"data_dir={data}", "minival_size=4", "image_size=32",
         "batch_size=6", "warmup_epochs=0", "zero_init_head=true", "backbone_lr_scale=0.1",
         f"output_dir={tmp_path / 'run'}"],
    )  # fmt: skip
    result = train(cfg)
    assert result.steps == 2  # 16 - 4 minival = 12 images, batches of 6
    before, after = load_file(init), load_file(result.checkpoint)
    backbone = [k for k in before if not k.startswith("classifier.")]
    # Weights, BN statistics and all: the backbone is exactly the init checkpoint's.
    assert all(torch.equal(before[k], after[k]) for k in backbone)
    assert after["classifier.weight"].shape == (2, 1280)
    model, meta = load_model(result.checkpoint)
    assert meta["class_names"] == ["cat", "coffee"]
    assert meta["preprocess"].resolution == 32
    assert model.num_classes == 2
    # The new head started at zero (zero_init_head) and learned.
    assert after["classifier.weight"].abs().sum() > 0
    fresh = effnet.create_model("efficientnet_b0", num_classes=2)
    fresh.load_state_dict(after)  # a plain 2-class B0
