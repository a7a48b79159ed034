"""ExecuTorch (.pte, XNNPACK): real ImageNet Lite0 written at fp32 and int8 and run back by
ExecuTorch's runtime give PyTorch's answers on photographs; int8 keeps the digits Lite0's accuracy;
the companion JSON carries the metadata and catches a file it does not describe; any batch size
runs; B0's asymmetric "SAME" padding and squeeze-excitation lower too."""

import shutil
from pathlib import Path

import pytest
import torch
from executorch.extension.pybindings import portable_lib
from executorch.runtime import Runtime

import effnet
from effnet.deploy import executorch as et
from effnet.deploy.metadata import ArtifactError, companion_path, info_for_model
from tests.photo_inputs import photos, preprocessed, real_lite0, with_statistics

pytestmark = pytest.mark.engines

#: scikit-image's colour photographs: the ImageNet model's test images and calibration set.
TEST_PHOTOS = ("chelsea", "coffee")
CALIBRATION_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "cat", "immunohistochemistry")


@pytest.fixture(scope="module")
def lite0():
    return real_lite0()


@pytest.fixture(scope="module")
def photographs(lite0):
    images = preprocessed(lite0, TEST_PHOTOS)
    with torch.no_grad():
        return images, lite0(images)


@pytest.fixture(scope="module")
def exported(lite0, tmp_path_factory):
    """Lite0 written at fp32 and at int8 (calibrated on photographs), each in its own folder."""
    calibration = preprocessed(lite0, CALIBRATION_PHOTOS, views=3)
    files = {}
    for precision in ("fp32", "int8"):
        path = tmp_path_factory.mktemp(precision) / "lite0.pte"
        info = info_for_model(lite0, "executorch", precision)
        images = calibration if precision == "int8" else None
        files[precision] = et.export(lite0, path, info, images)
    return files


def test_export_writes_the_program_and_its_companion_and_nothing_else(exported):
    for files in exported.values():
        pte, companion = files
        assert pte.suffix == ".pte" and companion == companion_path(pte)
        assert sorted(p.name for p in pte.parent.iterdir()) == ["lite0.pte", "lite0.pte.json"]
        assert pte.read_bytes()[4:6] == b"ET"  # ExecuTorch's flatbuffer identifier (ET + version)
    # int8 weights: a quarter of fp32's, plus the fp32 stem and classifier kept.
    assert exported["int8"][0].stat().st_size < 0.6 * exported["fp32"][0].stat().st_size


def test_fp32_gives_pytorchs_logits_on_photographs(exported, photographs):
    images, expected = photographs
    info, run = et.load(exported["fp32"][0], threads=2)
    logits = run(images)
    assert logits.dtype == torch.float32 and logits.shape == (2, 1000)
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=0)
    assert logits.argmax(1).tolist() == expected.argmax(1).tolist()
    assert info.class_names[int(expected[0].argmax())].lower().endswith("cat")  # a real cat


def test_int8_keeps_the_top_class_on_photographs(exported, photographs):
    images, expected = photographs
    info, run = et.load(exported["int8"][0], threads=2)
    logits = run(images)
    assert info.precision == "int8" and logits.shape == (2, 1000)
    assert logits.argmax(1).tolist() == expected.argmax(1).tolist()
    assert not torch.allclose(logits, expected, atol=1e-3)  # really int8, not the fp32 graph


def test_load_returns_the_metadata_it_was_written_with(exported, lite0):
    for precision, (pte, _) in exported.items():
        info, _ = et.load(pte, threads=2)
        assert info == info_for_model(lite0, "executorch", precision)
        assert info.model == "efficientnet_lite0" and len(info.class_names) == 1000
        assert info.preprocess.mean == pytest.approx((127 / 255,) * 3, abs=1e-3)  # Lite's scaling
        assert info.input_shape == (3, 224, 224) and info.format == "executorch"


def test_batches_of_any_size_give_pytorchs_logits(exported, lite0, photographs):
    """1, 3, and more images than one call of the program takes (run in chunks, in order); the
    int8 program takes its full batch too."""
    images, _ = photographs
    batch = torch.cat([images, images.flip(3), images.roll(16, 2)])
    many = torch.cat([batch] * (et.MAX_BATCH // len(batch) + 1))[: et.MAX_BATCH + 3]
    many = many + 0.01 * torch.arange(len(many)).view(-1, 1, 1, 1)  # every row distinct
    with torch.no_grad():
        expected = lite0(many)
    _, run = et.load(exported["fp32"][0], threads=2)
    torch.testing.assert_close(run(many[:1]), expected[:1], atol=1e-4, rtol=0)
    torch.testing.assert_close(run(many[:3]), expected[:3], atol=1e-4, rtol=0)
    torch.testing.assert_close(run(many), expected, atol=1e-4, rtol=0)
    assert run(many[:0]).shape == (0, 1000)
    # One call of the program takes MAX_BATCH images (lowering must not narrow the batch range).
    method = Runtime.get().load_program(exported["int8"][0]).load_method("forward")
    assert list(method.metadata.input_tensor_meta(0).sizes()) == [et.MAX_BATCH, 3, 224, 224]
    assert method.execute([many[: et.MAX_BATCH]])[0].shape == (et.MAX_BATCH, 1000)
    with pytest.raises(ValueError, match=r"\(N, 3, 224, 224\)"):
        run(many[:, :, :64, :64])


def copy_of(pte: Path, folder: Path, companion: Path | None = None) -> Path:
    """``pte`` copied into ``folder``, with ``companion`` (if any) as its companion file."""
    folder.mkdir()
    target = folder / "model.pte"
    shutil.copyfile(pte, target)
    if companion is not None:
        shutil.copyfile(companion, companion_path(target))
    return target


def test_a_truncated_program_is_an_error_naming_it(exported, tmp_path):
    pte, companion = exported["fp32"]
    target = copy_of(pte, tmp_path / "cut", companion)
    target.write_bytes(pte.read_bytes()[: pte.stat().st_size // 2])
    with pytest.raises(ArtifactError, match="truncated") as err:
        et.load(target, threads=2)
    assert str(err.value).startswith(f"{target}:") and "\n" not in str(err.value)


def test_a_missing_or_foreign_companion_is_an_error_naming_it(exported, tmp_path):
    alone = copy_of(exported["fp32"][0], tmp_path / "alone")
    with pytest.raises(ArtifactError, match="is missing") as err:
        et.load(alone, threads=2)
    assert str(companion_path(alone)) in str(err.value)
    # The int8 export's companion beside the fp32 program: another file's sha256.
    foreign = copy_of(exported["fp32"][0], tmp_path / "foreign", exported["int8"][1])
    with pytest.raises(ArtifactError, match="does not match") as err:
        et.load(foreign, threads=2)
    assert str(companion_path(foreign)) in str(err.value)


def test_int8_without_calibration_is_a_clear_error(lite0, tmp_path):
    info = info_for_model(lite0, "executorch", "int8")
    with pytest.raises(ValueError, match="calibration images"):
        et.export(lite0, tmp_path / "x.pte", info)
    assert not list(tmp_path.iterdir())


def test_a_failed_export_leaves_the_previous_files(exported, lite0, tmp_path, monkeypatch):
    pte = copy_of(exported["fp32"][0], tmp_path / "kept", exported["fp32"][1])
    before = pte.read_bytes(), companion_path(pte).read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(et, "to_program", interrupted)
    with pytest.raises(KeyboardInterrupt):
        et.export(lite0, pte, info_for_model(lite0, "executorch", "fp32"))
    assert (pte.read_bytes(), companion_path(pte).read_bytes()) == before
    assert sorted(p.name for p in pte.parent.iterdir()) == ["model.pte", "model.pte.json"]


def test_b0_with_same_padding_and_squeeze_excitation_lowers_exactly(tmp_path):
    """B0 with TensorFlow "SAME" padding (asymmetric on its strided convs at 64 px) and SE
    blocks, with measured BN statistics: fp32 logits equal PyTorch's at batches 1 and 3."""
    images = photos(64)
    model = effnet.create_model("efficientnet_b0", num_classes=10, padding="same")
    model = with_statistics(model, images)
    info = info_for_model(model, "executorch", "fp32", resolution=64)
    pte, _ = et.export(model, tmp_path / "b0.pte", info)
    _, run = et.load(pte, threads=2)
    with torch.no_grad():
        expected = model(images)
    # Random BN statistics put PyTorch's own fp32 rounding at ~1e-4 of these logits (~6; eager
    # and BN-folded differ by 2e-4): the tolerance is 1e-4 of their scale. A wrong pad is O(1).
    atol = 1e-4 * float(expected.abs().max())
    torch.testing.assert_close(run(images), expected, atol=atol, rtol=0)
    torch.testing.assert_close(run(images[2:]), expected[2:], atol=atol, rtol=0)


def test_resizing_the_thread_pool_reloads_programs_loaded_before(exported, photographs, tmp_path):
    """ExecuTorch replaces its one thread pool when resized, and a program loaded before would run
    on the freed one (a crash or a hang): it is loaded again, from the bytes it was loaded from,
    so that even a file overwritten meanwhile changes nothing."""
    images, expected = photographs
    pte = copy_of(exported["fp32"][0], tmp_path / "a", exported["fp32"][1])
    _, first = et.load(pte, threads=2)
    assert portable_lib._threadpool_get_thread_count() == 2
    shutil.copyfile(exported["int8"][0], pte)  # in place, as a plain copy would
    _, second = et.load(exported["int8"][0], threads=1)
    assert portable_lib._threadpool_get_thread_count() == 1
    for _ in range(3):
        torch.testing.assert_close(first(images), expected, atol=1e-4, rtol=0)
        assert second(images).argmax(1).tolist() == expected.argmax(1).tolist()
    et.load(exported["fp32"][0], threads=2)
    torch.testing.assert_close(first(images), expected, atol=1e-4, rtol=0)
