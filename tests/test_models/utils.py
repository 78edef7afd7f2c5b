"""Tiny synthetic person-search batches for model tests.

Images hold coloured rectangles ("persons") on a dark noisy background;
each identity has one colour in every image, unlabelled persons are grey.
Batches are Siamese: images ``2k`` and ``2k + 1`` share identities.
"""
from pathlib import Path
from typing import List, Sequence, Tuple

import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmsearch.registry import MODELS

# identity -> RGB colour; -1 is an unlabelled person
PERSON_COLOURS = {
    0: (230, 40, 40),
    1: (40, 200, 60),
    2: (50, 80, 230),
    3: (230, 210, 40),
    -1: (150, 150, 150),
}

# per pair: the persons of each image as (person_id, x1, y1, x2, y2)
PAIR_LAYOUTS = (
    (((0, 10, 20, 50, 110), (1, 70, 15, 105, 100), (-1, 140, 30, 170, 95)),
     ((1, 20, 25, 60, 115), (0, 120, 10, 160, 100))),
    (((2, 15, 10, 50, 95), (3, 100, 30, 140, 120)),
     ((3, 30, 20, 65, 105), (2, 90, 15, 130, 110), (-1, 150, 40, 180, 110))),
)


def draw_scene(persons: Sequence[Tuple[int, int, int, int, int]],
               height: int = 128,
               width: int = 192,
               seed: int = 0) -> torch.Tensor:
    """Draw one scene.

    Args:
        persons: (person_id, x1, y1, x2, y2) per person.
        height (int): Image height. Defaults to 128.
        width (int): Image width. Defaults to 192.
        seed (int): Seed of the background noise.

    Returns:
        Tensor: uint8 image in BGR order (mmcv's), shape (3, H, W).
    """
    generator = torch.Generator().manual_seed(seed)
    img = torch.randint(0, 60, (3, height, width), generator=generator)
    for person_id, x1, y1, x2, y2 in persons:
        rgb = torch.tensor(PERSON_COLOURS[person_id])
        img[:, y1:y2, x1:x2] = rgb.flip(0)[:, None, None]
        # a darker "head" so that a person is not a flat box
        head_h = (y2 - y1) // 5
        img[:, y1:y1 + head_h, x1 + 5:x2 - 5] = 90
    return img.to(torch.uint8)


def make_sample(persons,
                img_shape: Tuple[int, int],
                scale_factor: Tuple[float, float] = (1.0, 1.0),
                **metainfo) -> DetDataSample:
    """A DetDataSample with gt persons (boxes in network-input coords)."""
    sample = DetDataSample(
        metainfo=dict(
            img_shape=img_shape,
            ori_shape=(round(img_shape[0] / scale_factor[1]),
                       round(img_shape[1] / scale_factor[0])),
            scale_factor=scale_factor,
            **metainfo))
    gt = InstanceData()
    gt.bboxes = torch.tensor([p[1:] for p in persons], dtype=torch.float32)
    gt.labels = torch.zeros(len(persons), dtype=torch.long)
    gt.person_ids = torch.tensor([p[0] for p in persons], dtype=torch.long)
    sample.gt_instances = gt
    return sample


def make_pair_batch(height: int = 128, width: int = 192) -> dict:
    """Two Siamese pairs (4 images) as a collated training batch.

    Returns:
        dict: ``inputs`` (list of 4 uint8 (3, H, W) tensors) and
        ``data_samples`` (4 DetDataSamples with ``pair_index`` and
        ``pair_position``), ready for ``model.train_step``.
    """
    inputs: List[torch.Tensor] = []
    samples: List[DetDataSample] = []
    for pair_index, layout in enumerate(PAIR_LAYOUTS):
        for pair_position, persons in enumerate(layout):
            seed = 2 * pair_index + pair_position
            inputs.append(draw_scene(persons, height, width, seed))
            samples.append(
                make_sample(
                    persons, (height, width),
                    img_id=f'synthetic_{seed}.jpg',
                    pair_index=pair_index,
                    pair_position=pair_position))
    return dict(inputs=inputs, data_samples=samples)


CONFIG_ROOT = Path(__file__).resolve().parents[2] / 'configs'


def synthetic_model_cfg(method: str) -> Config:
    """The model config of ``configs/{method}/{method}_r18_synthetic.py``.

    Args:
        method (str): ``'oim'``, ``'inet'`` or ``'dcinet'``.
    """
    cfg = Config.fromfile(CONFIG_ROOT / method / f'{method}_r18_synthetic.py')
    return cfg.model


def build_model(model_cfg: Config, seed: int = 0) -> torch.nn.Module:
    """Build and initialise a model with a fixed seed."""
    torch.manual_seed(seed)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model
