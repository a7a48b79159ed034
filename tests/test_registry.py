"""Names -> specs: listing, spec files, and errors that help."""

import pytest

import effnet
from effnet.registry import UnknownModelError, get_spec, list_models


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown model 'efficientnet_b9'.*efficientnet_b0"):
        effnet.create_model("efficientnet_b9")


def test_list_models_filters_with_shell_patterns():
    assert list_models("efficientnet_b[0-2]") == [
        "efficientnet_b0",
        "efficientnet_b1",
        "efficientnet_b2",
    ]
    assert {"resnet50", "mobilenet_v1", "mobilenet_v2"} <= set(list_models())
    assert list_models("nothing*") == []


def test_get_spec_takes_names_specs_and_json_files(tmp_path):
    b3 = get_spec("efficientnet_b3")
    assert get_spec(b3) is b3
    path = tmp_path / "b3.json"
    path.write_text(b3.to_json())
    assert get_spec(path) == b3 == get_spec(str(path))


def test_a_near_miss_gets_a_suggestion():
    with pytest.raises(UnknownModelError, match="Did you mean 'efficientnet_b0'"):
        get_spec("b0_efficientnet_b0")


def test_list_models_pretrained_reads_the_weights_registry(monkeypatch):
    import effnet
    from effnet.detection.pretrained import DET_WEIGHTS
    from effnet.weights import pretrained

    named = effnet.list_models(pretrained=True)
    # "model.tag", as timm lists them; the detectors' weight sets with the classifiers'
    assert named == sorted([*pretrained.list_weights(), *DET_WEIGHTS])
    assert "efficientnet_b0.tf_aa_in1k" in effnet.list_models("efficientnet_b0", pretrained=True)
    assert all(
        n.startswith("efficientnet_b3.") for n in effnet.list_models("*net_b3", pretrained=True)
    )
    models = effnet.list_models(pretrained=True, include_tags=False)
    assert "efficientnet_b0" in models and "resnet50" not in models  # no weights registered
    assert set(models) <= set(effnet.list_models())
    # A weight set registered later (the Lite/EdgeTPU ones, say) shows up without code changes.
    entry = pretrained.WEIGHTS["efficientnet_b0.tf_aa_in1k"]
    monkeypatch.setitem(pretrained.WEIGHTS, "efficientnet_b0.new_tag", entry)
    assert "efficientnet_b0.new_tag" in effnet.list_models("efficientnet_b0*", pretrained=True)
