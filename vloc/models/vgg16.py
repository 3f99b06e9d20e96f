"""VGG-16's convolutional trunk (torchvision's `features` layout) and the ImageNet normalisation it expects; shared by
NetVLAD and the S2DHM hypercolumns."""

from __future__ import annotations

from torch import nn

VGG16_CHANNELS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


def vgg16_conv5_3() -> nn.Sequential:
    """VGG-16 `features` up to conv5_3, without its ReLU and the last max-pool (torchvision's indices)."""
    layers: list[nn.Module] = []
    channels = 3
    for spec in VGG16_CHANNELS:
        if spec == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, spec, 3, padding=1), nn.ReLU(inplace=True)]
            channels = spec
    return nn.Sequential(*layers[:-1])


IMAGENET_MEAN = (0.485, 0.456, 0.406)


IMAGENET_STD = (0.229, 0.224, 0.225)
