"""A drawn result sheet for index searches: crops with source and time."""
import math
import os.path as osp
from typing import Dict, Optional, Sequence

import cv2
import numpy as np

from mmsearch.visualization import (add_caption, crop_box, fit_tile,
                                    read_image, tile_sheet, write_sheet)

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
    """A crop on a ``size`` tile above three short caption lines."""
    return add_caption(
        fit_tile(crop, size), [line[:26] for line in lines],
        colour,
        line_height=18,
        font_scale=0.4)


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
    sheet = tile_sheet(tiles, max_cols)
    write_sheet(out_file, sheet)
    return sheet
