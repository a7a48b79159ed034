"""``effnet reproduce``: the paper's Table 2, 3 or 7 with effnet's numbers beside the paper's."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import add_overwrite_argument, example_help


def register(sub: argparse._SubParsersAction) -> None:
    from ..experiments.reproduce import TABLES

    p = sub.add_parser(
        "reproduce",
        help="write a paper table (params, FLOPs, accuracy) beside ours, plus a Figure 1/5 plot",
        description="Writes OUT/<table>.md and OUT/figure1_5.png. Params and FLOPs are counted "
        "from effnet's specs; accuracy is filled in only from --results (an 'effnet study' "
        'results.json, or a JSON object {"row key": top-1}) and otherwise reads "not measured".',
        **example_help(
            "effnet reproduce table2\n"
            "effnet reproduce table3 --out reports\n"
            "effnet reproduce table7 --results runs/study_digits/results.json"
        ),
    )
    p.add_argument("table", choices=TABLES, help="which of the paper's tables")
    p.add_argument("--results", type=Path, help="measured accuracies (JSON) for the last column")
    p.add_argument("--out", type=Path, default=Path("reports"), help="output folder")
    add_overwrite_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..experiments.reproduce import write_report
    from ..fileio import claim_output

    for name in (f"{args.table}.md", "figure1_5.png"):  # the two files write_report writes
        claim_output(args.out / name, [args.results], args.overwrite)
    report, md, png = write_report(args.table, args.out, args.results)
    print(report.markdown)
    print(f"\nwrote {md} and {png}")
    return 0
