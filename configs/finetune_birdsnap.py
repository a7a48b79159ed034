"""Fine-tune on Birdsnap (paper Table 5: 47,386 train / 2,443 test images, 500 classes).

Reproduces: the transfer protocol of Table 5, whose best EfficientNet reaches 84.3 % top-1
(docs/paper.md section 8). The model is whatever --weights holds: ImageNet-pretrained B0 gives the
cheap baseline; the paper's figure needs its larger ImageNet-pretrained variants and their
resolutions (set image_size accordingly). The paper gives no fine-tuning hyperparameters; these
are a common transfer recipe (SGD + Nesterov, short warm-up, step decay, lower backbone lr), not
tuned here.
Costs (B0 at 224): 15 epochs x 42,647 images = 0.64 M image passes, about
0.7 PMAC of forward + backward (3 x 0.385 GMAC per image); roughly 7 minutes on one
A100-class GPU at ~1,500 images/s (an estimate, not a measurement). 4,739 training images are
held out as the minival for early stopping; the test split is scored once, with the best weights.
Data: Birdsnap is distributed as image URLs only (no torchvision loader); lay the images you
obtain out as DATA/train/<species>/*.jpg and DATA/test/<species>/*.jpg (2,443 test images)
and pass DATA on the command line.

Use: effnet finetune DATA --weights W --config configs/finetune_birdsnap.py
"""

from effnet.train import TrainConfig, finetune_config


def get_config() -> TrainConfig:
    # The minival is ~10% of the training images, held out for early stopping.
    return finetune_config("imagefolder", epochs=15, name="birdsnap", minival_size=4739)
