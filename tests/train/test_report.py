"""What a run prints: rank 0 only, one warning per unreadable file, the start and epoch lines."""

import torch

from effnet.data.loading import Skipped
from effnet.train import TrainConfig
from effnet.train.build import Plan
from effnet.train.checkpoint import Progress
from effnet.train.distributed import Dist
from effnet.train.report import SkipLog, amp_name, epoch_line, printer, start_line


def dist(rank: int, world: int = 2) -> Dist:
    return Dist(rank, world, rank, torch.device("cpu"), owns_group=False)


def test_only_rank_0_speaks_and_err_goes_to_stderr(capsys):
    printer(dist(1))("from rank 1")
    say = printer(dist(0))
    say("to stdout")
    say("to stderr", err=True)
    captured = capsys.readouterr()
    assert captured.out == "to stdout\n"
    assert captured.err == "to stderr\n"


def test_each_unreadable_file_is_warned_about_once_for_the_whole_run(capsys):
    log = SkipLog()
    bad, worse = Skipped("a.jpg", "OSError: truncated"), Skipped("b.png", "ValueError: text")
    log.count([bad, worse])  # training, epoch 1
    log.warn(bad)  # evaluation meets it again
    one = Dist(0, 1, 0, torch.device("cpu"), owns_group=False)
    assert log.take_epoch(one) == ["a.jpg", "b.png"]
    log.count([bad])  # epoch 2
    assert log.take_epoch(one) == ["a.jpg"]
    assert log.take_epoch(one) == []
    warnings = capsys.readouterr().err.splitlines()
    assert warnings == [
        "warning: skipping unreadable image a.jpg (OSError: truncated)",
        "warning: skipping unreadable image b.png (ValueError: text)",
    ]


class Split:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


class Data:
    train, val, test, num_classes = Split(1257), None, Split(360), 10


def test_start_line_says_what_trains_on_what_for_how_long():
    cfg = TrainConfig(dataset="digits", epochs=12, batch_size=32)
    plan = Plan(image_size=24, micro_batch=16, steps_per_epoch=39, total_steps=468, base_lr=0.002)
    line = start_line("efficientnet_b0", cfg, Data(), plan, dist(0), torch.bfloat16)
    assert line == (
        "training efficientnet_b0 on digits (1257 train / 0 minival / 360 test images, "
        "10 classes) at 24px on cpu x2: 12 epochs of 39 steps, batch 32, lr 0.002, amp bf16"
    )
    one = start_line("efficientnet_b0", cfg.replace(epochs=1), Data(), plan, dist(0), None)
    assert ": 1 epoch of 39 steps" in one  # not "1 epochs"


def test_epoch_line_with_and_without_a_minival():
    progress = Progress(step=78, best_val_acc=0.9)
    entry = {"epoch": 2, "train_loss": 0.51234, "lr": 0.00123456}
    assert epoch_line(entry, progress, 12) == (
        "epoch 2/12  step 78  train loss 0.5123  no minival  lr 0.00123"
    )
    entry.update(epoch=2.5, val_acc=0.875)
    assert "epoch 2.5/12" in epoch_line(entry, progress, 12)
    assert "minival top-1 87.50% (best 90.00%)" in epoch_line(entry, progress, 12)


def test_amp_names_match_the_config_values():
    assert [amp_name(x) for x in (None, torch.bfloat16, torch.float16)] == ["off", "bf16", "fp16"]
