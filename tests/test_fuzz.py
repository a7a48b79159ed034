"""Trying to break the CLI as a careless or hostile user would: generated bad inputs of every family
the robustness issue found (checkpoint headers and tensors, images, specs, configs, outputs that
are inputs, a full disk). Whatever the input, a command ends in success or in one line naming the
problem with exit code 2; never a traceback, and never a changed or new file beside its inputs."""

import contextlib
import json
import resource
import signal
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import effnet
from effnet import spec as net
from effnet.cli import main
from effnet.data import Preprocess
from effnet.data.images import open_image
from effnet.data.preprocess import to_rgb
from effnet.spec import EFFICIENTNET_B0
from effnet.weights import save_model
from tests.data.test_images import png_header

FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A 3-class B0 checkpoint, its header and tensors, and a good image, in one folder."""
    root = tmp_path_factory.mktemp("inputs")
    ckpt = save_model(
        root / "b0.safetensors",
        effnet.create_model("efficientnet_b0", num_classes=3),
        ["a", "b", "c"],
        Preprocess(32),
    )
    with safe_open(str(ckpt), framework="pt") as f:
        meta = f.metadata()
    Image.fromarray(np.full((20, 20, 3), 128, np.uint8)).save(root / "good.png")
    (root / "unreadable.png").write_bytes(b"\x89PNG\r\n\x1a\n and nothing else")
    return {"root": root, "ckpt": ckpt, "meta": meta, "state": load_file(str(ckpt))}


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def ends_cleanly(capsys, argv, folder, *fragments, allow_success=False):
    """Exit 2 with one line holding ``fragments`` (or 0, if allowed); nothing in folder changes."""
    before = snapshot(folder)
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert snapshot(folder) == before, "a command changed or added a file beside its inputs"
    if code == 0 and allow_success:
        return
    assert code == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith(f"effnet {argv[0]}: error: "), err
    for fragment in fragments:
        assert fragment in err, err


def write_checkpoint(folder, inputs, meta=None, state=None):
    path = folder / "fuzzed.safetensors"
    save_file(state or inputs["state"], str(path), metadata=meta or inputs["meta"])
    return path


# ---- outputs that are inputs --------------------------------------------------------------------
@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink"])
def test_no_command_writes_over_its_own_input(capsys, inputs, tmp_path, monkeypatch, spelling):
    monkeypatch.chdir(tmp_path)
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(inputs["ckpt"].read_bytes())
    out = {"same": str(weights), "dotted": "./sub/../w.safetensors", "symlink": "link.pt"}[spelling]
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.pt").symlink_to(weights)
    for argv in (
        ["export", "--weights", str(weights), "--format", "torchscript", "--out", out],
        ["convert", "--to", "timm", "--no-strict", str(weights), "--out", out],
        ["convert", "--from", "timm", str(weights), "--out", out],
    ):
        ends_cleanly(capsys, argv, tmp_path, "is the input file", "choose another output path")


# ---- checkpoint headers and tensors --------------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = ["format", "spec", "num_classes", "in_chans", "padding", "class_names", "preprocess"]


@FUZZ
@given(
    field=st.sampled_from([*FIELDS, "extra"]),
    value=st.none() | st.text(max_size=20) | JSON.map(json.dumps) | st.just("[" * 5000),
)
def test_any_header_value_loads_or_is_one_line(capsys, inputs, tmp_path_factory, field, value):
    folder = tmp_path_factory.mktemp("header")
    meta = {k: v for k, v in {**inputs["meta"], field: value}.items() if v is not None}
    path = write_checkpoint(folder, inputs, meta=meta)
    # A header that loads gets as far as the image, which exists (so the model is loaded first)
    # but is unreadable: exit 2 either way.
    argv = ["predict", "--weights", str(path), str(inputs["root"] / "unreadable.png")]
    ends_cleanly(capsys, argv, folder)


#: How much more address space than it already has the test process may take while a fuzzed
#: header is loaded: a header can make effnet build a model only as large as the weights the
#: file holds (here B0's 4M values), so 2 GiB is ample, and a header asking for the 103 GB model
#: its fields allow one by one fails on the limit (MemoryError) instead of swapping the machine.
HEADROOM = 2 << 30


@contextlib.contextmanager
def bounded_memory(headroom=HEADROOM):
    """RLIMIT_AS at the process's current size plus ``headroom`` (restored after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    status = Path("/proc/self/status").read_text()
    size = int(status.split("VmSize:")[1].split()[0]) * 1024
    limit = size + headroom if hard == resource.RLIM_INFINITY else min(size + headroom, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def biased(high):
    """Integers up to ``high`` (a per-field bound), small ones as often as large ones."""
    return st.integers(1, 8) | st.integers(1, high)


#: Specs whose every field is within its own bound, most of them enormous in total.
STAGES = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(net.BLOCK_KINDS),
        "kernel": biased(net.MAX_KERNEL),
        "stride": biased(net.MAX_STRIDE),
        "expand": st.floats(0.05, 64),
        "out_channels": biased(net.MAX_CHANNELS),
        "repeats": biased(net.MAX_REPEATS),
        "se_ratio": st.floats(0, 1),
    }
)
SPECS = st.fixed_dictionaries(
    {
        "stem": st.fixed_dictionaries(
            {"channels": biased(net.MAX_CHANNELS), "kernel": biased(net.MAX_KERNEL)}
        ),
        "stages": st.lists(STAGES, min_size=1, max_size=8),
        "head_channels": st.none() | biased(net.MAX_CHANNELS),
        "resolution": biased(net.MAX_RESOLUTION),
    }
)
#: Values of every JSON type and range, for each preprocessing field.
ANY_VALUE = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.integers(), max_size=4)
    | JSON
)


@settings(FUZZ, max_examples=40, deadline=20_000)  # ms per case: a 0.5 s load, on a busy CPU
@given(
    spec=SPECS,
    field=st.sampled_from(["resolution", "crop_pct", "interpolation", "mean", "std"]),
    value=ANY_VALUE,
    counts=st.fixed_dictionaries({"num_classes": biased(10**12), "in_chans": biased(10**6)}),
    change=st.sets(st.sampled_from(["spec", "preprocess", "counts"]), min_size=1),
)
def test_headers_huge_in_total_or_of_any_type_load_or_are_one_line(
    capsys, inputs, tmp_path_factory, spec, field, value, counts, change
):
    """Acceptance: a checkpoint header with a spec huge in total (each field within its bound),
    any value of any preprocessing field, or any class or channel count ends in success or one
    line with exit 2, within 20 s, with the process held to ``HEADROOM`` (2 GiB) more address
    space than it had (RLIMIT_AS)."""
    folder = tmp_path_factory.mktemp("bounded")
    meta = dict(inputs["meta"])
    if "spec" in change:
        base = EFFICIENTNET_B0.to_dict()
        meta["spec"] = json.dumps({**base, **spec, "stem": {**base["stem"], **spec["stem"]}})
    if "preprocess" in change:
        pre = {**json.loads(meta["preprocess"]), field: value}
        meta["preprocess"] = json.dumps(pre, allow_nan=True)
    if "counts" in change:
        meta.update({key: str(number) for key, number in counts.items()}, class_names="null")
    path = write_checkpoint(folder, inputs, meta=meta)
    argv = ["predict", "--weights", str(path), str(inputs["root"] / "unreadable.png")]
    with bounded_memory():
        ends_cleanly(capsys, argv, folder)


@FUZZ
@given(cut=st.integers(min_value=0, max_value=200_000))
def test_any_truncation_of_a_checkpoint_is_called_damaged(capsys, inputs, tmp_path_factory, cut):
    folder = tmp_path_factory.mktemp("cut")
    path = folder / "cut.safetensors"
    path.write_bytes(inputs["ckpt"].read_bytes()[:cut])
    for model in ([], ["--model", "efficientnet_b0"]):
        argv = ["predict", "--weights", str(path), *model, str(inputs["root"] / "good.png")]
        ends_cleanly(capsys, argv, folder, "cut.safetensors is not a readable safetensors file")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.to(torch.int8), "is int8, not a floating-point type"),
        (lambda t: t.fill_(float("nan")), "NaN or infinite values"),
        (lambda t: t.fill_(float("-inf")), "NaN or infinite values"),
    ],
)
@pytest.mark.parametrize("key", ["stem.conv.weight", "classifier.bias"])
def test_weights_that_would_predict_nan_are_refused(capsys, inputs, tmp_path, change, message, key):
    state = {k: v.clone() for k, v in inputs["state"].items()}
    state[key] = change(state[key]).contiguous()
    path = write_checkpoint(tmp_path, inputs, state=state)
    argv = ["predict", "--weights", str(path), str(inputs["root"] / "good.png")]
    ends_cleanly(capsys, argv, tmp_path, f"tensor '{key}'", message)


# ---- images --------------------------------------------------------------------------------------
#: The first bytes of each format, so that fuzzed files reach the decoders, not just the sniffing.
MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"II*\x00", b"GIF89a", b"BM"]


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")  # PIL on random bytes
@settings(FUZZ, max_examples=200)
@given(magic=st.sampled_from(MAGIC), data=st.binary(max_size=300))
def test_any_bytes_open_as_an_image_or_are_one_valueerror(tmp_path_factory, magic, data):
    """What every command's image reading does (predict, cam, eval, training) with any bytes."""
    path = tmp_path_factory.mktemp("img") / "fuzzed.png"
    path.write_bytes(magic + data)
    try:
        image = open_image(path)
    except ValueError as err:
        assert str(err).startswith(f"{path} is not a readable image (")
        return
    assert to_rgb(image).mode == "RGB"


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")  # PIL on random bytes
@settings(FUZZ, max_examples=4)  # each example loads the model: the decoder is fuzzed above
@given(
    magic=st.sampled_from(MAGIC),
    data=st.binary(max_size=300),
    suffix=st.sampled_from([".png", ".jpg", ".tif", ".gif"]),
)
def test_any_bytes_named_as_an_image_predict_or_are_one_line(
    capsys, inputs, tmp_path_factory, magic, data, suffix
):
    folder = tmp_path_factory.mktemp("img")
    image = folder / f"fuzzed{suffix}"
    image.write_bytes(magic + data)
    argv = ["predict", "--weights", str(inputs["ckpt"]), str(image)]
    ends_cleanly(capsys, argv, folder, "fuzzed", allow_success=True)


@pytest.mark.parametrize("command", ["predict", "cam"])
@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (2**31 - 1, 2)])
def test_a_decompression_bomb_is_one_line_naming_it(
    capsys, inputs, tmp_path, command, width, height
):
    bomb = png_header(tmp_path / "bomb.png", width, height)
    argv = (
        ["predict", "--weights", str(inputs["ckpt"]), str(bomb)]
        if command == "predict"
        else ["cam", str(bomb), "--weights", str(inputs["ckpt"]), "--out", str(tmp_path / "c.png")]
    )
    ends_cleanly(capsys, argv, tmp_path, "bomb.png is not a readable image")


def test_a_bomb_in_an_image_folder_is_skipped_by_name(capsys, inputs, tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        Image.fromarray(np.full((20, 20), 100, np.uint8)).save(tmp_path / name / "ok.png")
    png_header(tmp_path / "b" / "bomb.png", 100_000, 100_000)
    argv = ["eval", "--weights", str(inputs["ckpt"]), "--no-progress", "--confusion", "none"]
    assert main([*argv, str(tmp_path)]) == 0
    captured = capsys.readouterr()
    (warning,) = captured.err.strip().splitlines()
    assert warning.startswith("warning: skipping unreadable image ") and "bomb.png" in warning
    assert "skipped 1 unreadable images" in captured.out


# ---- specs, scaling, configs ---------------------------------------------------------------------
@FUZZ
@given(
    where=st.sampled_from(["stem", "stage", "net"]),
    key=st.sampled_from(["kernel", "stride", "channels", "out_channels", "repeats", "resolution",
                         "expand", "se_ratio", "head_channels", "dropout", "bogus"]),
    value=JSON,
)  # fmt: skip
def test_any_spec_file_profiles_or_is_one_line(capsys, tmp_path_factory, where, key, value):
    folder = tmp_path_factory.mktemp("spec")
    spec = EFFICIENTNET_B0.to_dict()
    {"stem": spec["stem"], "stage": spec["stages"][2], "net": spec}[where][key] = value
    path = folder / "spec.json"
    path.write_text(json.dumps(spec))
    argv = ["profile", str(path), "--no-cross-check"]
    ends_cleanly(capsys, argv, folder, allow_success=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stride": 0}, r"StageSpec.stride must be in [1, 8], got 0"),
        ({"kernel": 0}, r"StageSpec.kernel must be in [1, 31], got 0"),
        ({"bogus": 1}, "unexpected keyword argument 'bogus'"),
    ],
)
def test_named_spec_errors(capsys, tmp_path, change, message):
    spec = EFFICIENTNET_B0.to_dict()
    spec["stages"][1].update(change)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    argv = ["profile", str(tmp_path / "spec.json"), "--no-cross-check"]
    ends_cleanly(capsys, argv, tmp_path, "spec.json is not a valid spec", message)
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    argv = ["profile", str(tmp_path / "deep.json"), "--no-cross-check"]
    ends_cleanly(capsys, argv, tmp_path, "JSON nested too deeply")


def test_scaling_to_an_impossible_network_is_one_line(capsys, tmp_path):
    argv = [
        "scale",
        "--base",
        "efficientnet_b0",
        "--phi",
        "1000",
        "--out",
        str(tmp_path / "s.json"),
    ]
    ends_cleanly(capsys, argv, tmp_path, "a resolution of 1.12e+63", "no such network")


def test_an_error_inside_a_config_names_the_file_and_line(capsys, inputs, tmp_path):
    config = tmp_path / "mine.py"
    config.write_text(
        "from effnet.train import TrainConfig\n\n"
        "def get_config():\n"
        "    table = {'a': 1}\n"
        "    return TrainConfig(epochs=table['b'])\n"
    )
    # (``effnet train`` reads configs through effnet.detection first, which calls get_config()
    # itself; finetune reads them through effnet.train alone.)
    argv = ["finetune", str(tmp_path), "--weights", str(inputs["ckpt"]), "--config", str(config)]
    ends_cleanly(capsys, argv, tmp_path, "mine.py, line 5: KeyError: 'b'")


# ---- a full disk, a folder that is a file --------------------------------------------------------
@pytest.fixture
def full_disk():
    """Writes past 1 MB fail with EFBIG, as on a full disk (RLIMIT_FSIZE; SIGXFSZ ignored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_a_full_disk_during_export_keeps_the_previous_file(capsys, inputs, tmp_path, full_disk):
    out = tmp_path / "b0.pt"
    out.write_bytes(b"the previous export")
    argv = ["export", "--weights", str(inputs["ckpt"]), "--format", "torchscript", "--no-check",
            "--resolution", "32", "--out", str(out), "--overwrite"]  # fmt: skip
    ends_cleanly(capsys, argv, tmp_path, f"cannot write {out}: File too large", "is unchanged")


def test_writing_into_a_folder_that_is_a_file_is_one_line(capsys, inputs, tmp_path):
    out = inputs["root"] / "good.png" / "b1.json"
    argv = ["scale", "--base", "efficientnet_b0", "--phi", "1", "--out", str(out)]
    ends_cleanly(capsys, argv, inputs["root"], "good.png")
    assert "[Errno" not in capsys.readouterr().err


def test_debug_shows_what_one_line_hides(capsys, inputs, tmp_path):
    path = tmp_path / "header.safetensors"
    path.write_bytes(struct.pack("<Q", 10**12) + b"{}")  # a header length beyond the file
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        main(["--debug", "predict", "--weights", str(path), str(inputs["root"] / "good.png")])
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        main(["predict", "--weights", str(path), str(inputs["root"] / "good.png"), "--debug"])


def test_export_into_a_folder_it_may_not_write_is_one_line(capsys, inputs, tmp_path):
    out = "/sys/b0.pt"  # not writable, even for root
    argv = ["export", "--weights", str(inputs["ckpt"]), "--format", "torchscript", "--no-check",
            "--resolution", "32", "--out", out]  # fmt: skip
    # the export is staged in a folder beside the file: mkdir there says EPERM, open EACCES
    ends_cleanly(capsys, argv, inputs["root"], f"cannot write {out}: Operation not permitted")
