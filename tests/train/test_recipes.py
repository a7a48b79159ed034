"""The shared recipes: the Table 5 configs are the transfer recipe with the paper's protocol, and
the recipe functions decay as documented and let any field change."""

from pathlib import Path

import pytest

from effnet.train import load_config
from effnet.train.recipes import TABLE5_PROTOCOL, TRANSFER_RECIPE, finetune_config, transfer_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

#: Each Table 5 config as it was written out field by field: data set, epochs, minival, folder.
TABLE5 = {
    "aircraft": ("fgvc_aircraft", 30, 667),
    "birdsnap": ("imagefolder", 15, 4739),
    "cars": ("stanford_cars", 30, 814),
    "cifar10": ("cifar10", 10, 5000),
    "cifar100": ("cifar100", 15, 5000),
    "flowers": ("flowers102", 40, 204),
    "food101": ("food101", 10, 5000),
    "pets": ("oxford_iiit_pet", 20, 368),
}


@pytest.mark.parametrize("name", sorted(TABLE5))
def test_finetune_configs_are_the_transfer_recipe_with_the_table5_protocol(name):
    dataset, epochs, minival = TABLE5[name]
    expected = transfer_config(
        epochs=epochs,
        dataset=dataset,
        data_dir=None,
        image_size=224,
        minival_size=minival,
        weight_decay=1e-5,
        autoaugment="imagenet",
        hflip=True,
        output_dir=f"runs/finetune_{name}",
    )
    assert load_config(CONFIGS / f"finetune_{name}.py") == expected


def test_finetune_config_decays_five_times_and_lets_any_field_change():
    cfg = finetune_config("cifar10", epochs=20)
    assert cfg.lr_decay_epochs == 4 and cfg.output_dir == "runs/finetune_cifar10"
    assert {k: getattr(cfg, k) for k in TRANSFER_RECIPE} == TRANSFER_RECIPE
    assert {k: getattr(cfg, k) for k in TABLE5_PROTOCOL} == TABLE5_PROTOCOL
    mine = finetune_config("imagefolder", name="pets", image_size=None, autoaugment=None)
    assert (mine.image_size, mine.autoaugment) == (None, None)
    assert mine.output_dir == "runs/finetune_pets"
