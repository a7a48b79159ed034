"""``effnet study``: width vs depth vs resolution vs compound scaling at equal FLOPs."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import add_override_argument, example_help, positive_int

#: The flags that replace a field of the config file's get_study() (StudyConfig's defaults when
#: the file has none).
STUDY_FLAGS = ("phis", "seeds", "alpha", "beta", "gamma", "base")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "study",
        help="scale a base by width, depth, resolution and compound at matched FLOPs, train all",
        description="The paper's Figure 8 / Table 7 comparison on your data: for each budget phi "
        "the base is compound-scaled, and width-, depth- and resolution-only networks are solved "
        "to the same multiply-adds. Every network is trained with the config (runs are cached, "
        "so an interrupted study resumes); OUT gets table7.md, figure8.png and results.json.",
        **example_help(
            "effnet study --dry-run\n"
            "effnet study --config configs/study_digits.py\n"
            "effnet study --config configs/study_digits.py --phi 1 2.5 --seeds 2 --jobs 2\n"
            "effnet reproduce table7 --results runs/study_digits/results.json"
        ),
    )
    p.add_argument(
        "--config",
        default="study_digits",
        help="training config for every network (default: configs/study_digits.py)",
    )
    add_override_argument(p, "change config settings, e.g. schedule.epochs=3 data.image_size=64")
    p.add_argument(
        "--base",
        help="network to scale, a name or spec .json (default: the config's model); the "
        "config's image_size, when set, becomes its resolution",
    )
    p.add_argument(
        "--phi",
        type=float,
        nargs="+",
        dest="phis",
        help="compound budgets; each adds four trained networks (default from the config: 1)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        help="train every network with this many seeds (the config's and the next ones); the "
        "table shows mean +- std and says when compound's lead is within noise",
    )
    p.add_argument("--alpha", type=float, help="compound depth coefficient (paper: 1.2)")
    p.add_argument("--beta", type=float, help="compound width coefficient (paper: 1.1)")
    p.add_argument("--gamma", type=float, help="compound resolution coefficient (paper: 1.15)")
    p.add_argument("--out", type=Path, help="output folder (default: the config's output_dir)")
    p.add_argument(
        "--jobs", type=positive_int, default=1, help="networks trained in parallel processes"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print the networks and their FLOP match only"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.catalog import dataset_classes
    from ..experiments.runner import RunOptions
    from ..experiments.settings import base_for, with_flags
    from ..experiments.study import format_plan, load_study, plan_study, run_study
    from ..experiments.study_report import verdicts

    cfg, study = load_study(args.config, args.override)
    study = with_flags(study, **{name: getattr(args, name) for name in STUDY_FLAGS}).checked()
    seeds = study.seed_values(cfg.seed)
    base = base_for(cfg, study.base)
    if args.dry_run:
        plan = plan_study(base, study, dataset_classes(cfg.dataset, cfg.data_dir))
        print(f"{base.name} at {base.resolution}px on {cfg.dataset}, budgets phi = {study.phis}")
        print(format_plan(plan))
        print(f"{len(plan) * len(seeds)} training runs of {cfg.epochs} epochs each")
        return 0
    from ..fileio import claim_folder

    out = claim_folder(args.out or Path(cfg.output_dir))
    result = run_study(base, cfg, study, out, RunOptions(workers=args.jobs))
    print(result.table_md.read_text())
    print("\n".join(verdicts(result.rows)))
    print(f"wrote {result.table_md}, {result.plot_png} and {result.results_json}")
    return 0
