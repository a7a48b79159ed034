"""predict_to_file on Ray Data (a local two-CPU Ray): the one-process run's answers to the last bit,
unreadable images included, resuming from a file the one-process run started."""

from __future__ import annotations

import functools
import sys

import pytest
import ray

import effnet
from effnet.deploy.metadata import MissingEngineError
from effnet.use.predict_ray import import_ray
from effnet.use.predict_stream import predict_to_file
from effnet.use.result_files import read_rows
from tests.use.checkpoints import truncated_jpeg
from tests.use.digit_files import digits_checkpoint, write_digits

#: Starts a local Ray: run by make test in a pass of its own (Makefile), not beside other tests.
pytestmark = pytest.mark.ray
BATCH = 32


@pytest.fixture(scope="module")
def session():
    """One local Ray for the module; predict_to_file uses it rather than starting its own."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A LIST.txt of 300 digits with a truncated image among them."""
    root = tmp_path_factory.mktemp("ray_digits")
    paths = write_digits(root / "digits", 300)
    broken = truncated_jpeg(root / "digits" / "broken.png")
    listing = root / "images.txt"
    listing.write_text("".join(f"{p}\n" for p in [*paths[:100], broken, *paths[100:]]))
    return listing


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return digits_checkpoint(tmp_path_factory.mktemp("ckpt") / "digits_b0.safetensors")


@pytest.fixture(scope="module")
def one_process(images, weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "results.jsonl"
    model = effnet.load(weights)
    predict_to_file(model, [images], out, batch_size=BATCH, workers=0, progress=False)
    return out


def test_ray_gives_the_one_process_answers_bit_for_bit(session, images, weights, one_process):
    out = one_process.with_name("ray.jsonl")
    loader = functools.partial(effnet.load, weights)  # what each actor loads its model with
    summary = predict_to_file(
        effnet.load(weights), [images], out, batch_size=BATCH, progress=False, ray=True,
        loader=loader,
    )  # fmt: skip
    assert (summary.written, summary.skipped) == (301, 1)
    assert list(read_rows(out)) == list(read_rows(one_process))  # same order, same floats
    assert ray.is_initialized()  # the caller's Ray is left running


def test_ray_resumes_a_file_the_one_process_run_started(session, images, weights, one_process):
    out = one_process.with_name("resumed.jsonl")
    lines = one_process.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[: 3 * BATCH]))
    summary = predict_to_file(
        effnet.load(weights), [images], out, batch_size=BATCH, progress=False, ray=True
    )  # no loader: the loaded model itself is pickled to the actor
    assert (summary.resumed, summary.written, summary.skipped) == (96, 205, 1)
    assert out.read_text() == one_process.read_text()


def test_without_ray_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(MissingEngineError, match=r"pip install 'effnet\[ray\]'"):
        import_ray()
