"""Peak memory: the meter sees an allocation, the probe prints one JSON line, and the subprocess
measurement reports at least the weights of what it built (B0: 5.3M parameters, PAPER.md section 1,
Table 2) and a clear error when the child fails."""

import json

import pytest
import torch

from effnet.speed import memory

B0_WEIGHTS_MB = 5.3e6 * 4 / 2**20  # float32


def test_meter_sees_a_touched_allocation():
    meter = memory.PeakMeter()
    assert meter.method in ("VmHWM", "ru_maxrss")
    meter.start()
    block = torch.ones(64 * 2**20 // 4)  # 64 MB, every page written
    peak = meter.peak()
    del block
    if meter.method == "VmHWM":  # ru_maxrss is a lifetime peak and may already sit above this
        assert peak >= 60
    assert peak >= 0


def test_meter_start_resets_the_phase():
    meter = memory.PeakMeter()
    if meter.method != "VmHWM":
        pytest.skip("only the kernel's high-water mark can be reset between phases")
    meter.start()
    block = torch.ones(64 * 2**20 // 4)
    del block
    meter.start()  # a new phase: the freed block is not this phase's peak
    assert meter.peak() < 60


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
