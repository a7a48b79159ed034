"""How long the ``effnet`` console script takes to start, beside ``python -c "import torch"``.

``effnet --help`` and ``effnet models`` import no torch (the command table is static and only the
command being run is imported), so each should take under half of what importing torch takes:
a user asking for help or the model list does not wait for a deep-learning stack. Every command
runs in a fresh process, the commands round-robin (so a change in the machine's load touches them
all alike), and the median of --repeats runs is reported with each one's ratio to ``import torch``
measured in the same run. ``python -c pass`` gives the interpreter's own start for reference,
and "full parser" the help built with every command's module imported (as it once was).

    python benchmarks/cli_startup.py [--repeats 15] [--json benchmarks/results/cli_startup.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from effnet.deploy.cpu import cpu_info

GOAL = 0.5
BASELINE = "import torch"
FULL_PARSER = "from effnet.cli import build_parser; build_parser().parse_args(['--help'])"


def effnet_script() -> list[str]:
    """The installed console script beside this interpreter, else the module (same code)."""
    script = Path(sys.executable).with_name("effnet")
    if script.is_file():
        return [str(script)]
    found = shutil.which("effnet")
    return [found] if found else [sys.executable, "-m", "effnet.cli"]


def commands() -> dict[str, list[str]]:
    effnet = effnet_script()
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        BASELINE: [sys.executable, "-c", "import torch"],
        "effnet --help": [*effnet, "--help"],
        "effnet models": [*effnet, "models"],
        # What --help cost when every command's module was imported to build the parser.
        "full parser": [sys.executable, "-c", FULL_PARSER],
    }


def time_once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def measure(repeats: int) -> dict[str, list[float]]:
    """Seconds per run of each command, one round (every command once) per repeat, after one
    untimed round that warms the file cache."""
    table = commands()
    times: dict[str, list[float]] = {name: [] for name in table}
    for round_number in range(repeats + 1):
        for name, argv in table.items():
            seconds = time_once(argv)
            if round_number:
                times[name].append(seconds)
    return times


def report(times: dict[str, list[float]]) -> list[str]:
    base = statistics.median(times[BASELINE])
    lines = [f"{'command':<16}{'median s':>10}{'min s':>8}{'vs import torch':>17}"]
    for name, runs in times.items():
        median = statistics.median(runs)
        goal = f" (goal < {GOAL}x: {'met' if median < GOAL * base else 'MISSED'})"
        lines.append(
            f"{name:<16}{median:>10.3f}{min(runs):>8.3f}{median / base:>16.2f}x"
            + (goal if name.startswith("effnet") else "")
        )
    return lines


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs of each command")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(cpu_info().header())
    print(f"load average before: {load}; {args.repeats} runs each, round-robin")
    times = measure(args.repeats)
    lines = report(times)
    print("\n".join(lines))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    result = {"cpu": cpu_info().header(), "load_before": load, "seconds": times, "lines": lines}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
