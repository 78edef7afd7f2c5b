"""The query side of the search page, free of any web framework: reading a
typed box, detecting the people of a query image and picking the one under
a click."""
import re
from typing import Optional, Sequence, Tuple

import numpy as np
import torch.nn as nn

from mmsearch.apis import detect_images

_NUMBER = r'[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?'


def parse_box(text: str) -> np.ndarray:
    """Read a typed box ``"x1, y1, x2, y2"`` (commas and/or spaces).

    Args:
        text (str): Four numbers in pixels of the query image.

    Returns:
        np.ndarray: float32 (4,) [x1, y1, x2, y2].

    Raises:
        ValueError: Unless the text holds exactly four finite numbers with
            x2 > x1 and y2 > y1.
    """
    text = (text or '').strip()
    parts = [p for p in re.split(r'[\s,;]+', text.strip('[]() ')) if p]
    if len(parts) != 4 or not all(re.fullmatch(_NUMBER, p) for p in parts):
        raise ValueError(f'the query box must be four numbers "x1, y1, x2, '
                         f'y2" in pixels of the query image, got "{text}"')
    box = np.array([float(p) for p in parts], np.float32)
    if not (box[2] > box[0] and box[3] > box[1]):
        raise ValueError(f'the query box "{text}" is empty: it needs x2 > '
                         'x1 and y2 > y1 (top-left corner, then bottom-right'
                         ')')
    return box


def parse_time_range(text: str) -> Optional[Tuple[float, float]]:
    """Read a typed time range ``"start, end"`` in seconds.

    Blank means no range; ``"start,"`` and ``", end"`` leave one side open.

    Args:
        text (str): The typed range.

    Returns:
        tuple[float, float] | None: (start, end), -inf / inf for an open
        side; None for a blank text.

    Raises:
        ValueError: For anything else, or start > end.
    """
    text = (text or '').strip()
    if not text:
        return None
    if re.search('[,;]', text):
        parts = [p.strip() for p in re.split('[,;]', text)]
    else:
        parts = text.split()
    if len(parts) != 2 or parts == [
            '', ''
    ] or not all(p == '' or re.fullmatch(_NUMBER, p) for p in parts):
        raise ValueError(f'the time range must be "start, end" in seconds '
                         f'(either side may be left empty), got "{text}"')
    start = float(parts[0]) if parts[0] else -np.inf
    end = float(parts[1]) if parts[1] else np.inf
    if start > end:
        raise ValueError(f'the time range "{text}" ends before it starts')
    return start, end


def format_box(box: Sequence[float]) -> str:
    """``"x1, y1, x2, y2"`` with one decimal (read back by
    :func:`parse_box`)."""
    return ', '.join(f'{float(v):.1f}' for v in box)


def detect_people(model: nn.Module, image,
                  score_thr: float) -> Tuple[np.ndarray, np.ndarray]:
    """The people the model detects in one image.

    Args:
        model (nn.Module): A model from :func:`mmsearch.apis.init_searcher`.
        image (str | np.ndarray): Image file or BGR HxWx3 uint8 array.
        score_thr (float): Detections scoring below are dropped.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``boxes`` (N, 4) float32 [x1, y1,
        x2, y2] in the image's pixels and ``scores`` (N,) float32, by
        descending score.
    """
    dets = detect_images(model, [image])[0]
    boxes, scores = dets['bboxes'], dets['scores']
    keep = np.isfinite(scores) & np.isfinite(boxes).all(1) & (
        scores >= score_thr)
    order = np.argsort(-scores[keep], kind='stable')
    return (boxes[keep][order].astype(np.float32),
            scores[keep][order].astype(np.float32))


def person_at(boxes: np.ndarray, x: float, y: float) -> Optional[int]:
    """The detected person under a click.

    Of the boxes containing the point (x, y), the smallest one (the person
    in front when boxes overlap); ties go to the earlier (higher scoring)
    box.

    Args:
        boxes (np.ndarray): (N, 4) [x1, y1, x2, y2].
        x (float): Click column in pixels.
        y (float): Click row in pixels.

    Returns:
        int | None: Row of ``boxes``, or None when no box holds the point.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    inside = ((boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y)
              & (y <= boxes[:, 3]))
    if not inside.any():
        return None
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    candidates = np.flatnonzero(inside)
    # argmin takes the first of equal areas
    return int(candidates[np.argmin(areas[candidates])])
