"""Intersection over union of axis-aligned boxes (numpy)."""
import numpy as np


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two sets of ``(x1, y1, x2, y2)`` boxes.

    ``IoU = |A n B| / (|A| + |B| - |A n B|)`` with areas ``(x2 - x1) *
    (y2 - y1)`` (no ``+1`` pixel convention), as the person-search protocol
    defines it.

    Args:
        boxes1 (np.ndarray): Boxes of shape (N, 4).
        boxes2 (np.ndarray): Boxes of shape (M, 4).

    Returns:
        np.ndarray: float64 IoU of shape (N, M).
    """
    boxes1 = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    boxes2 = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    bottom_right = np.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = np.clip(bottom_right - top_left, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    union = area1[:, None] + area2[None, :] - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou


def paired_box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """IoU of corresponding rows of two box arrays.

    Args:
        boxes1 (np.ndarray): Boxes of shape (N, 4).
        boxes2 (np.ndarray): Boxes of shape (N, 4).

    Returns:
        np.ndarray: float64 IoU of shape (N,), ``iou[i] = IoU(boxes1[i],
        boxes2[i])``.
    """
    boxes1 = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    boxes2 = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    wh = np.clip(
        np.minimum(boxes1[:, 2:], boxes2[:, 2:]) -
        np.maximum(boxes1[:, :2], boxes2[:, :2]), 0, None)
    inter = wh[:, 0] * wh[:, 1]
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    union = area1 + area2 - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(union > 0, inter / union, 0.0)


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
