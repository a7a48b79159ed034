"""Fine-tune on Oxford 102 Flowers (paper Table 5: 2,040 train / 6,149 test images, 102 classes).

Reproduces: the transfer protocol of Table 5, whose best EfficientNet reaches 98.8 % top-1
(docs/paper.md section 8). The model is whatever --weights holds: ImageNet-pretrained B0 gives the
cheap baseline; the paper's figure needs its larger ImageNet-pretrained variants and their
resolutions (set image_size accordingly). The paper gives no fine-tuning hyperparameters; these
are a common transfer recipe (SGD + Nesterov, short warm-up, step decay, lower backbone lr), not
tuned here.
Costs (B0 at 224): 40 epochs x 1,836 images = 0.07 M image passes, about
0.1 PMAC of forward + backward (3 x 0.385 GMAC per image); about a minute on one
A100-class GPU at ~1,500 images/s (an estimate, not a measurement). 204 training images are
held out as the minival for early stopping; the test split is scored once, with the best weights.
Data: torchvision's flowers102 loader; passing DATA sets the folder it downloads to / reads from
(default ~/.cache/effnet/datasets).

Use: effnet finetune ~/data --weights W --config configs/finetune_flowers.py
"""

from effnet.train import TrainConfig, finetune_config


def get_config() -> TrainConfig:
    # The minival is ~10% of the training images, held out for early stopping.
    return finetune_config("flowers102", epochs=40, name="flowers", minival_size=204)
