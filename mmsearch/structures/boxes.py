"""Boxes [x1, y1, x2, y2] in pixels (numpy): checks, clipping and IoU.

Code that holds torch tensors uses mmdet's ``bbox_overlaps`` instead of
:func:`box_iou`; both follow the same convention (areas ``(x2 - x1) * (y2 -
y1)``, no ``+1`` pixel).
"""
import warnings
from typing import List, Sequence, Tuple

import numpy as np


def as_box(box: Sequence[float], name: str = 'box') -> np.ndarray:
    """A box as float32 (4,), refusing anything but a finite, non-empty box.

    Args:
        box (Sequence[float]): [x1, y1, x2, y2].
        name (str): What the box is, for the message. Defaults to 'box'.

    Returns:
        np.ndarray: float32 (4,).

    Raises:
        ValueError: Unless ``box`` is 4 finite numbers with x2 > x1 and
            y2 > y1.
    """
    try:
        box = np.asarray(box, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError) as error:
        raise ValueError(f'{name} must be 4 numbers [x1, y1, x2, y2], got '
                         f'{box!r}') from error
    with np.errstate(invalid='ignore'):
        ok = (
            box.shape == (4, ) and bool(np.isfinite(box).all())
            and bool(box[2] > box[0]) and bool(box[3] > box[1]))
    if not ok:
        raise ValueError(f'{name} must be 4 finite numbers [x1, y1, x2, y2] '
                         f'with x2 > x1 and y2 > y1, got {box.tolist()}')
    return box


def clip_query_box(box: Sequence[float],
                   image_size: Tuple[int, int],
                   image_name: str,
                   stacklevel: int = 3) -> np.ndarray:
    """Check a query box against its image; clip it if it sticks out.

    The rule of both search paths: a box that does not overlap the image is
    an error; a box partly outside is clipped to ``[0, width] x [0, height]``
    with a ``UserWarning`` naming the change; NaN or infinite numbers are an
    error.

    Args:
        box (Sequence[float]): (4,) [x1, y1, x2, y2] in pixels.
        image_size (tuple[int, int]): (height, width) of the image.
        image_name (str): The image, for messages.
        stacklevel (int): ``warnings.warn`` stack level of the warning.

    Returns:
        np.ndarray: float32 (4,) box inside the image.

    Raises:
        ValueError: If the box is not 4 finite numbers with x2 > x1 and
            y2 > y1, or does not overlap the image.
    """
    box = as_box(box, 'query box')
    height, width = image_size
    shown = [round(float(v), 2) for v in box]
    if box[0] >= width or box[1] >= height or box[2] <= 0 or box[3] <= 0:
        raise ValueError(
            f'query box {shown} lies outside image "{image_name}" '
            f'({width} x {height} pixels, width x height); give [x1, y1, '
            'x2, y2] in that image\'s pixel coordinates.')
    clipped = box.copy()
    clipped[0::2] = clipped[0::2].clip(0, width)
    clipped[1::2] = clipped[1::2].clip(0, height)
    if not np.array_equal(clipped, box):
        warnings.warn(
            f'query box {shown} extends past image "{image_name}" ({width} '
            f'x {height} pixels); clipped to '
            f'{[round(float(v), 2) for v in clipped]}.',
            stacklevel=stacklevel)
    return clipped


def _areas(boxes: np.ndarray) -> np.ndarray:
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two sets of ``(x1, y1, x2, y2)`` boxes.

    ``IoU = |A n B| / (|A| + |B| - |A n B|)`` with areas ``(x2 - x1) *
    (y2 - y1)`` (no ``+1`` pixel convention), as the person-search protocol
    defines it; 0 where the union is empty.

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
    union = _areas(boxes1)[:, None] + _areas(boxes2)[None, :] - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(union > 0, inter / union, 0.0)


def paired_box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """IoU of corresponding rows of two box arrays (as :func:`box_iou`).

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
    union = _areas(boxes1) + _areas(boxes2) - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(union > 0, inter / union, 0.0)


def match_boxes(boxes1: np.ndarray, boxes2: np.ndarray,
                iou_thr: float) -> List[Tuple[int, int]]:
    """Greedy one-to-one matching of boxes with IoU >= ``iou_thr``.

    Pairs are taken by decreasing IoU; each box is used at most once.

    Args:
        boxes1 (np.ndarray): (N, 4) [x1, y1, x2, y2].
        boxes2 (np.ndarray): (M, 4) [x1, y1, x2, y2].
        iou_thr (float): Least IoU of a pair.

    Returns:
        list[tuple[int, int]]: (index in ``boxes1``, index in ``boxes2``).
    """
    ious = box_iou(boxes1, boxes2)
    pairs, used1, used2 = [], set(), set()
    for flat in np.argsort(-ious, axis=None, kind='stable'):
        i, j = np.unravel_index(flat, ious.shape)
        if ious[i, j] < iou_thr:
            break
        if i in used1 or j in used2:
            continue
        pairs.append((int(i), int(j)))
        used1.add(i)
        used2.add(j)
    return pairs
