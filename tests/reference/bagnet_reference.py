"""PyTorch reference model of the BagNet architecture.

Written from docs/bagnet-architecture.md. The C++ tests compare against this model, so it
favours plainness over speed: no fused layers, no tricks, state-dict keys identical to the
published checkpoints.
"""
import math

import torch
from torch import nn

EXPANSION = 4  # a bottleneck block outputs 4 x its width
STEM_RECEPTIVE_FIELD = 3
BATCH_NORM_EPS = 1e-5
STEM_BATCH_NORM_MOMENTUM = 0.001  # the published stem bn1; every other batch norm uses 0.1


def receptive_field(strides, stages_with_3x3):
    """Receptive field when the first `stages_with_3x3` stages open with a 3x3 conv."""
    field, jump = STEM_RECEPTIVE_FIELD, 1  # jump: product of the strides before a layer
    for stride in strides[:stages_with_3x3]:
        field += 2 * jump
        jump *= stride
    return field


def stages_with_3x3(q, strides):
    """How many leading stages keep a 3x3 conv so that the receptive field is q x q."""
    possible = [receptive_field(strides, n) for n in range(len(strides) + 1)]
    if q not in possible:
        raise ValueError(f"patch size q={q} is impossible for strides {tuple(strides)}; "
                         f"possible: {possible}")
    return possible.index(q)


def batch_norm(channels, momentum=0.1):
    return nn.BatchNorm2d(channels, eps=BATCH_NORM_EPS, momentum=momentum)


class Bottleneck(nn.Module):
    """1x1 -> k x k (strided, unpadded) -> 1x1, plus a shortcut cropped to the main path."""

    def __init__(self, in_channels, width, stride, kernel, project):
        super().__init__()
        out_channels = width * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = batch_norm(width)
        self.conv2 = nn.Conv2d(width, width, kernel, stride=stride, bias=False)
        self.bn2 = batch_norm(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = batch_norm(out_channels)
        self.relu = nn.ReLU()
        self.downsample = (nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride,
                                                   bias=False),
                                         batch_norm(out_channels))
                           if project else None)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        # The unpadded k x k conv shrank the main path; the published models keep the
        # shortcut's top-left part (not its centre), and patch-locality depends on that.
        shortcut = shortcut[:, :, :out.shape[2], :out.shape[3]]
        return self.relu(out + shortcut)


class BagNet(nn.Module):
    """BagNet-q: a ResNet-50-like net whose every output location sees one q x q patch."""

    def __init__(self, q, widths=(64, 128, 256, 512), blocks=(3, 4, 6, 3), strides=(2, 2, 2, 1),
                 in_channels=3, classes=1000, stem_width=64):
        super().__init__()
        if not len(widths) == len(blocks) == len(strides):
            raise ValueError(f"widths {widths}, blocks {blocks} and strides {strides} "
                             "must have one entry per stage")
        n3x3 = stages_with_3x3(q, strides)
        self.q = q
        self.output_stride = math.prod(strides)
        # conv1 and conv2 are both linear, so together they are one 3x3 conv.
        self.conv1 = nn.Conv2d(in_channels, stem_width, 1, bias=False)
        self.conv2 = nn.Conv2d(stem_width, stem_width, 3, bias=False)
        self.bn1 = batch_norm(stem_width, STEM_BATCH_NORM_MOMENTUM)
        self.relu = nn.ReLU()
        channels = stem_width
        for stage, (width, count, stride) in enumerate(zip(widths, blocks, strides)):
            # Only the first block of a stage strides, projects and may keep a 3x3 conv.
            kernel = 3 if stage < n3x3 else 1
            layer = [Bottleneck(channels, width, stride, kernel, project=True)]
            channels = width * EXPANSION
            layer += [Bottleneck(channels, width, 1, 1, project=False) for _ in range(1, count)]
            self.add_module(f"layer{stage + 1}", nn.Sequential(*layer))
        self.stage_count = len(widths)
        self.fc = nn.Linear(channels, classes)

    def features(self, x):
        x = self.relu(self.bn1(self.conv2(self.conv1(x))))
        for stage in range(1, self.stage_count + 1):
            x = getattr(self, f"layer{stage}")(x)
        return x

    def forward(self, x):
        """Logits, N x classes: the classifier applied to the spatially averaged features."""
        return self.fc(self.features(x).mean(dim=(2, 3)))

    def logit_map(self, x):
        """Per-location class evidence, N x H' x W' x classes (before averaging)."""
        return self.fc(self.features(x).permute(0, 2, 3, 1))


def imagenet(q, classes=1000):
    """The published ImageNet BagNet-q (q = 9, 17 or 33)."""
    return BagNet(q, classes=classes)


def small(q=9, classes=10, in_channels=1):
    """A small BagNet for 28 x 28 grey images; matches bagnet::small in include/bagnet/arch.hpp.

    Strides 2, 2, 1, 1 (output stride 4) allow q in {3, 5, 9, 17, 25}; on 28 x 28 inputs the
    logit map is 6 x 6 (q = 5), 5 x 5 (q = 9), 3 x 3 (q = 17), 1 x 1 (q = 25).
    """
    return BagNet(q, widths=(32, 64, 128, 256), blocks=(1, 1, 1, 1), strides=(2, 2, 1, 1),
                  in_channels=in_channels, classes=classes, stem_width=32)


def fashion(q=9, classes=10):
    """The BagNets `bagnet train --dataset fashion-mnist` trains; matches bagnet::fashion in
    include/bagnet/arch.hpp: `small` at half the widths, and the usual batch-norm momentum 0.1 in the
    stem too (the published 0.001 barely moves the running statistics in a short run from scratch)."""
    model = BagNet(q, widths=(16, 32, 64, 128), blocks=(1, 1, 1, 1), strides=(2, 2, 1, 1),
                   in_channels=1, classes=classes, stem_width=16)
    model.bn1.momentum = 0.1
    return model


def fashion_fine(q=9, classes=10):
    """`fashion` with strides 2, 1, 1, 1 (output stride 2); matches bagnet::fashion_fine in
    include/bagnet/arch.hpp. q in {3, 5, 9, 13, 17}; on 28 x 28 inputs q = 9 gives a 10 x 10 map."""
    model = BagNet(q, widths=(16, 32, 64, 128), blocks=(1, 1, 1, 1), strides=(2, 1, 1, 1),
                   in_channels=1, classes=classes, stem_width=16)
    model.bn1.momentum = 0.1
    return model


def imagenet_slim(q, classes=10):
    """The ImageNet layout (blocks 3, 4, 6, 3; strides 2, 2, 2, 1; q = 9, 17, 33) at a quarter of its
    widths: the same receptive fields, output stride and dense-evaluation geometry for a sixteenth of
    the work, so that the per-patch heatmap definition (one network input per pixel) stays cheap.
    Matches `imagenet_slim` in tests/test_explain_heatmap.cpp."""
    return BagNet(q, widths=(16, 32, 64, 128), classes=classes, stem_width=16)


CONFIGS = {"imagenet": imagenet, "imagenet_slim": imagenet_slim, "small": small, "fashion": fashion,
           "fashion_fine": fashion_fine}


@torch.no_grad()
def randomize(model, seed, residual_scale=0.2):
    """Random weights and random batch-norm statistics, deterministic in `seed`.

    Batch-norm statistics are far from the identity so that folding them into convolutions
    is really exercised. Convs are He-initialised; the last conv of every residual branch is
    scaled by `residual_scale` so that the sum over many blocks keeps activations O(1).
    """
    generator = torch.Generator().manual_seed(seed)

    def normal(tensor, std):
        tensor.copy_(torch.randn(tensor.shape, generator=generator) * std)

    def uniform(tensor, low, high):
        tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)

    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            fan_in = module.weight[0].numel()
            gain = residual_scale if name.endswith("conv3") else 1.0
            normal(module.weight, gain * math.sqrt(2.0 / fan_in))
        elif isinstance(module, nn.BatchNorm2d):
            uniform(module.weight, 0.5, 1.5)
            normal(module.bias, 0.1)
            normal(module.running_mean, 0.1)
            uniform(module.running_var, 0.5, 2.0)
            module.num_batches_tracked.fill_(
                int(torch.randint(0, 100000, (), generator=generator)))
        elif isinstance(module, nn.Linear):
            normal(module.weight, 1.0 / math.sqrt(module.in_features))
            normal(module.bias, 0.1)
    return model
