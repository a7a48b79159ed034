"""``effnet serve`` refuses a configuration that cannot work with one line and exit 2, before any
process starts or any port is bound (the running service: tests/serve/)."""

from __future__ import annotations

import pytest

from effnet.cli import main
from tests.serve.service import LITE0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--weights", "missing.safetensors"], "missing.safetensors"),
        (["--weights", LITE0, "--host", "10.1.2.3"], "--host"),
        (["--weights", LITE0, "--max-batch", "0"], "--max-batch"),
        (["--weights", LITE0, "--max-wait-ms", "0"], "--max-wait-ms"),
        (["--weights", LITE0, "--port", "80"], "--port"),
        (["--weights", LITE0, "--max-body-mb", "0"], "--max-body-mb"),
        (["--weights", LITE0, "--precision", "bf16", "--replicas", "2"], "--replicas needs --ray"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(args, words, capsys):
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("effnet serve: error:") and words in err
    assert "\n" not in err
