"""Box IoU of the search protocol (numpy).

``box_iou`` and ``paired_box_iou`` live in the torch-free
:mod:`mmsearch.structures` (shared with the search paths) and are
re-exported here; the protocol's small-person threshold is its own.
"""
import numpy as np

from mmsearch.structures import box_iou, paired_box_iou

__all__ = ['box_iou', 'paired_box_iou', 'small_box_iou_threshold']


def small_box_iou_threshold(gt_boxes: np.ndarray,
                            max_thr: float = 0.5) -> np.ndarray:
    """IoU a detection needs to match a ground-truth person in search.

    Small people get a looser threshold, ``t = min(0.5, w * h / ((w + 10) *
    (h + 10)))`` with ``w = x2 - x1`` and ``h = y2 - y1`` of the gt box.

    Args:
        gt_boxes (np.ndarray): Ground-truth boxes of shape (N, 4).
        max_thr (float): Upper bound of the threshold. Defaults to 0.5.

    Returns:
        np.ndarray: float64 thresholds of shape (N,).
    """
    gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    w = gt_boxes[:, 2] - gt_boxes[:, 0]
    h = gt_boxes[:, 3] - gt_boxes[:, 1]
    return np.minimum(max_thr, w * h / ((w + 10) * (h + 10)))
