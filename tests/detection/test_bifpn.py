"""BiFPN topology, SAME max pooling and fast normalised fusion."""

import torch

from effnet.detection.bifpn import BiFPN, FusionNode, bifpn_nodes, max_pool_same


def test_the_cell_is_the_papers_top_down_then_bottom_up_graph():
    # inputs P3..P7 are 0..4; top-down nodes P6'..P3' are 5..8, bottom-up P4''..P7'' 9..12
    assert bifpn_nodes(5) == [
        (3, (3, 4)),
        (2, (2, 5)),
        (1, (1, 6)),
        (0, (0, 7)),
        (1, (1, 7, 8)),
        (2, (2, 6, 9)),
        (3, (3, 5, 10)),
        (4, (4, 11)),
    ]


def test_same_max_pool_halves_with_ceil_and_pads_with_minus_infinity():
    x = -torch.rand(1, 1, 5, 5) - 1  # all negative: zero padding would win the max at the edge
    out = max_pool_same(x)
    assert out.shape[-2:] == (3, 3)
    assert (out < 0).all()
    assert max_pool_same(torch.zeros(1, 1, 8, 6)).shape[-2:] == (4, 3)


def test_fast_fusion_is_a_normalised_weighted_sum():
    node = FusionNode(0, (0, 1), (4, 4), 4, "fast", 1e-3, 0.01)
    seen = []
    node.conv.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    with torch.no_grad():
        node.weight.copy_(torch.tensor([3.0, -1.0]))  # relu: the second input is switched off
    a, b = torch.randn(1, 4, 2, 2), torch.randn(1, 4, 2, 2)
    node.eval()(([a, b]), (2, 2))
    expected = torch.nn.functional.silu(3.0 * a / (3.0 + 1e-4))
    torch.testing.assert_close(seen[0], expected)


def test_bifpn_outputs_five_levels_at_its_width():
    fpn = BiFPN([40, 112, 320], channels=16, repeats=2).eval()
    maps = [torch.randn(1, c, s, s) for c, s in ((40, 8), (112, 4), (320, 2))]
    out = fpn(maps)
    assert [tuple(m.shape) for m in out] == [(1, 16, s, s) for s in (8, 4, 2, 1, 1)]
    assert fpn.cells[1].nodes[0].lateral.keys() == set()  # only the first cell projects inputs
    assert set(fpn.cells[0].nodes[4].lateral) == {"1"}  # P4 from the backbone, projected again
