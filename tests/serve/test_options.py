"""``ServeOptions``: what a service is configured with, checked before anything starts."""

from __future__ import annotations

import pytest

from effnet.serve import ServeOptions


def test_int8_needs_an_int8_file():
    with pytest.raises(ValueError, match="export --precision int8"):
        ServeOptions(weights="model.safetensors", precision="int8").validate()
    ServeOptions(weights="model_int8.onnx", precision="int8").validate()  # a file: its own


def test_api_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("EFFNET_API_KEY", "from-env")
    assert ServeOptions(weights="w").resolved_api_key() == "from-env"
    assert ServeOptions(weights="w", api_key="flag").resolved_api_key() == "flag"
    monkeypatch.setenv("EFFNET_API_KEY", "")
    assert ServeOptions(weights="w").resolved_api_key() is None


def test_engine_defaults_fill_a_checkpoint_and_leave_a_file_its_own():
    assert ServeOptions(weights="model.safetensors").engine() == ("auto", "fp32")
    assert ServeOptions(weights="m.safetensors", precision="bf16").engine() == ("auto", "bf16")
    # an exported file keeps the precision it was written at (an int8 file asked for fp32 fails)
    assert ServeOptions(weights="model_int8.onnx").engine() == (None, None)
    assert ServeOptions(weights="model.xml", backend="openvino").engine() == ("openvino", None)
