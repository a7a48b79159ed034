"""Batches of image files: cut at the same places when resuming, decoded without raising for an
unreadable file, the same in DataLoader workers as in one process, and scored as the model says."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

import effnet
from effnet.data import eval_transform
from effnet.use.image_batches import AlignedBatches, ImageFiles, collate, decode_batch, score
from tests.use.digit_files import PREPROCESS, digits_checkpoint, write_digits


def test_batches_are_cut_at_the_same_places_when_resuming():
    paths = [f"{i}.png" for i in range(10)]
    assert list(AlignedBatches(paths, 4, set())) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    resumed = AlignedBatches(paths, 4, {"0.png", "1.png", "2.png", "3.png", "5.png"})
    assert list(resumed) == [[4, 6, 7], [8, 9]] and len(resumed) == 2 and resumed.todo == 5


def test_unreadable_files_travel_in_their_batch_as_errors(tmp_path):
    (good,) = write_digits(tmp_path / "digits", 1)
    (tmp_path / "notes.png").write_text("not an image")
    paths = [str(good), str(tmp_path / "notes.png"), str(tmp_path / "missing.png")]
    batch = decode_batch(paths, eval_transform(PREPROCESS))
    assert batch.paths == paths and batch.sizes == [(8, 8), None, None]
    assert batch.errors[0] is None
    assert batch.errors[1].startswith("UnidentifiedImageError: cannot identify image file")
    assert batch.errors[2].startswith("FileNotFoundError: ")
    assert batch.pixels.shape == (1, 3, 24, 24)
    assert decode_batch(paths[1:], eval_transform(PREPROCESS)).pixels is None


def test_workers_decode_the_planned_batches_as_one_process_does(tmp_path):
    paths = [str(p) for p in write_digits(tmp_path / "digits", 10)]
    plan = AlignedBatches(paths, 4, {paths[1]})
    transform = eval_transform(PREPROCESS)
    loader = DataLoader(
        ImageFiles(paths, transform), batch_sampler=plan, num_workers=2, collate_fn=collate
    )
    batches = list(loader)
    assert [b.paths for b in batches] == [[paths[i] for i in cut] for cut in plan]
    for batch in batches:
        assert torch.equal(batch.pixels, decode_batch(batch.paths, transform).pixels)


def test_score_fills_the_top_k_and_drops_the_pixels(tmp_path):
    model = effnet.load(digits_checkpoint(tmp_path / "b0.safetensors"))
    paths = [str(p) for p in write_digits(tmp_path / "digits", 10)]
    batch = decode_batch(paths, eval_transform(PREPROCESS))
    with torch.no_grad():
        expected = model(batch.pixels).softmax(dim=1).topk(3, dim=1)
    scored = score(model, batch, 3, torch.device("cpu"))
    assert scored.pixels is None
    assert scored.indices == expected.indices.tolist()
    assert scored.values == expected.values.tolist()
    assert sum(top[0] < 0.9 for top in scored.values) >= 5  # mostly unsure: not saturated
