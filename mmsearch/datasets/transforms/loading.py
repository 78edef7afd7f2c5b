"""Annotation loading for person search."""
import numpy as np
from mmdet.datasets.transforms import LoadAnnotations

from mmsearch.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadPersonSearchAnnotations(LoadAnnotations):
    """Load boxes, labels and person ids of a person-search image.

    Besides what :class:`mmdet.datasets.transforms.LoadAnnotations` loads
    (``gt_bboxes``, ``gt_bboxes_labels``, ``gt_ignore_flags``), this adds

    - ``gt_person_ids`` (np.ndarray): int64 array of shape (N,), the
      ``person_id`` of every instance (-1 for an unlabelled person), in the
      same order as ``gt_bboxes``.

    Args:
        with_person_id (bool): Whether to load ``gt_person_ids``.
            Defaults to True.
        **kwargs: Arguments of ``LoadAnnotations`` (``with_bbox``,
            ``with_label``, ``box_type``, ...).
    """

    def __init__(self, with_person_id: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.with_person_id = with_person_id

    def _load_person_ids(self, results: dict) -> None:
        """Write ``results['gt_person_ids']`` (N,) int64 from instances."""
        instances = results.get('instances', [])
        for index, instance in enumerate(instances):
            if 'person_id' not in instance:
                raise KeyError(
                    f'LoadPersonSearchAnnotations: instance {index} of '
                    f'{results.get("img_path", "<unknown image>")} has no '
                    f'"person_id"; expected keys bbox, bbox_label, '
                    f'person_id, ignore_flag.')
        results['gt_person_ids'] = np.array(
            [instance['person_id'] for instance in instances], dtype=np.int64)

    def transform(self, results: dict) -> dict:
        """Load the annotations selected by the ``with_*`` flags.

        Args:
            results (dict): A data info of a person-search dataset.

        Returns:
            dict: ``results`` with the ``gt_*`` keys added.
        """
        results = super().transform(results)
        if self.with_person_id:
            self._load_person_ids(results)
        return results

    def __repr__(self) -> str:
        return (f'{super().__repr__()[:-1]}, '
                f'with_person_id={self.with_person_id})')
