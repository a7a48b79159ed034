"""The one accuracy loop: counts, top-k, loss, confusion, skipped files, and merging ranks."""

import math

import numpy as np
import torch
from torch import nn

from effnet.data.loading import Skipped
from effnet.evaluation import Scores, evaluate


class FixedLogits(nn.Module):
    """Returns the logits stored for each input id (the first pixel of each image)."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = nn.Parameter(logits, requires_grad=False)
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        return self.logits[x[:, 0, 0, 0].long()]


def images(*ids: int) -> torch.Tensor:
    return torch.tensor(ids, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 3, 2, 2)


LOGITS = torch.tensor(
    [
        [5.0, 1.0, 0.0],  # id 0: predicts 0
        [0.0, 2.0, 3.0],  # id 1: predicts 2, then 1
        [1.0, 0.0, 4.0],  # id 2: predicts 2, then 0
    ]
)


def test_counts_topk_loss_and_confusion():
    model = FixedLogits(LOGITS).train()
    batches = [
        (images(0, 1), torch.tensor([0, 1]), []),
        (images(2), torch.tensor([0]), []),
    ]
    scores = evaluate(model, batches, topk=2, num_classes=3)
    assert (scores.count, scores.correct, scores.topk_correct) == (3, 1, 3)
    assert scores.top1 == 1 / 3 and scores.topk_accuracy == 1.0
    expected_loss = nn.functional.cross_entropy(LOGITS, torch.tensor([0, 1, 0]), reduction="sum")
    assert math.isclose(scores.loss_sum, expected_loss.item(), rel_tol=1e-6)
    np.testing.assert_array_equal(scores.confusion, [[1, 0, 1], [0, 0, 1], [0, 0, 0]])
    assert model.modes == [False, False] and model.training  # evaluated in eval mode, restored


def test_unreadable_images_are_skipped_named_and_not_counted():
    model = FixedLogits(LOGITS)
    seen = []
    bad = Skipped("photos/broken.jpg", "OSError: truncated")
    batches = [(None, torch.empty(0, dtype=torch.long), [bad]), (images(0), torch.tensor([0]), [])]
    scores = evaluate(model, batches, on_skipped=seen.append)
    assert scores.count == 1 and scores.skipped == ["photos/broken.jpg"] and seen == [bad]


def test_nothing_scored_is_nan_not_a_division_error():
    scores = Scores()
    assert math.isnan(scores.top1) and math.isnan(scores.loss)


def test_ranks_merge_by_adding_counts():
    part = Scores(count=2, correct=1, topk_correct=2, loss_sum=0.5, topk=5)
    other = Scores(count=3, correct=3, topk_correct=3, loss_sum=1.0, topk=5)
    merged = part.merge([a + b for a, b in zip(part.totals(), other.totals(), strict=True)])
    assert (merged.count, merged.correct, merged.topk_correct) == (5, 4, 5)
    assert merged.loss == 1.5 / 5 and merged.topk == 5


def test_ties_go_to_the_first_class_as_argmax_does():
    model = FixedLogits(torch.zeros(1, 10))  # a zero-initialised head scores every class alike
    scores = evaluate(model, [(images(0, 0), torch.tensor([0, 3]), [])], topk=5, num_classes=10)
    assert scores.correct == 1 and scores.topk_correct >= 1
    assert scores.confusion[0, 0] == 1 and scores.confusion[3, 0] == 1
