"""Generated COCO annotation files, valid and broken, through the command that reads them.

``effnet eval FOLDER --weights DETECTOR`` is the command: it reads a COCO folder in about a second
(a 1-step ``effnet train`` takes ten times as long, for the same reader). Whatever the file holds
(boxes inside, across or outside the border, degenerate or NaN; duplicate or unknown ids; wrong
types; missing keys; no object at all), the command succeeds or ends in exit 2 with one line
naming annotations.json, within the bounds below; the reader on its own is fuzzed harder.
"""

import contextlib
import copy
import resource
import signal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from effnet.detection.coco import CocoFolder
from tests.test_fuzz import FUZZ, JSON, ends_cleanly

from .cocofiles import SIZE, copy_folder, detector, shapes_folder

#: What one generated case may cost: seconds of wall time, and address space it may add.
SECONDS = 60
MEMORY = 2 << 30


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    coco = shapes_folder(root / "data")
    return {"data": root / "data", "coco": coco, "ckpt": detector(root / "d0.safetensors")}


@contextlib.contextmanager
def bounded():
    """Fail a case that runs past SECONDS or grows the address space past MEMORY (RLIMIT_AS, so
    an allocation beyond it raises MemoryError, which no command turns into exit 2)."""

    def too_slow(*_):
        pytest.fail(f"a generated case ran longer than {SECONDS} s")

    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[0])
    used = pages * resource.getpagesize()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    previous = signal.signal(signal.SIGALRM, too_slow)
    resource.setrlimit(resource.RLIMIT_AS, (used + MEMORY, hard))
    signal.alarm(SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, previous)


NUMBER = (
    st.integers(-40, 80)
    | st.floats(-40, 80)
    | st.sampled_from([float("nan"), float("inf"), -float("inf"), 10**400, 1e308, 0, -0.0])
)
SECTIONS = ["images", "annotations", "categories"]
KEYS = {
    "images": ["id", "file_name", "width", "height"],
    "annotations": ["id", "image_id", "category_id", "bbox", "area", "iscrowd"],
    "categories": ["id", "name"],
}
ENTRY = st.sampled_from(SECTIONS).flatmap(
    lambda s: st.tuples(st.just(s), st.integers(0, 3), st.sampled_from(KEYS[s]))
)
VALUE = JSON | NUMBER | st.lists(NUMBER, max_size=5) | st.integers(1, 4)
BOX = st.lists(NUMBER, min_size=3, max_size=5)

#: One change to a valid file: what a careless export, a hand edit or a hostile file does.
CHANGE = st.one_of(
    st.tuples(st.just("set"), ENTRY, VALUE).map(lambda c: (c[0], *c[1], c[2])),
    st.tuples(st.just("drop"), ENTRY).map(lambda c: (c[0], *c[1])),
    st.tuples(st.just("set"), st.just("annotations"), st.integers(0, 6), st.just("bbox"), BOX),
    st.tuples(st.just("copy"), st.sampled_from(SECTIONS), st.integers(0, 3)),
    st.tuples(st.just("section"), st.sampled_from(SECTIONS), JSON),
    st.tuples(st.just("renumber"), st.permutations([1, 2, 3, 4])),
    st.tuples(st.just("whole"), JSON),
)


def apply(coco, change):
    """``change`` applied to a copy of ``coco`` (changes that miss their entry change nothing)."""
    coco = copy.deepcopy(coco)
    kind, *args = change
    if kind == "whole":
        return args[0]
    if not isinstance(coco, dict):
        return coco
    if kind == "section":
        coco[args[0]] = args[1]
    elif kind == "renumber":  # the same categories under other ids: still a valid file
        ids = dict(zip([1, 2, 3, 4], args[0], strict=True))
        for section, key in (("categories", "id"), ("annotations", "category_id")):
            for entry in coco.get(section) if isinstance(coco.get(section), list) else []:
                if isinstance(entry, dict) and type(entry.get(key)) is int and entry[key] in ids:
                    entry[key] = ids[entry[key]]
    else:
        change_entry(coco, kind, *args)
    return coco


def change_entry(coco, kind, section, index, key=None, value=None):
    entries = coco.get(section)
    if not isinstance(entries, list) or index >= len(entries):
        return
    entry = entries[index]
    if kind == "copy":
        entries.append(copy.deepcopy(entry))
    elif isinstance(entry, dict) and kind == "set":
        entry[key] = value
    elif isinstance(entry, dict):
        entry.pop(key, None)


def write_case(shapes, folder, changes):
    coco = shapes["coco"]
    for change in changes:
        coco = apply(coco, change)
    return copy_folder(shapes["data"], folder, coco)


def evaluates_or_is_one_line(capsys, shapes, folder, changes):
    write_case(shapes, folder, changes)
    argv = ["eval", str(folder), "--weights", str(shapes["ckpt"])]
    with bounded():
        ends_cleanly(capsys, argv, folder, "annotations.json", allow_success=True)


@settings(FUZZ, max_examples=6)  # each case loads the detector: the reader is fuzzed below
@given(changes=st.lists(CHANGE, min_size=1, max_size=3))
def test_any_annotations_evaluate_or_are_one_line(capsys, shapes, tmp_path_factory, changes):
    evaluates_or_is_one_line(capsys, shapes, tmp_path_factory.mktemp("coco"), changes)


@pytest.mark.slow
@settings(FUZZ, max_examples=150)
@given(changes=st.lists(CHANGE, min_size=1, max_size=3))
def test_many_annotations_evaluate_or_are_one_line(capsys, shapes, tmp_path_factory, changes):
    evaluates_or_is_one_line(capsys, shapes, tmp_path_factory.mktemp("coco"), changes)


@settings(FUZZ, max_examples=100)
@given(changes=st.lists(CHANGE, min_size=1, max_size=3))
def test_the_reader_takes_any_annotations_or_names_the_file(shapes, tmp_path_factory, changes):
    """The reader alone, many more cases: a folder reads whole (every image and its boxes, which
    lie inside the image) or fails with one ValueError/OSError line naming annotations.json."""
    folder = write_case(shapes, tmp_path_factory.mktemp("coco"), changes)
    try:
        with bounded():
            data = CocoFolder(folder, SIZE)
            targets = [data[i][1] for i in range(len(data))]
    except (ValueError, OSError) as err:
        assert str(err).startswith(f"{folder / 'annotations.json'}: ") and "\n" not in str(err)
        return
    for box in (t["boxes"] for t in targets if len(t["boxes"])):
        assert box.isfinite().all() and (box[:, 2:] > box[:, :2]).all()
        assert box.min() >= 0 and box.max() <= SIZE
