"""Downloads against a real HTTP server on 127.0.0.1: cache, sha256, retries, offline mode, no
network at all, and ``create_model(name, pretrained=True)`` from end to end."""

import dataclasses
import hashlib
import http.server
import io
import socket
import threading
import time
from collections import Counter

import numpy as np
import pytest
import timm
import torch

import effnet
from effnet.weights import download
from effnet.weights.fetch import (
    ENV_HOME,
    ENV_OFFLINE,
    ChecksumError,
    DownloadError,
    NoNetworkError,
    OfflineError,
    TooLargeError,
)
from effnet.weights.pretrained import WEIGHTS
from tests.weights.test_convert import _one_thread  # noqa: F401  (autouse: small batches, one thread)

PAYLOAD = np.random.default_rng(0).bytes(300_000)
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; paths in ``server.drop`` lose the connection halfway through on
    their first ``server.drop[path]`` requests, paths in ``server.busy`` answer 503 on theirs."""

    def do_GET(self):
        server = self.server
        server.hits[self.path] += 1
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404, "no such file")
            return
        if server.hits[self.path] <= server.busy.get(self.path, 0):
            self.send_error(503, "busy")
            return
        self.send_response(200)
        if not server.hide_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        time.sleep(server.delay)
        if server.hits[self.path] <= server.drop.get(self.path, 0):
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def _server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def server(_server, tmp_path, monkeypatch):
    """The running server with fresh files and counters, and a private cache and environment."""
    _server.files, _server.hits, _server.drop = {"/b0.bin": PAYLOAD}, Counter(), {}
    _server.busy = {}
    _server.hide_length, _server.delay = False, 0.0
    _server.url = f"http://127.0.0.1:{_server.server_address[1]}"
    monkeypatch.setenv(ENV_HOME, str(tmp_path / "home"))
    monkeypatch.delenv(ENV_OFFLINE, raising=False)
    return _server


def cached_files(tmp_path):
    directory = tmp_path / "home" / "weights"
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_good_file_is_cached_verified_and_reused(server, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("effnet.progress.LINE_INTERVAL_S", 0.0)  # off a terminal: a line at once
    path = download(f"{server.url}/b0.bin", DIGEST)
    assert path == tmp_path / "home" / "weights" / "b0.bin"  # under $EFFNET_HOME
    assert path.read_bytes() == PAYLOAD
    assert "b0.bin" in capsys.readouterr().err  # the progress bar names the file
    # the published 8-digit prefix is enough to verify, and the cache answers without a request
    assert download(f"{server.url}/b0.bin", DIGEST[:8], progress=False) == path
    assert server.hits["/b0.bin"] == 1
    assert cached_files(tmp_path) == ["b0.bin"]


def test_wrong_sha256_is_rejected_and_nothing_is_cached(server, tmp_path):
    wrong = "0" * 64
    with pytest.raises(ChecksumError, match=f"has sha256 {DIGEST}, expected {wrong}"):
        download(f"{server.url}/b0.bin", wrong, progress=False)
    assert cached_files(tmp_path) == []  # neither the file nor a temporary part
    with pytest.raises(ValueError, match="not a sha256 digest"):
        download(f"{server.url}/b0.bin", "not-hex", progress=False)


def test_dropped_connection_is_retried(server, tmp_path):
    server.drop["/b0.bin"] = 1
    path = download(f"{server.url}/b0.bin", DIGEST, backoff=0.01, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert server.hits["/b0.bin"] == 2
    assert cached_files(tmp_path) == ["b0.bin"]


def test_retries_give_up_with_a_clear_error_and_leave_no_part_file(server, tmp_path):
    server.drop["/b0.bin"] = 10
    with pytest.raises(DownloadError, match="after 3 attempts: connection closed after"):
        download(f"{server.url}/b0.bin", DIGEST, retries=2, backoff=0.01, progress=False)
    assert server.hits["/b0.bin"] == 3
    assert cached_files(tmp_path) == []
    with pytest.raises(DownloadError, match="HTTP 404") as err:
        download(f"{server.url}/missing.bin", DIGEST, backoff=0.01, progress=False)
    # Like the offline error, it says where a file fetched some other way goes.
    place = str(tmp_path / "home" / "weights" / "missing.bin")
    assert f"copy it to {place}" in str(err.value) and "$EFFNET_HOME/weights" in str(err.value)
    assert server.hits["/missing.bin"] == 1  # a 404 is not retried


def test_a_server_error_is_retried(server, tmp_path):
    server.busy["/b0.bin"] = 2
    path = download(f"{server.url}/b0.bin", DIGEST, backoff=0.01, progress=False)
    assert path.read_bytes() == PAYLOAD and server.hits["/b0.bin"] == 3


def closed_port() -> int:
    """A 127.0.0.1 port that nothing listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("host", ["closed-port", "weights.invalid"])
def test_no_network_fails_at_once_saying_where_and_what_is_usable(
    server, tmp_path, monkeypatch, host
):
    """A refused connection or a name that does not resolve is not retried: the first error says
    where the file would be cached, how to put it there and which weight sets load here."""
    import effnet.weights.fetch as fetch

    base = f"http://127.0.0.1:{closed_port()}" if host == "closed-port" else f"http://{host}"
    entry = WEIGHTS["efficientnet_b0.tf_aa_in1k"]
    monkeypatch.setitem(
        WEIGHTS, entry.name, dataclasses.replace(entry, url=f"{base}/{entry.file_name}")
    )
    attempts = []
    real_fetch = fetch._fetch
    monkeypatch.setattr(fetch, "_fetch", lambda *a: attempts.append(a) or real_fetch(*a))
    start = time.monotonic()
    with pytest.raises(NoNetworkError) as caught:
        effnet.create_model("efficientnet_b0", pretrained=True)  # backoff 1 s: 7 s with retries
    elapsed = time.monotonic() - start
    assert len(attempts) == 1 and elapsed < 4, (len(attempts), elapsed)
    message = str(caught.value)
    target = tmp_path / "home" / "weights" / entry.file_name
    assert "\n" not in message and message.startswith(f"{entry.file_name} is not cached")
    assert f"copy it to {target}" in message and "set $EFFNET_HOME to a folder" in message
    assert "pass that .safetensors as pretrained=" in message
    assert "usable here without a download instead of efficientnet_b0.tf_aa_in1k: " in message
    assert "efficientnet_lite0.lite_pytorch_in1k" in message  # shipped by an installed package
    assert cached_files(tmp_path) == []


def test_offline_uses_the_cache_only(server, tmp_path, monkeypatch):
    with pytest.raises(OfflineError, match=r"not in the cache.*offline mode is on"):
        download(f"{server.url}/b0.bin", DIGEST, offline=True)
    monkeypatch.setenv(ENV_OFFLINE, "1")
    with pytest.raises(OfflineError, match=str(tmp_path / "home" / "weights" / "b0.bin")):
        download(f"{server.url}/b0.bin", DIGEST)
    assert server.hits["/b0.bin"] == 0
    path = download(f"{server.url}/b0.bin", DIGEST, offline=False, progress=False)
    assert download(f"{server.url}/b0.bin", DIGEST) == path  # offline, from the cache
    assert server.hits["/b0.bin"] == 1


def test_damaged_cache_entry_is_replaced_online_and_refused_offline(server, tmp_path):
    path = download(f"{server.url}/b0.bin", DIGEST, progress=False)
    path.write_bytes(PAYLOAD[:1000])
    with pytest.raises(ChecksumError, match=r"cached .* delete it"):
        download(f"{server.url}/b0.bin", DIGEST, offline=True)
    assert download(f"{server.url}/b0.bin", DIGEST, progress=False).read_bytes() == PAYLOAD
    assert server.hits["/b0.bin"] == 2


def test_create_model_pretrained_end_to_end(server, monkeypatch):
    # A TensorFlow-ported checkpoint in timm's layout, served as the default B0 weights.
    reference = timm.create_model("tf_efficientnet_b0").eval()
    with torch.no_grad():
        for m in reference.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 1.5)
                m.running_mean.normal_(0.0, 0.2)
    buffer = io.BytesIO()
    torch.save(reference.state_dict(), buffer)
    body = buffer.getvalue()
    entry = WEIGHTS["efficientnet_b0.tf_aa_in1k"]
    server.files["/" + entry.file_name] = body
    local = dataclasses.replace(
        entry,
        url=f"{server.url}/{entry.file_name}",
        sha256=hashlib.sha256(body).hexdigest()[:8],
    )
    monkeypatch.setitem(WEIGHTS, local.name, local)

    model = effnet.create_model("efficientnet_b0", pretrained=True).eval()
    assert model.weights_source == "efficientnet_b0.tf_aa_in1k"
    assert (model.padding, model.spec.bn_eps) == ("same", 1e-3)
    assert model.preprocess == entry.preprocess and model.class_names[:2] == ["tench", "goldfish"]
    x = torch.randn(2, 3, 72, 72)
    with torch.no_grad():
        assert (model(x) - reference(x)).abs().max() <= 1e-4
    transform = effnet.transforms_for(model).transforms
    assert (transform[1].size, transform[2].size) == (256, (224, 224))  # 224 / 0.875, 224

    # Fine-tuning: a new 10-class head, the same pretrained body, straight from the cache.
    monkeypatch.setenv(ENV_OFFLINE, "1")
    tuned = effnet.create_model("efficientnet_b0", pretrained="tf_aa_in1k", num_classes=10).eval()
    assert tuned.classifier.out_features == 10 and tuned.class_names is None
    with torch.no_grad():
        assert torch.equal(tuned.forward_features(x), model.forward_features(x))
    features = effnet.create_model("efficientnet_b0", pretrained=True, features_only=True)
    with torch.no_grad():
        assert torch.equal(features.eval()(x)[-1], model.blocks(model.stem(x)))
    assert server.hits["/" + entry.file_name] == 1
    with pytest.raises(ValueError, match="holds weights for efficientnet_b3"):
        effnet.create_model("efficientnet_b0", pretrained="efficientnet_b3.tf_aa_in1k")
    with pytest.raises(ValueError, match=r"unknown weights 'efficientnet_b0\.nope'"):
        effnet.create_model("efficientnet_b0", pretrained="nope")


@pytest.mark.parametrize("name", ["../x", "/tmp/x", "sub/x", ".hidden", "..", "a\\b"])
def test_a_file_name_must_stay_inside_the_cache(server, tmp_path, name):
    victim = tmp_path / "home" / "x"  # what "../x" would have hashed and then deleted
    victim.parent.mkdir(parents=True)
    victim.write_bytes(b"someone else's file")
    with pytest.raises(ValueError, match="is not a plain file name inside the cache"):
        download(f"{server.url}/b0.bin", DIGEST, file_name=name, progress=False)
    assert victim.read_bytes() == b"someone else's file"
    assert server.hits["/b0.bin"] == 0


@pytest.mark.parametrize("hide_length", [False, True])
def test_a_body_over_the_size_cap_is_refused_unread_and_not_retried(server, tmp_path, hide_length):
    server.hide_length = hide_length  # then only counting the bytes can stop it
    with pytest.raises(TooLargeError, match="more than the 100000 bytes this file can have"):
        download(f"{server.url}/b0.bin", DIGEST, max_bytes=100_000, backoff=0.01, progress=False)
    assert server.hits["/b0.bin"] == 1
    assert cached_files(tmp_path) == []
    assert download(f"{server.url}/b0.bin", DIGEST, max_bytes=len(PAYLOAD), progress=False)


def test_every_registry_entry_has_a_size_cap_that_holds_its_file():
    b0 = WEIGHTS["efficientnet_b0.tv_in1k"]  # 20.5 MB on download.pytorch.org
    assert 21_000_000 < b0.max_bytes < 40_000_000
    assert dataclasses.replace(b0, size=20_451_135).max_bytes == 20_451_135
    assert all(w.max_bytes for w in WEIGHTS.values())


def test_part_files_of_a_killed_download_are_removed_by_the_next(server, tmp_path):
    cache = tmp_path / "home" / "weights"
    cache.mkdir(parents=True)
    for stale in (".b0.bin.host-999999.abc.part", ".b0.bin.xyz.part"):
        (cache / stale).write_bytes(PAYLOAD[:1000])
    (cache / ".other.bin.abc.part").write_bytes(b"another file's download")
    download(f"{server.url}/b0.bin", DIGEST, progress=False)
    assert cached_files(tmp_path) == [".other.bin.abc.part", "b0.bin"]


def test_two_processes_fetching_one_file_download_it_once(server, tmp_path, capsys):
    server.delay = 0.5  # the first download is still running when the second asks
    results, errors = [], []

    def fetch():
        try:
            results.append(download(f"{server.url}/b0.bin", DIGEST))
        except Exception as err:  # surfaced by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and len(results) == 2 and results[0] == results[1]
    assert server.hits["/b0.bin"] == 1  # the second waited for the first, then used its file
    assert "waiting for another process downloading b0.bin" in capsys.readouterr().err
    assert cached_files(tmp_path) == ["b0.bin"]


def test_a_full_digest_is_compared_in_full_and_entries_say_which_they_hold(server):
    near = DIGEST[:8] + ("0" if DIGEST[8] != "0" else "1") + DIGEST[9:]  # same 8-digit prefix
    with pytest.raises(ChecksumError, match=f"expected {near}"):
        download(f"{server.url}/b0.bin", near, progress=False)
    for entry in WEIGHTS.values():  # a prefix is exactly what the publisher put in the name
        assert len(entry.sha256) == 64 or (
            len(entry.sha256) == 8 and f"-{entry.sha256}." in entry.file_name
        ), entry.name
