"""Packing of person-search inputs into :class:`DetDataSample`."""
from typing import Sequence

import numpy as np
import torch
from mmdet.datasets.transforms import PackDetInputs

from mmsearch.registry import TRANSFORMS

PERSON_SEARCH_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                           'scale_factor', 'flip', 'flip_direction', 'cam_id',
                           'query_bbox', 'query_person_id', 'query_index',
                           'pair_index', 'pair_position')


@TRANSFORMS.register_module()
class PackPersonSearchInputs(PackDetInputs):
    """Pack a person-search sample: :class:`PackDetInputs` plus person ids.

    ``gt_person_ids`` (N,) becomes ``data_sample.gt_instances.person_ids``
    (LongTensor, -1 = unlabelled); instances flagged in ``gt_ignore_flags``
    go to ``data_sample.ignored_instances.person_ids`` like the other
    fields. ``gt_person_ids`` must stay aligned with ``gt_bboxes``: box
    filtering transforms (``RandomCrop``, ``FilterAnnotations``) are not
    supported and raise here. The meta keys present in ``results`` among
    :data:`PERSON_SEARCH_META_KEYS` go to the sample's metainfo.

    Args:
        meta_keys (Sequence[str]): Keys copied to the metainfo when
            present. Defaults to :data:`PERSON_SEARCH_META_KEYS`.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = PERSON_SEARCH_META_KEYS) -> None:
        super().__init__(meta_keys=tuple(meta_keys))

    def transform(self, results: dict) -> dict:
        """Pack image, instances and metainfo.

        Args:
            results (dict): Output of the pipeline so far.

        Returns:
            dict: ``inputs`` (CHW uint8 tensor) and ``data_samples``
            (:class:`DetDataSample`).
        """
        packed = super().transform(results)
        if 'gt_person_ids' not in results:
            return packed
        person_ids = np.asarray(results['gt_person_ids'], dtype=np.int64)
        num_boxes = len(results.get('gt_bboxes', person_ids))
        if len(person_ids) != num_boxes:
            raise ValueError(
                f'PackPersonSearchInputs: {len(person_ids)} gt_person_ids '
                f'but {num_boxes} gt_bboxes in {results.get("img_path")}; '
                f'a transform dropped boxes without gt_person_ids (box '
                f'filtering transforms such as RandomCrop or '
                f'FilterAnnotations are not supported).')
        data_sample = packed['data_samples']
        if 'gt_ignore_flags' in results:
            ignore_flags = np.asarray(results['gt_ignore_flags'], dtype=bool)
            data_sample.gt_instances.person_ids = torch.from_numpy(
                person_ids[~ignore_flags])
            data_sample.ignored_instances.person_ids = torch.from_numpy(
                person_ids[ignore_flags])
        else:
            data_sample.gt_instances.person_ids = torch.from_numpy(person_ids)
        return packed
