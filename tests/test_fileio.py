"""Atomic writes: a crash mid-write leaves the old file whole and no temporary file behind."""

import pytest

from effnet.fileio import atomic_write


def test_success_replaces_the_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "sub" / "state.json"
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


@pytest.mark.parametrize("durable", [False, True])
def test_a_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path, durable):
    target = tmp_path / "model.safetensors"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_write(target, durable) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
