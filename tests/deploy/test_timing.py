"""The one timing loop: exactly ``warmup`` untimed calls, then ``runs`` per-run times, with the
device synchronised inside each timed call and the caller's thread count restored.

The clock is replaced by a fake one that the callables advance, so every time asserted here is
exact and nothing depends on how busy the machine is.
"""

import pytest
import torch

from effnet.deploy import timing


class Stub:
    """A callable that takes ``seconds[i]`` of fake time on its i-th call and records each call."""

    def __init__(self, clock, seconds: list[float]) -> None:
        self.clock = clock
        self.seconds = seconds
        self.calls = 0
        self.grad_enabled: list[bool] = []
        self.threads: list[int] = []

    def __call__(self) -> None:
        self.clock.now += self.seconds[self.calls]
        self.calls += 1
        self.grad_enabled.append(torch.is_grad_enabled())
        self.threads.append(torch.get_num_threads())


@pytest.fixture
def clock(fake_clock):
    return fake_clock


def test_returns_one_time_per_run_after_untimed_warmup(clock):
    # Warm-up calls are slow (an export, a compile); none of that may reach the reported times.
    stub = Stub(clock, [10.0, 20.0, 30.0, 0.5, 0.25, 0.125, 0.0625])
    times = timing.time_runs(stub, runs=4, warmup=3)
    assert stub.calls == 7
    assert times == [0.5, 0.25, 0.125, 0.0625]


def test_without_warmup_every_call_is_timed(clock):
    stub = Stub(clock, [2.0, 3.0])
    assert timing.time_runs(stub, runs=2, warmup=0) == [2.0, 3.0]
    assert stub.calls == 2


def test_default_warmup_is_two_calls(clock):
    stub = Stub(clock, [5.0, 5.0, 1.0])
    assert timing.time_runs(stub, runs=1) == [1.0]
    assert stub.calls == 3


@pytest.mark.parametrize("runs", [0, -1])
def test_at_least_one_run_is_required(runs, clock):
    stub = Stub(clock, [1.0])
    with pytest.raises(ValueError, match="runs must be at least 1"):
        timing.time_runs(stub, runs=runs)
    assert stub.calls == 0  # refused before calling anything


def test_a_cuda_device_is_synchronised_inside_each_timed_call(clock, monkeypatch):
    events = []

    def fake_synchronize(device):
        # Pretend the queued kernels take 1 s to drain: that must count towards the run.
        events.append(("sync", device))
        clock.now += 1.0

    monkeypatch.setattr(torch.cuda, "synchronize", fake_synchronize)
    stub = Stub(clock, [0.0, 0.25, 0.5])

    def call() -> None:
        events.append("call")
        stub()

    times = timing.time_runs(call, runs=2, warmup=1, device="cuda:0")
    cuda0 = torch.device("cuda:0")
    # Warm-up, one sync so queued warm-up work is not billed to run 1, then call + sync per run.
    assert events == ["call", ("sync", cuda0), "call", ("sync", cuda0), "call", ("sync", cuda0)]
    assert times == [1.25, 1.5]


@pytest.mark.parametrize("device", [None, "cpu", torch.device("cpu")])
def test_cpu_timing_never_synchronises(clock, monkeypatch, device):
    def fail(device):
        raise AssertionError("synchronize called for CPU timing")

    monkeypatch.setattr(torch.cuda, "synchronize", fail)
    assert timing.time_runs(Stub(clock, [0.0, 1.0]), runs=1, warmup=1, device=device) == [1.0]


def test_threads_apply_to_every_call_and_are_restored(clock):
    before = torch.get_num_threads()
    stub = Stub(clock, [0.0] * 3)
    timing.time_runs(stub, runs=2, warmup=1, threads=1)
    assert stub.threads == [1, 1, 1]
    assert torch.get_num_threads() == before


def test_gradient_mode_is_the_callers(clock):
    # Inference is timed under no_grad, a training step with gradients: the helper imposes neither.
    stub = Stub(clock, [0.0] * 4)
    with torch.no_grad():
        timing.time_runs(stub, runs=1, warmup=1)
    timing.time_runs(stub, runs=1, warmup=1)
    assert stub.grad_enabled == [False, False, True, True]


def test_torch_threads_sets_and_restores_even_on_error():
    before = torch.get_num_threads()
    with timing.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="boom"), timing.torch_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("threads", [None, 0])
def test_torch_threads_default_keeps_the_current_setting(threads):
    before = torch.get_num_threads()
    with timing.torch_threads(threads):
        assert torch.get_num_threads() == before
    assert torch.get_num_threads() == before


def test_synchronize_passes_the_cuda_device_through(monkeypatch):
    seen = []
    monkeypatch.setattr(torch.cuda, "synchronize", seen.append)
    timing.synchronize(None)
    timing.synchronize("cpu")
    timing.synchronize(torch.device("cuda", 1))
    assert seen == [torch.device("cuda", 1)]


def test_real_clock_gives_positive_times():
    # One real run with the real clock: the default wiring works end to end (no speed asserted).
    times = timing.time_runs(lambda: torch.ones(8).sum(), runs=3, warmup=1)
    assert len(times) == 3 and all(t >= 0 for t in times)


def test_interleaved_rounds_time_one_call_of_each_in_turn_after_an_inline_warmup(clock):
    # Two warm-up calls each, just before its first timed call; then one timed call per round.
    a = Stub(clock, [9.0, 9.0, 1.0, 1.5, 0.5])
    b = Stub(clock, [7.0, 7.0, 2.0, 2.5, 3.0])
    order: list[str] = []

    def tracked(name: str, stub: Stub):
        return lambda: (order.append(name), stub())

    times = timing.time_interleaved({"a": tracked("a", a), "b": tracked("b", b)}, 3, warmup=2)
    assert times == {"a": [1.0, 1.5, 0.5], "b": [2.0, 2.5, 3.0]}
    assert order == ["a"] * 3 + ["b"] * 3 + ["a", "b"] * 2


def test_interleaved_turns_time_several_calls_in_a_row(clock):
    a = Stub(clock, [5.0, 1.0, 2.0, 3.0, 4.0])
    b = Stub(clock, [6.0, 7.0, 8.0, 9.0, 10.0])
    times = timing.time_interleaved({"a": a, "b": b}, 2, warmup=1, per_turn=2)
    assert times == {"a": [1.0, 2.0, 3.0, 4.0], "b": [7.0, 8.0, 9.0, 10.0]}


@pytest.mark.parametrize(("rounds", "per_turn"), [(0, 1), (-1, 1), (1, 0)])
def test_interleaved_needs_at_least_one_round_and_one_call_a_turn(rounds, per_turn):
    with pytest.raises(ValueError, match="rounds and per_turn must be at least 1"):
        timing.time_interleaved({"a": lambda: None}, rounds, per_turn=per_turn)
