"""Peak memory: the meter sees an allocation, the probe prints one JSON line, and the subprocess
measurement reports at least the weights of what it built (B0: 5.3M parameters, docs/paper.md
section 1, Table 2) and a clear error when the child fails."""

import json
import subprocess
import sys

import pytest
import torch

from effnet.speed import memory

B0_WEIGHTS_MB = 5.3e6 * 4 / 2**20  # float32


#: Two phases in a fresh process, as the probe measures: a 64 MB block written in the first, freed
#: before the second. In a long-lived test process freed heap pages can be reused by a later
#: allocation without the resident set growing, so the meter is tested where it is used.
PHASES = """
import json, torch
from effnet.speed import memory
meter = memory.PeakMeter()
meter.start()
block = torch.ones(64 * 2**20 // 4)
first = meter.peak()
del block
meter.start()
second = meter.peak()
print(json.dumps({"method": meter.method, "first": first, "second": second}))
"""


def test_meter_sees_a_touched_allocation_and_start_resets_the_phase():
    result = subprocess.run(
        [sys.executable, "-c", PHASES], capture_output=True, text=True, timeout=120, check=True
    )
    phases = json.loads(result.stdout.strip().splitlines()[-1])
    assert phases["method"] in ("VmHWM", "ru_maxrss")
    if phases["method"] == "VmHWM":  # the kernel's per-phase mark: both bounds hold
        assert phases["first"] >= 60  # the 64 MB block, every page written
        assert phases["second"] < 60  # a new phase: the freed block is not its peak
    else:  # ru_maxrss is a lifetime peak, so a later phase can only be bounded below
        assert phases["first"] >= 0 and phases["second"] >= 0


def test_probe_prints_build_and_run_peaks_as_one_json_line(capsys):
    args = {"name": "efficientnet_b0", "backend": "plain", "batch_size": 2, "threads": 1}
    before = torch.get_num_threads()
    try:
        memory.memory_probe(json.dumps({**args, "resolution": 32}))
    finally:
        torch.set_num_threads(before)  # the probe owns its process and sets threads for good
    (line,) = capsys.readouterr().out.strip().splitlines()
    data = json.loads(line)
    assert set(data) == {"build_mb", "run_mb", "method"}
    assert data["method"] in ("VmHWM", "ru_maxrss")


def test_peak_memory_in_a_fresh_process_holds_at_least_the_weights():
    build, run, method = memory.peak_memory("efficientnet_b0", "plain", 2, 1, 64)
    assert method in ("VmHWM", "ru_maxrss")
    assert build >= B0_WEIGHTS_MB
    assert run > 0  # the activations of a batch


def test_a_failing_probe_is_a_runtime_error_with_the_childs_message():
    with pytest.raises(RuntimeError, match="memory probe for no_such_net failed") as err:
        memory.peak_memory("no_such_net", "plain", 1, 1, 32)
    assert "unknown model 'no_such_net'" in str(err.value)
