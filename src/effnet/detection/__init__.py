"""EfficientDet: compound scaling applied to detection (Tan, Pang & Le, CVPR 2020).

The detector is built from the same pieces as the classifiers: :mod:`.spec` (D0-D7 as data),
:mod:`.bifpn` and :mod:`.head` (modules), :mod:`.model` (the torch module on an effnet backbone),
:mod:`.anchors`, :mod:`.loss`, :mod:`.postprocess` (training targets and decoding),
:mod:`.shapes` and :mod:`.coco` (data), :mod:`.metrics` and :mod:`.evaluate` (COCO mAP through
pycocotools), :mod:`.convert` and :mod:`.pretrained` (the effdet checkpoints), :mod:`.config` and
:mod:`.train` (the training run). Nothing is imported here, so a config file that imports
:mod:`effnet.detection.config` does not load torch.
"""
