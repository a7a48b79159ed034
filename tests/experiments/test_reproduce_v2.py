"""``effnet reproduce v2``: the V2 paper's figures beside effnet's exact counts."""

from effnet.cli import main
from effnet.experiments.reproduce import Measured, build_report
from effnet.experiments.reproduce_v2 import V2_PEERS, v2_table
from effnet.variants_v2 import V2_PAPER


def test_every_v2_variant_has_a_row_with_our_counts_beside_the_papers():
    lines, rows = v2_table({"efficientnetv2_b0": 71.5})
    assert [r["key"] for r in rows] == list(V2_PAPER) == list(V2_PEERS)
    s = next(r for r in rows if r["key"] == "efficientnetv2_s")
    assert (s["params"], s["train_resolution"], s["resolution"]) == (21_458_488, 300, 384)
    assert s["paper_flops_b"] == 8.8 and abs(s["macs"] / 1e9 - 8.366) < 1e-3
    assert "| efficientnetv2_b0 | 192 / 224 | 7.1 | 7,139,704 |" in "\n".join(lines)
    assert "| 71.50 |" in lines[6] and "not measured" in lines[7]
    assert "87.3 (21k)" in lines[-1]


def test_reproduce_v2_through_the_cli(tmp_path, capsys):
    assert main(["reproduce", "v2", "--out", str(tmp_path)]) == 0
    assert "efficientnetv2_xl" in (tmp_path / "v2.md").read_text()
    report = build_report("v2", Measured({"efficientnetv2_s": 83.0}, "a test"))
    assert "| 83.00 |" in report.markdown and "Measured top-1: a test." in report.markdown
    capsys.readouterr()
    assert main(["models", "efficientnetv2_*"]) == 0
    out = capsys.readouterr().out
    assert "efficientnetv2_s    384      21.458" in out and "83.9" in out
