"""TF-style RMSProp against the formula (docs/paper.md section 7 and 9), and against torch's
RMSprop; parameter groups (decay, backbone lr scale) and the optimizer a config asks for."""

import copy

import numpy as np
import pytest
import torch

import effnet
from effnet.train import TrainConfig
from effnet.train.optim import RMSpropTF, build_optimizer, param_groups

SHAPES = [(7,), (3, 5), (4, 3, 3, 3)]
LR, DECAY, MOMENTUM, EPS, WD = 0.016, 0.9, 0.9, 1e-3, 1e-5


def gradient(w: np.ndarray, step: int, scale: np.ndarray) -> np.ndarray:
    """A gradient that depends on the weights (a quadratic bowl) plus a step-dependent push,
    so an error in one step changes every later one."""
    return scale * w + 0.05 * np.sin(step + np.arange(w.size).reshape(w.shape))


def reference_tf(w0, scale, steps, lr=LR, decay=DECAY, momentum=MOMENTUM, eps=EPS, wd=WD):
    """TensorFlow 1's RMSProp written from its formula, in float64:
    ms starts at 1; ms = decay*ms + (1-decay)*g^2; mom = momentum*mom + lr*g/sqrt(ms+eps); w -= mom
    """
    w, ms, mom = w0.astype(np.float64), np.ones_like(w0, np.float64), np.zeros_like(w0, np.float64)
    for k in range(steps):
        g = gradient(w, k, scale) + wd * w
        ms = decay * ms + (1 - decay) * g * g
        mom = momentum * mom + lr * g / np.sqrt(ms + eps)
        w = w - mom
    return w


def reference_torch_form(w0, scale, steps, lr=LR, alpha=DECAY, momentum=MOMENTUM, eps=EPS, wd=WD):
    """PyTorch's documented RMSprop: v starts at 0, eps outside the root, lr outside momentum."""
    w, v, buf = w0.astype(np.float64), np.zeros_like(w0, np.float64), np.zeros_like(w0, np.float64)
    for k in range(steps):
        g = gradient(w, k, scale) + wd * w
        v = alpha * v + (1 - alpha) * g * g
        buf = momentum * buf + g / (np.sqrt(v) + eps)
        w = w - lr * buf
    return w


def run_torch(optimizer_cls, w0, scale, steps, **kwargs):
    p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float32))
    opt = optimizer_cls([p], **kwargs)
    for k in range(steps):
        w = p.detach().double().numpy()
        p.grad = torch.tensor(gradient(w, k, scale), dtype=torch.float32)
        opt.step()
    return p.detach().double().numpy()


def setup_case(shape, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape), rng.uniform(0.1, 2.0, size=shape)


@pytest.mark.parametrize("steps", [1, 10])
@pytest.mark.parametrize("shape", SHAPES)
def test_rmsprop_tf_matches_the_formula(shape, steps):
    w0, scale = setup_case(shape, seed=len(shape) * 10 + steps)
    ours = run_torch(RMSpropTF, w0, scale, steps, lr=LR, decay=DECAY, momentum=MOMENTUM, eps=EPS,
                     weight_decay=WD)  # fmt: skip
    expected = reference_tf(w0, scale, steps)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(ours, w0)  # it moved


@pytest.mark.parametrize("shape", SHAPES)
def test_torch_rmsprop_with_the_same_eps_differs_measurably(shape):
    w0, scale = setup_case(shape, seed=99)
    steps = 10
    ours = run_torch(RMSpropTF, w0, scale, steps, lr=LR, decay=DECAY, momentum=MOMENTUM, eps=EPS,
                     weight_decay=WD)  # fmt: skip
    theirs = run_torch(torch.optim.RMSprop, w0, scale, steps, lr=LR, alpha=DECAY,
                       momentum=MOMENTUM, eps=EPS, weight_decay=WD)  # fmt: skip
    # Our reference of torch's form really is what torch computes, so the comparison is fair ...
    np.testing.assert_allclose(theirs, reference_torch_form(w0, scale, steps), rtol=1e-5, atol=1e-6)
    # ... and the two optimizers end far apart: torch's first steps are huge (v starts at 0),
    # TF's are small (ms starts at 1).
    moved_ours = np.abs(ours - w0).mean()
    moved_theirs = np.abs(theirs - w0).mean()
    gap = np.abs(ours - theirs).max()
    print(f"\n{shape}: mean |dw| TF-style {moved_ours:.4g}, torch {moved_theirs:.4g}, "
          f"max |w_tf - w_torch| {gap:.4g}")  # fmt: skip
    assert gap > 0.1
    assert moved_theirs > 1.5 * moved_ours


def test_first_step_is_small_because_the_accumulator_starts_at_one():
    # One step from ms=1: ms = 0.9 + 0.1 g^2, update = lr * g / sqrt(ms + eps).
    p = torch.nn.Parameter(torch.zeros(3))
    opt = RMSpropTF([p], lr=0.1, decay=0.9, momentum=0.0, eps=1e-3)
    p.grad = torch.tensor([1.0, -2.0, 0.5])
    opt.step()
    g = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(p.detach().numpy(), -0.1 * g / np.sqrt(0.9 + 0.1 * g * g + 1e-3),
                               rtol=1e-6)  # fmt: skip


def test_lr_change_does_not_rescale_accumulated_momentum():
    # TF folds lr into the momentum buffer: after a step at lr=1, a step at lr=0 still moves the
    # weights by momentum * (previous update); torch's form would move them by 0.
    p = torch.nn.Parameter(torch.zeros(1))
    opt = RMSpropTF([p], lr=1.0, decay=0.9, momentum=0.5, eps=1e-3)
    p.grad = torch.ones(1)
    opt.step()
    first = p.item()
    opt.param_groups[0]["lr"] = 0.0
    opt.step()
    assert p.item() - first == pytest.approx(0.5 * first, rel=1e-6)


def test_state_dict_round_trip_continues_identically():
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(5))
    b = torch.nn.Parameter(a.detach().clone())
    opt_a = RMSpropTF([a], lr=0.01)
    for _ in range(3):
        a.grad = a.detach() * 2
        opt_a.step()
    opt_b = RMSpropTF([b], lr=0.01)
    b.data.copy_(a.detach())
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))  # as if read from disk
    for _ in range(3):
        a.grad, b.grad = a.detach() * 2, b.detach() * 2
        opt_a.step()
        opt_b.step()
    assert torch.equal(a, b)


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="eps"):
        RMSpropTF([torch.nn.Parameter(torch.zeros(1))], eps=0.0)


def test_param_groups_decay_only_weights_and_scale_the_backbone():
    model = effnet.create_model("efficientnet_b0", num_classes=10)
    cfg = TrainConfig(weight_decay=1e-5, backbone_lr_scale=0.1)
    groups = param_groups(model, cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    for group in groups:
        for p in group["params"]:
            name = names[id(p)]
            is_bn_or_bias = p.ndim <= 1
            assert group["weight_decay"] == (0.0 if is_bn_or_bias else 1e-5), name
            assert group["lr_scale"] == (1.0 if name.startswith("classifier.") else 0.1), name
            assert group["backbone"] == (not name.startswith("classifier.")), name
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert len(groups) == 4  # {head, backbone} x {decayed, not decayed}


def test_frozen_parameters_are_left_out():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    model[0].weight.requires_grad_(False)
    groups = param_groups(model, TrainConfig())
    kept = [p for g in groups for p in g["params"]]
    assert len(kept) == 3 and all(p is not model[0].weight for p in kept)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("rmsprop_tf", RMSpropTF), ("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW)],
)
def test_build_optimizer_follows_the_config(name, expected):
    model = torch.nn.Linear(3, 2)
    cfg = TrainConfig(optimizer=name, momentum=0.8, rmsprop_decay=0.95, rmsprop_eps=1e-2)
    opt = build_optimizer(cfg, param_groups(model, cfg), lr=0.5)
    assert type(opt) is expected
    group = opt.param_groups[0]
    assert group["lr"] == 0.5
    if name == "rmsprop_tf":
        assert (group["decay"], group["momentum"], group["eps"]) == (0.95, 0.8, 1e-2)
    if name == "sgd":
        assert group["momentum"] == 0.8 and group["nesterov"]
