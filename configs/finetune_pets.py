"""Fine-tune on Oxford-IIIT Pets (paper Table 5: 3,680 train / 3,369 test images, 37 classes).

Reproduces: the transfer protocol of Table 5, whose best EfficientNet reaches 95.4 % top-1
(docs/paper.md section 8). The model is whatever --weights holds: ImageNet-pretrained B0 gives the
cheap baseline; the paper's figure needs its larger ImageNet-pretrained variants and their
resolutions (set image_size accordingly). The paper gives no fine-tuning hyperparameters; these
are a common transfer recipe (SGD + Nesterov, short warm-up, step decay, lower backbone lr), not
tuned here.
Costs (B0 at 224): 20 epochs x 3,312 images = 0.07 M image passes, about
0.1 PMAC of forward + backward (3 x 0.385 GMAC per image); about a minute on one
A100-class GPU at ~1,500 images/s (an estimate, not a measurement). 368 training images are
held out as the minival for early stopping; the test split is scored once, with the best weights.
Data: torchvision's oxford_iiit_pet loader; DATA sets the folder it downloads to / reads from
(default ~/.cache/effnet/datasets).

Use: effnet finetune ~/data --weights W --config configs/finetune_pets.py
"""

from effnet.train import TrainConfig, finetune_config


def get_config() -> TrainConfig:
    # The minival is ~10% of the training images, held out for early stopping.
    return finetune_config("oxford_iiit_pet", epochs=20, name="pets", minival_size=368)
