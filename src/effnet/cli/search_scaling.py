"""``effnet search-scaling``: the paper's step-1 grid search for alpha, beta, gamma."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from . import add_override_argument, example_help, positive_int

if TYPE_CHECKING:
    from ..experiments.grid_search import Candidate
    from ..spec import NetSpec
    from ..train.config import TrainConfig

#: The flags that replace a field of the config file's get_search() (SearchConfig's defaults when
#: the file has none).
SEARCH_FLAGS = ("alpha", "beta", "gamma", "step", "target", "tolerance", "phi", "seeds")


def register(sub: argparse._SubParsersAction) -> None:
    from ..experiments.grid_search import SearchConfig

    defaults = SearchConfig()  # the help's defaults are the config type's own
    p = sub.add_parser(
        "search-scaling",
        help="grid-search alpha, beta, gamma for compound scaling (paper step 1)",
        description="Enumerate (alpha, beta, gamma) with alpha*beta^2*gamma^2 within --tolerance "
        "of --target, train the base scaled by each at --phi with the config, and rank them by "
        "minival accuracy. Finished candidates are cached in OUT/candidates, so rerunning an "
        "interrupted search trains only what is missing.",
        **example_help(
            "effnet search-scaling --config configs/search_digits.py --dry-run\n"
            "effnet search-scaling --base efficientnet_b0 --config configs/search_digits.py "
            "--jobs 2\n"
            "effnet search-scaling --base my_net.json --config configs/search_digits.py "
            "--alpha 1.0:1.4 --beta 1.0,1.1,1.2 --gamma 1.0:1.3 --step 0.1 --tolerance 0.15"
        ),
    )
    p.add_argument(
        "--base",
        help="network to scale, a name or spec .json (default: the config's model); the "
        "config's image_size, when set, becomes its resolution",
    )
    p.add_argument("--config", required=True, help="training config (short schedule) per candidate")
    add_override_argument(p, "change config fields, e.g. epochs=2 max_steps=50")
    for name, what in (("alpha", "depth"), ("beta", "width"), ("gamma", "resolution")):
        p.add_argument(
            f"--{name}",
            help=f"{what} coefficients: LOW:HIGH every --step, or a list like 1.0,1.1 "
            f"(default {getattr(defaults, name)})",
        )
    p.add_argument("--step", type=float, help=f"grid step (default {defaults.step})")
    p.add_argument(
        "--target", type=float, help="alpha*beta^2*gamma^2 aimed at (default 2: FLOPs x2)"
    )
    p.add_argument(
        "--tolerance",
        type=float,
        help=f"keep candidates within this of --target (default {defaults.tolerance})",
    )
    p.add_argument("--phi", type=float, help="compound coefficient of every candidate (default 1)")
    p.add_argument(
        "--seeds",
        type=positive_int,
        help="train every candidate with this many seeds (the config's and the next ones) and "
        f"rank by their mean (default {defaults.seeds})",
    )
    p.add_argument("--out", type=Path, help="output folder (default runs/search_<base>)")
    p.add_argument(
        "--jobs", type=positive_int, default=1, help="candidates trained in parallel processes"
    )
    p.add_argument("--dry-run", action="store_true", help="list the candidates, train nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..experiments.grid_search import load_search, run_search
    from ..experiments.runner import RunOptions
    from ..experiments.settings import base_for, with_flags

    cfg, search = load_search(args.config, args.override)
    search = with_flags(search, **{name: getattr(args, name) for name in SEARCH_FLAGS})
    candidates = search.candidates()
    base = base_for(cfg, args.base)
    phi = float(search.phi)
    from ..fileio import claim_folder

    out = claim_folder(args.out or Path("runs") / f"search_{base.name}")
    seeds = int(search.seeds)
    print(
        f"{len(candidates)} candidates with alpha*beta^2*gamma^2 within {search.tolerance} "
        f"of {search.target}, each {base.name} ({base.resolution}px) scaled at phi = {phi:g}"
        + (f", {seeds} seeds each" if seeds > 1 else "")
    )
    if args.dry_run:
        _print_plan(cfg, base, candidates, phi)
        return 0
    options = RunOptions(workers=args.jobs)
    result = run_search(base, cfg, candidates, out, phi=phi, options=options, seeds=seeds)
    print(result.table_md.read_text())
    print(f"wrote {result.table_md}, {result.table_csv}, ranking.json and {result.plot_png}")
    return 0


def _print_plan(cfg: TrainConfig, base: NetSpec, candidates: list[Candidate], phi: float) -> None:
    """Each candidate's network and its real multiply-adds: the check before hours of training."""
    from .. import flops
    from ..data.catalog import dataset_classes
    from ..experiments.grid_search import plan_search

    classes = dataset_classes(cfg.dataset, cfg.data_dir)
    base_macs = flops.count(base, classes).macs
    print(f"{'alpha':>7}{'beta':>7}{'gamma':>7}{'a*b^2*g^2':>11}{'res':>6}{'MACs (M)':>10}"
          f"{'x base':>8}")  # fmt: skip
    for job in plan_search(base, candidates, phi):
        macs = flops.count(job.spec, classes).macs
        m = job.meta
        print(
            f"{m['alpha']:>7.3g}{m['beta']:>7.3g}{m['gamma']:>7.3g}{m['flops_factor']:>11.3f}"
            f"{job.spec.resolution:>6}{macs / 1e6:>10.2f}{macs / base_macs:>8.2f}"
        )
