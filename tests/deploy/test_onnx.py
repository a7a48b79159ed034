"""The one ONNX exporter: input named ``images``, batch axis dynamic, metadata in the file."""

import json

import onnx
import pytest
import torch

import effnet
from effnet.deploy.metadata import info_for_model
from effnet.deploy.onnx import onnx_bytes, read_info, session, with_metadata
from tests.deploy.test_inference import mini_efficientnet

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def mini():
    return effnet.create_model(mini_efficientnet(), num_classes=4).eval()


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_both_exporters_name_the_input_and_keep_the_batch_dynamic(mini, exporter):
    graph = onnx_bytes(mini, torch.randn(2, 3, 32, 32), exporter)
    proto = onnx.load_from_string(graph)
    assert proto.graph.input[0].name == "images" and proto.graph.output[0].name == "logits"
    sess = session(graph, 1)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = mini(x)
    got = torch.from_numpy(sess.run(None, {"images": x.numpy()})[0])
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_metadata_is_one_entry_replaced_on_rewrite(mini, tmp_path):
    graph = onnx_bytes(mini, torch.randn(2, 3, 32, 32))
    info = info_for_model(mini, "onnx", "fp32", 32)
    twice = with_metadata(with_metadata(graph, info), info)
    props = onnx.load_from_string(twice).metadata_props
    assert [p.key for p in props] == ["effnet.artifact"]
    assert json.loads(props[0].value)["class_names"] == ["0", "1", "2", "3"]
    path = tmp_path / "m.onnx"
    path.write_bytes(twice)
    assert read_info(path) == info


def test_an_unknown_exporter_is_refused(mini):
    with pytest.raises(ValueError, match="unknown ONNX exporter 'fast'"):
        onnx_bytes(mini, torch.randn(2, 3, 32, 32), "fast")
