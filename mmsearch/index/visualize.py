"""A drawn result sheet for index searches: crops with source and time."""
import math
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import cv2
import numpy as np

from mmsearch.visualization import crop_box, read_image

TEXT_COLOUR = (40, 40, 40)  # BGR
QUERY_COLOUR = (0, 160, 0)


def read_video_frame(path: str, frame: int) -> np.ndarray:
    """Decode frame ``frame`` of a video (BGR)."""
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise FileNotFoundError(f'cannot open video "{path}"')
        capture.set(cv2.CAP_PROP_POS_FRAMES, frame)
        ok, image = capture.read()
    finally:
        capture.release()
    if not ok or image is None:
        raise ValueError(f'cannot read frame {frame} of video "{path}"')
    return image


def entry_image(result: Dict) -> np.ndarray:
    """The full image or video frame of a search result / index entry."""
    if result['kind'] == 'video':
        return read_video_frame(result['source'], result['frame'])
    return read_image(result['source'])


def format_time(seconds: Optional[float]) -> str:
    """``m:ss.s`` (``h:mm:ss.s`` from an hour on); '' for None or NaN.

    Rounded to tenths before splitting, so 59.96 s reads ``1:00.0``.
    """
    if seconds is None or math.isnan(seconds):
        return ''
    tenths = int(round(float(seconds) * 10))
    hours, rest = divmod(tenths, 36000)
    minutes, rest = divmod(rest, 600)
    secs = f'{rest // 10:02d}.{rest % 10}'
    if hours:
        return f'{hours}:{minutes:02d}:{secs}'
    return f'{minutes}:{secs}'


def describe(result: Dict) -> str:
    """``name`` for images, ``name f<frame> <time>`` for video frames
    (:func:`format_time`)."""
    name = osp.basename(result['source'])
    if result['kind'] != 'video':
        return name
    when = format_time(result['timestamp'])
    return f'{name} f{result["frame"]}' + (f' {when}' if when else '')


def _tile(crop: np.ndarray, lines: Sequence[str], colour,
          size=(160, 220)) -> np.ndarray:
    width, height = size
    scale = min(width / crop.shape[1], height / crop.shape[0])
    new_w = max(1, int(crop.shape[1] * scale))
    new_h = max(1, int(crop.shape[0] * scale))
    tile = np.full((height + 18 * len(lines) + 4, width, 3), 255, np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    tile[top:top + new_h, left:left + new_w] = cv2.resize(crop, (new_w, new_h))
    for i, line in enumerate(lines):
        cv2.putText(tile, line[:26], (3, height + 14 + 18 * i),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
    return tile


def draw_index_results(results: Sequence[Dict],
                       out_file: str,
                       query_crop: Optional[np.ndarray] = None,
                       max_cols: int = 6) -> np.ndarray:
    """Draw ranked results as crops captioned with rank, similarity, source
    and frame/time.

    Args:
        results (Sequence[dict]): Ranked results of
            :func:`mmsearch.index.search.search_features`.
        out_file (str): PNG to write (folders are created).
        query_crop (np.ndarray, optional): BGR crop of the query, drawn
            first.
        max_cols (int): Tiles per row.

    Returns:
        np.ndarray: The BGR sheet.
    """
    tiles = []
    if query_crop is not None:
        tiles.append(_tile(query_crop, ['query', '', ''], QUERY_COLOUR))
    for result in results:
        crop = crop_box(entry_image(result), result['box'])
        name = describe(result)
        tiles.append(
            _tile(crop, [
                f'#{result["rank"]} sim {result["similarity"]:.3f}', name[:26],
                name[26:52] or result['camera']
            ], TEXT_COLOUR))
    if not tiles:
        tiles.append(
            _tile(
                np.full((8, 8, 3), 255, np.uint8), ['no results', '', ''],
                TEXT_COLOUR))
    cols = max(1, min(max_cols, len(tiles)))
    tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % cols)
    sheet = np.concatenate([
        np.concatenate(tiles[i:i + cols], axis=1)
        for i in range(0, len(tiles), cols)
    ],
                           axis=0)
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    if not cv2.imwrite(out_file, sheet):
        raise OSError(f'cannot write "{out_file}"')
    return sheet
