"""Result sheets: image tiles with caption lines, laid out in rows.

Both the ranked-gallery drawing (:func:`draw_search_results`) and the index
search sheet (:func:`mmsearch.index.draw_index_results`) are built from
these pieces.
"""
import os
import os.path as osp
from typing import Sequence, Tuple

import cv2
import numpy as np

WHITE = 255


def fit_tile(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """``image`` scaled (aspect kept) and centred on a white tile.

    Args:
        image (np.ndarray): (H, W, 3) BGR uint8.
        size (tuple[int, int]): (width, height) of the tile.

    Returns:
        np.ndarray: (height, width, 3) uint8.
    """
    tile_w, tile_h = size
    scale = min(tile_w / image.shape[1], tile_h / image.shape[0])
    new_w = max(1, int(image.shape[1] * scale))
    new_h = max(1, int(image.shape[0] * scale))
    tile = np.full((tile_h, tile_w, 3), WHITE, np.uint8)
    top, left = (tile_h - new_h) // 2, (tile_w - new_w) // 2
    tile[top:top + new_h,
         left:left + new_w] = cv2.resize(image, (new_w, new_h))
    return tile


def add_caption(tile: np.ndarray,
                lines: Sequence[str],
                colour: Tuple[int, int, int],
                line_height: int = 24,
                font_scale: float = 0.5) -> np.ndarray:
    """``tile`` with a white band of ``len(lines) * line_height`` pixels
    below it, one text line per ``line_height`` rows.

    Returns:
        np.ndarray: (H + len(lines) * line_height, W, 3) uint8.
    """
    band = np.full((line_height * len(lines), tile.shape[1], 3), WHITE,
                   np.uint8)
    baseline = int(round(0.7 * line_height))
    for i, line in enumerate(lines):
        cv2.putText(band, line, (4, baseline + i * line_height),
                    cv2.FONT_HERSHEY_SIMPLEX, font_scale, colour, 1,
                    cv2.LINE_AA)
    return np.concatenate([tile, band], axis=0)


def tile_sheet(tiles: Sequence[np.ndarray], max_cols: int) -> np.ndarray:
    """Tiles of one shape laid out left to right in rows of at most
    ``max_cols``; the last row is padded with white tiles.

    Returns:
        np.ndarray: (rows x H, cols x W, 3) uint8.
    """
    if not tiles:
        raise ValueError('tile_sheet: no tiles to lay out.')
    cols = max(1, min(max_cols, len(tiles)))
    tiles = list(tiles) + [np.full_like(tiles[0], WHITE)
                           ] * (-len(tiles) % cols)
    return np.concatenate([
        np.concatenate(tiles[i:i + cols], axis=1)
        for i in range(0, len(tiles), cols)
    ],
                          axis=0)


def write_sheet(out_file: str, sheet: np.ndarray) -> None:
    """Write ``sheet`` to ``out_file`` (folders are created).

    Raises:
        OSError: OpenCV could not write the file.
    """
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    if not cv2.imwrite(out_file, sheet):
        raise OSError(f'cannot write "{out_file}"')
