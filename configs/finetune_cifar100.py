"""Fine-tune on CIFAR-100 (paper Table 5: 50,000 train / 10,000 test images, 100 classes).

Reproduces: the transfer protocol of Table 5, whose best EfficientNet reaches 91.7 % top-1
(docs/paper.md section 8). The model is whatever --weights holds: ImageNet-pretrained B0 gives the
cheap baseline; the paper's figure needs its larger ImageNet-pretrained variants and their
resolutions (set image_size accordingly). The paper gives no fine-tuning hyperparameters; these
are a common transfer recipe (SGD + Nesterov, short warm-up, step decay, lower backbone lr), not
tuned here.
Costs (B0 at 224): 15 epochs x 45,000 images = 0.68 M image passes, about
0.8 PMAC of forward + backward (3 x 0.385 GMAC per image); roughly 8 minutes on one
A100-class GPU at ~1,500 images/s (an estimate, not a measurement). 5,000 training images are
held out as the minival for early stopping; the test split is scored once, with the best weights.
Data: torchvision's cifar100 loader; passing DATA sets the folder it downloads to / reads from
(default ~/.cache/effnet/datasets).

Use: effnet finetune ~/data --weights W --config configs/finetune_cifar100.py
"""

from effnet.train import TrainConfig, finetune_config


def get_config() -> TrainConfig:
    # The minival is ~10% of the training images, held out for early stopping.
    return finetune_config("cifar100", epochs=15, minival_size=5000)
