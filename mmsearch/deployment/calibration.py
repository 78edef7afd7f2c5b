"""Untrained models that detect, and scenes for them to detect in.

For the ONNX export checks, benchmarks and GPU checks without a trained
checkpoint: synthetic person scenes, and an untrained model made to detect
(so that PyTorch and ONNX have detections to agree on).
"""
from typing import Tuple

import numpy as np
import torch
from torch import nn


def draw_person_scene(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A scene: noisy background and a few textured upright "persons".

    Args:
        height (int): Image height.
        width (int): Image width.
        seed (int): Seed of the layout and noise.

    Returns:
        np.ndarray: uint8 BGR (height, width, 3).
    """
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 70, (height, width, 3), dtype=np.uint8)
    for _ in range(int(rng.integers(2, 6))):
        box_h = int(rng.integers(height // 4, height // 2 + 1))
        box_w = max(box_h * 2 // 5, 2)
        y1 = int(rng.integers(0, height - box_h + 1))
        x1 = int(rng.integers(0, max(width - box_w, 0) + 1))
        colour = rng.integers(60, 236, 3)
        # textured, not flat: a flat patch gives shifted RoIs identical
        # features, hence exactly tied scores (NMS order undefined)
        texture = rng.integers(-20, 21, (box_h, box_w, 3))
        image[y1:y1 + box_h, x1:x1 + box_w] = np.clip(colour + texture, 0,
                                                      255).astype(np.uint8)
        head = max(box_h // 5, 1)
        image[y1:y1 + head, x1 + box_w // 4:x1 + box_w - box_w // 4] = 200
    return image


@torch.no_grad()
# yapf: disable
def make_detecting(model: nn.Module,
                   seed: int = 0,
                   logit_std: float = 3.0,
                   size: Tuple[int, int] = (240, 320)) -> nn.Module:
    # yapf: enable
    """Make an untrained person-search model detect, in place.

    Initialised heads give every RoI a person score near 0.5 and every
    anchor an objectness near 0.5, so detections hinge on differences of
    about 1e-3 (a test would compare rounding noise). Here the RPN and box
    classifiers are redrawn so that their logits spread with standard
    deviation ``logit_std`` over the features they see, like a trained
    detector's: scores then cover (0, 1) and many RoIs pass the test
    threshold. Every other weight is kept.

    Args:
        model (nn.Module): A :class:`PersonSearch` model.
        seed (int): Seed of the new weights.
        logit_std (float): Wanted spread of the logits.
        size (tuple[int, int]): (height, width) of the calibration scene:
            that of the images the model will see (larger persons give
            larger activations). Defaults to (240, 320).

    Returns:
        nn.Module: ``model``.
    """
    generator = torch.Generator().manual_seed(seed)
    rpn_cls = model.rpn_head.rpn_cls
    fc_cls = model.roi_head.bbox_head.fc_cls
    for layer in (rpn_cls, fc_cls):
        layer.weight.copy_(
            torch.randn(layer.weight.shape, generator=generator))
        layer.bias.zero_()
    # Rescale and centre each classifier's logits on a scene.
    height, width = size
    image = draw_person_scene(height, width, seed)
    feats = model.extract_feat(_normalise(model, image))
    rpn_hidden = torch.relu(model.rpn_head.rpn_conv(feats[0]))
    _standardise(rpn_cls,
                 rpn_cls(rpn_hidden).transpose(0, 1).flatten(1), logit_std)
    boxes = _random_boxes(generator, 64, height, width)
    rois = torch.cat([boxes.new_zeros(len(boxes), 1), boxes], dim=1)
    head = model.roi_head
    bbox_feats = head.shared_head(head.bbox_roi_extractor(feats, rois))
    cls_score, _ = head.bbox_head(bbox_feats)
    # softmax over (person, background) depends on their difference only
    _standardise(fc_cls, (cls_score[:, :1] - cls_score[:, 1:]).t(), logit_std)
    return model


def _normalise(model: nn.Module, image: np.ndarray) -> torch.Tensor:
    inputs = torch.from_numpy(image).permute(2, 0, 1).contiguous()
    data = model.data_preprocessor(dict(inputs=[inputs]), training=False)
    return data['inputs']


def _standardise(layer: nn.Module, logits: torch.Tensor, std: float) -> None:
    """Scale and shift a classifier so its logits have mean 0, std ``std``.

    The scale is also capped so that no calibration logit lies beyond
    ``2.5 * std``: with heavy tails a few logits would otherwise pass 17,
    where float32 scores saturate at exactly 1.0 and tie (tied scores leave
    the NMS order to the sort implementation).

    Args:
        layer (nn.Module): Conv or linear layer with zero bias.
        logits (Tensor): (k, n): per output channel k (the first k), its
            logits on n inputs.
        std (float): Wanted standard deviation.
    """
    centred = logits - logits.mean(dim=1, keepdim=True)
    factor = min(std / float(centred.std().clamp(min=1e-12)),
                 2.5 * std / float(centred.abs().max().clamp(min=1e-12)))
    layer.weight.mul_(factor)
    layer.bias[:len(logits)] -= logits.mean(dim=1) * factor


def _random_boxes(generator: torch.Generator, num: int, height: int,
                  width: int) -> torch.Tensor:
    xy = torch.rand(
        num, 2, generator=generator) * torch.tensor(
            [width * 0.7, height * 0.5])
    wh = torch.rand(
        num, 2, generator=generator) * torch.tensor(
            [width * 0.3, height * 0.5]) + 8
    return torch.cat([xy, xy + wh], dim=1)
