"""What every deployable file effnet writes says about itself, and where it says it.

A deployed model is useless without its class names and its preprocessing (a wrong resize or
normalisation costs points of top-1, and a Lite model's ``(x - 127) / 128`` is not ImageNet's
mean/std), so every artifact carries an :class:`ArtifactInfo`: the model, class names,
preprocessing, precision, format and engine, the input's name (always ``images``) and shape.

It is stored in the format's own metadata where the format has a place for it (ONNX
``metadata_props``, OpenVINO ``rt_info``, TorchScript extra files); a format without one gets a
companion JSON file written atomically beside it (``model.pte`` -> ``model.pte.json``), holding the
artifact's sha256 so that a companion left beside another file is caught, not believed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.preprocess import Preprocess
from ..fileio import atomic_write
from ..spec import MAX_FEATURE_MAP

INPUT_NAME, OUTPUT_NAME = "images", "logits"
#: The format-version of the metadata below; a newer one is refused with a clear message.
SCHEMA_VERSION = 1
#: The key (ONNX metadata_props, TorchScript extra file, OpenVINO rt_info path) holding the info.
METADATA_KEY = "effnet.artifact"


class ArtifactError(ValueError):
    """An artifact (or its companion file) that is damaged, incomplete or does not match."""


class MissingEngineError(ImportError):
    """The package that writes or runs a format is not installed; the message says how."""


def require_engine(fmt: str, *modules: str) -> None:
    """Raise :class:`MissingEngineError` with ``fmt``'s one-line install hint unless every one of
    ``modules`` can be imported."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m.split(".")[0]) is None]
    if missing:
        f = get_format(fmt)
        raise MissingEngineError(
            f"{f.suffix} files need the {', '.join(missing)} package(s): {f.install}"
        )


@dataclass(frozen=True)
class Format:
    """One deployable file format: its suffix, the engine that runs it, the precisions effnet
    writes it at, the module holding its exporter and runtime, and how to install that engine."""

    name: str
    suffix: str
    engine: str
    precisions: tuple[str, ...]
    module: str
    install: str
    #: Whether the format stores the metadata itself (else: the companion JSON file).
    embedded: bool = True


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "onnx",
            ".onnx",
            "onnxruntime",
            ("fp32", "int8"),
            "effnet.deploy.onnx",
            "pip install 'effnet[export]'",
        ),
        Format(
            "openvino",
            ".xml",
            "openvino",
            ("fp32", "bf16", "int8"),
            "effnet.deploy.openvino",
            "pip install 'effnet[openvino]'",
        ),
        Format(
            "torchscript", ".pt", "torchscript", ("fp32",), "effnet.deploy.torchscript", "(torch)"
        ),
        Format(
            "tflite",
            ".tflite",
            "litert",
            ("fp32", "fp16", "int8"),
            "effnet.deploy.litert",
            "pip install 'effnet[litert]'",
        ),
        Format(
            "executorch",
            ".pte",
            "executorch",
            ("fp32", "int8"),
            "effnet.deploy.executorch",
            "pip install 'effnet[executorch]'",
            embedded=False,
        ),
    )
}
#: Each engine's format (``--backend litert`` runs a .tflite).
ENGINE_FORMATS = {f.engine: f.name for f in FORMATS.values()}


def format_for_path(path: str | os.PathLike) -> Format | None:
    """The format a file's suffix names (``.pt`` only when the file is TorchScript), or None."""
    path = Path(path)
    suffix = path.suffix.lower()
    for fmt in FORMATS.values():
        if fmt.suffix == suffix:
            if fmt.name == "torchscript" and not is_torchscript(path):
                return None  # a .pt state dict, not an artifact
            return fmt
    return None


def is_torchscript(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip holding ``code/``), not a torch.save."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()  # the central directory only: cheap for any size
    except (OSError, zipfile.BadZipFile):
        return False
    return any(name.endswith("/constants.pkl") or "/code/" in name for name in names)


def get_format(name: str) -> Format:
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}; expected one of {', '.join(FORMATS)}")
    return FORMATS[name]


@dataclass(frozen=True)
class ArtifactInfo:
    """What a deployed file needs to be used correctly, by effnet or by anyone reading it.

    ``preprocess``: resize the short side to ``preprocess.resize_size``, center-crop
    ``preprocess.resolution``, scale pixels to [0, 1], subtract ``mean``, divide by ``std``; RGB
    (or grayscale for one channel), channels first. ``input_shape`` is (channels, height, width);
    ``input_dtype`` is ``float32`` unless a full-integer model takes ``int8``.
    """

    model: str
    class_names: tuple[str, ...]
    preprocess: Preprocess
    precision: str
    format: str
    input_shape: tuple[int, int, int]
    weights: str = ""
    task: str = "classification"
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    input_dtype: str = "float32"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def engine(self) -> str:
        return FORMATS[self.format].engine

    def to_dict(self) -> dict[str, Any]:
        pre = json.loads(self.preprocess.to_json())
        return {
            "schema": SCHEMA_VERSION,
            "model": self.model,
            "task": self.task,
            "format": self.format,
            "engine": self.engine,
            "precision": self.precision,
            "class_names": list(self.class_names),
            "preprocess": {**pre, "resize_size": self.preprocess.resize_size},
            "input": {
                "name": self.input_name,
                "shape": list(self.input_shape),
                "dtype": self.input_dtype,
                "layout": "NCHW",
                "description": "RGB, resize + center crop, (pixel / 255 - mean) / std",
            },
            "output": {"name": self.output_name},
            "weights": self.weights,
            "extra": self.extra,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any, source: str | os.PathLike) -> ArtifactInfo:
        """Parse what :meth:`to_dict` wrote; anything missing or malformed is an
        :class:`ArtifactError` naming ``source``."""
        try:
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            if int(data.get("schema", 0)) > SCHEMA_VERSION:
                raise ArtifactError(
                    f"{source}: written by a newer effnet (metadata schema {data['schema']}); "
                    "upgrade effnet to read it"
                )
            pre = {k: v for k, v in data["preprocess"].items() if k != "resize_size"}
            preprocess = Preprocess.from_json(json.dumps(pre))
            fmt = get_format(str(data["format"]))
            precision = str(data["precision"])
            if precision not in fmt.precisions:
                raise ValueError(f"precision {precision!r} is not one {fmt.name} is written at")
            io = data["input"]
            shape = _input_shape(io["shape"])
            names = tuple(str(n) for n in data["class_names"])
            return cls(
                model=str(data["model"]),
                class_names=names,
                preprocess=preprocess,
                precision=precision,
                format=fmt.name,
                input_shape=shape,  # type: ignore[arg-type]
                weights=str(data.get("weights", "")),
                task=str(data.get("task", "classification")),
                input_name=str(io.get("name", INPUT_NAME)),
                output_name=str(data.get("output", {}).get("name", OUTPUT_NAME)),
                input_dtype=str(io.get("dtype", "float32")),
                extra=dict(data.get("extra", {})),
            )
        except ArtifactError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            what = f"missing field {err}" if isinstance(err, KeyError) else str(err)
            raise ArtifactError(f"{source}: effnet metadata is malformed ({what})") from None

    @classmethod
    def from_json(cls, text: str, source: str | os.PathLike) -> ArtifactInfo:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as err:
            raise ArtifactError(f"{source}: effnet metadata is not valid JSON ({err})") from None
        return cls.from_dict(data, source)


def _input_shape(value: Any) -> tuple[int, int, int]:
    """(channels, height, width): three positive integers, and no more values than one feature
    map may hold (an input is one), so a file cannot make its reader allocate gigabytes."""
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        raise ValueError(f"input shape {value!r} is not (channels, height, width)")
    if math.prod(value) > MAX_FEATURE_MAP:
        raise ValueError(f"input shape {value} holds over {MAX_FEATURE_MAP:,} values per image")
    return value[0], value[1], value[2]


def info_for_model(
    model: Any, fmt: str, precision: str, resolution: int | None = None, **fields: Any
) -> ArtifactInfo:
    """The :class:`ArtifactInfo` of ``model`` (an effnet model with its weights' metadata)
    exported as ``fmt`` at ``precision``."""
    from ..weights.hub import preprocess_for

    pre = preprocess_for(model)
    if resolution is not None and resolution != pre.resolution:
        crop = pre.crop_pct
        pre = Preprocess(resolution, crop, pre.interpolation, pre.mean, pre.std)
    labels = model.labels() if hasattr(model, "labels") else []
    spec = getattr(model, "spec", None)
    fields.setdefault("weights", str(getattr(model, "weights_source", "") or ""))
    return ArtifactInfo(
        model=str(getattr(spec, "name", "") or type(model).__name__),
        class_names=tuple(labels),
        preprocess=pre,
        precision=precision,
        format=get_format(fmt).name,
        input_shape=(int(getattr(model, "in_chans", 3)), pre.resolution, pre.resolution),
        **fields,
    )


def companion_path(path: str | os.PathLike) -> Path:
    """Where the companion JSON of ``path`` lives: ``model.pte`` -> ``model.pte.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_companion(path: str | os.PathLike, info: ArtifactInfo) -> Path:
    """Write ``info`` beside the finished artifact ``path`` (atomically), with its sha256."""
    path = Path(path)
    payload = {"file": path.name, "sha256": sha256_of(path), **info.to_dict()}
    target = companion_path(path)
    with atomic_write(target) as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
    return target


def read_companion(path: str | os.PathLike) -> ArtifactInfo:
    """The info in ``path``'s companion JSON; a missing companion, or one describing another file
    (its sha256 differs), is an :class:`ArtifactError` naming it."""
    path = Path(path)
    companion = companion_path(path)
    if not companion.is_file():
        raise ArtifactError(
            f"{companion} is missing: {path.name} carries no metadata of its own, and effnet "
            "writes it there (class names, preprocessing); re-export, or copy it beside the file"
        )
    try:
        text = companion.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ArtifactError(f"{companion}: cannot read it ({err})") from None
    info = ArtifactInfo.from_json(text, companion)
    recorded = json.loads(text).get("sha256")
    if recorded != sha256_of(path):
        raise ArtifactError(
            f"{companion} does not match {path.name} (it describes a file with another sha256); "
            "re-export the model, or put the right companion file beside it"
        )
    return info
