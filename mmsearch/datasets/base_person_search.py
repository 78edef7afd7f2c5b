"""Behaviour shared by the person-search datasets."""
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np
from mmdet.datasets import BaseDetDataset

from .raw_io import read_image_size


def xywh_to_instances(
        boxes_xywh: np.ndarray,
        person_ids: np.ndarray,
        image_size: Optional[Tuple[int, int]] = None) -> List[dict]:
    """Turn raw (x, y, w, h) boxes into mmdet instance dicts.

    ``(x1, y1, x2, y2) = (x, y, x + w, y + h)``; when ``image_size`` =
    (height, width) is given the corners are clipped to ``[0, width] x
    [0, height]``. Boxes with ``x2 <= x1`` or ``y2 <= y1`` afterwards are
    dropped.

    Args:
        boxes_xywh (np.ndarray): (N, 4) boxes as in the raw files.
        person_ids (np.ndarray): (N,) ids, -1 for an unlabelled person.
        image_size (tuple[int, int], optional): (height, width) to clip to.

    Returns:
        list[dict]: ``{bbox: [x1, y1, x2, y2], bbox_label: 0, person_id,
        ignore_flag: 0}`` per kept box.
    """
    boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4).copy()
    boxes[:, 2:] += boxes[:, :2]
    if image_size is not None:
        height, width = image_size
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return [
        dict(
            bbox=box.tolist(),
            bbox_label=0,
            person_id=int(person_id),
            ignore_flag=0)
        for box, person_id in zip(boxes[keep],
                                  np.asarray(person_ids)[keep])
    ]


class PersonSearchDataset(BaseDetDataset):
    """Base of the person-search datasets (not registered).

    Subclasses implement ``load_data_list`` for the splits ``train``,
    ``gallery`` and ``query``. ``test_mode`` defaults to ``split != 'train'``.

    ``filter_cfg`` (train split only, nothing is filtered by default):

    - ``filter_empty_gt`` (bool): drop images without any person box.
    - ``filter_unlabelled`` (bool): drop images without a labelled person
      (``person_id >= 0``).
    - ``min_size`` (int): drop images whose shorter side is smaller.

    Args:
        split (str): ``'train'``, ``'gallery'`` or ``'query'``.
        **kwargs: Arguments of :class:`mmdet.datasets.BaseDetDataset`.
    """

    SPLITS = ('train', 'gallery', 'query')

    def __init__(self, split: str = 'train', **kwargs) -> None:
        if split not in self.SPLITS:
            raise ValueError(f'{type(self).__name__}: split must be one of '
                             f'{self.SPLITS}, got {split!r}.')
        self.split = split
        kwargs.setdefault('test_mode', split != 'train')
        super().__init__(**kwargs)

    @property
    def img_dir(self) -> str:
        """The directory of the scene images."""
        return self.data_prefix.get('img',
                                    self.data_prefix.get('img_path', ''))

    def make_data_info(self, img_name: str, boxes_xywh: np.ndarray,
                       person_ids: np.ndarray, clip: bool) -> dict:
        """Data info of one image (the fields every person-search loader
        gives).

        Args:
            img_name (str): File name, also the ``img_id``.
            boxes_xywh (np.ndarray): (N, 4) raw boxes.
            person_ids (np.ndarray): (N,) ids (-1 unlabelled).
            clip (bool): Clip the boxes to the image.

        Returns:
            dict: ``img_path``, ``img_id``, ``height``, ``width``,
            ``instances``.
        """
        img_path = osp.join(self.img_dir, img_name)
        height, width = read_image_size(img_path)
        instances = xywh_to_instances(boxes_xywh, person_ids,
                                      (height, width) if clip else None)
        return dict(
            img_path=img_path,
            img_id=img_name,
            height=height,
            width=width,
            instances=instances)

    def filter_data(self) -> List[dict]:
        """Apply ``filter_cfg`` to the train split (see class docstring)."""
        if self.test_mode or not self.filter_cfg:
            return self.data_list
        filter_empty_gt = self.filter_cfg.get('filter_empty_gt', False)
        filter_unlabelled = self.filter_cfg.get('filter_unlabelled', False)
        min_size = self.filter_cfg.get('min_size', 0)
        kept = []
        for data_info in self.data_list:
            person_ids = [i['person_id'] for i in data_info['instances']]
            if filter_empty_gt and not person_ids:
                continue
            if filter_unlabelled and max(person_ids, default=-1) < 0:
                continue
            if min(data_info['height'], data_info['width']) < min_size:
                continue
            kept.append(data_info)
        return kept

    def get_person_ids(self, idx: int) -> np.ndarray:
        """(N,) int64 person ids of image ``idx`` (-1 unlabelled)."""
        instances = self.get_data_info(idx)['instances']
        return np.array([i['person_id'] for i in instances], dtype=np.int64)
