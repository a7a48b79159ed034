"""Batch-norm folding: every BN gone, outputs unchanged (issue 7, acceptance 2)."""

import pytest
import torch
from torch import nn

import effnet
from effnet.deploy.fuse import count_batchnorms, fold_batchnorm
from effnet.nn.padding import Conv2dSame
from tests.photo_inputs import photos, with_statistics


@pytest.mark.parametrize(
    ("name", "overrides", "atol"),
    [
        ("efficientnet_b0", {}, 1e-4),
        ("efficientnet_b2", {}, 1e-4),
        ("efficientnet_b0", {"padding": "same"}, 1e-4),  # TF "SAME" convs: a Conv2d subclass
        # Bottlenecks and projection shortcuts. Random ReLU nets leave channels that are zero on
        # all three photos; BN eps 1e-5 then scales them ~300x, and float rounding with them, so
        # the bound is 3e-4 of the logit range here (EfficientNet's eps is 1e-3).
        ("resnet50", {}, 1e-3),
    ],
)
def test_folding_removes_every_batchnorm_and_keeps_outputs(name, overrides, atol):
    images = photos(64)
    model = with_statistics(effnet.create_model(name, **overrides), images)
    before = count_batchnorms(model)
    with torch.no_grad():
        expected = model(images)
    folded = fold_batchnorm(model)

    assert before > 0 and count_batchnorms(folded) == 0
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in folded.modules())
    with torch.no_grad():
        got = folded(images)
    assert expected.abs().max() > 0.5  # logits of real scale, so 1e-4 is a real bound
    torch.testing.assert_close(got, expected, atol=atol, rtol=0)
    # The original is untouched and can still be trained.
    assert count_batchnorms(model) == before
    if overrides.get("padding") == "same":
        assert any(isinstance(m, Conv2dSame) and m.bias is not None for m in folded.modules())


def test_plain_sequential_conv_bn_pairs_fold_too():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    model = with_statistics(model, photos(32))
    folded = fold_batchnorm(model)
    assert count_batchnorms(folded) == 0
    x = photos(32)
    torch.testing.assert_close(folded(x), model(x), atol=1e-5, rtol=0)


def test_a_batchnorm_without_a_conv_before_it_is_an_error_unless_allowed():
    model = nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 8, 1))
    with pytest.raises(ValueError, match="cannot be folded"):
        fold_batchnorm(model)
    kept = fold_batchnorm(model, strict=False)
    assert count_batchnorms(kept) == 1
