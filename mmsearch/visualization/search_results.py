"""Drawing of a ranked gallery: the query crop, then the best matches."""
import os
import os.path as osp
from typing import Sequence, Tuple, Union

import cv2
import numpy as np

from mmsearch.fileio import read_image

ImageType = Union[str, np.ndarray]

QUERY_COLOUR = (0, 200, 0)  # BGR
MATCH_COLOUR = (0, 0, 255)


def crop_box(image: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """The region [x1, y1, x2, y2] of ``image``, clipped, at least 1x1."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    x1, x2 = np.clip([x1, x2], 0, width - 1)
    y1, y2 = np.clip([y1, y2], 0, height - 1)
    return image[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)]


def _fit(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """``image`` scaled (aspect kept) and centred on a white tile (w, h)."""
    tile_w, tile_h = size
    scale = min(tile_w / image.shape[1], tile_h / image.shape[0])
    new_w = max(1, int(image.shape[1] * scale))
    new_h = max(1, int(image.shape[0] * scale))
    tile = np.full((tile_h, tile_w, 3), 255, np.uint8)
    top, left = (tile_h - new_h) // 2, (tile_w - new_w) // 2
    tile[top:top + new_h,
         left:left + new_w] = cv2.resize(image, (new_w, new_h))
    return tile


def _caption(tile: np.ndarray, text: str, colour) -> np.ndarray:
    """``tile`` with a text band of ``text`` added below it."""
    band = np.full((24, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1,
                cv2.LINE_AA)
    return np.concatenate([tile, band], axis=0)


def draw_search_results(query_image: ImageType,
                        query_box: Sequence[float],
                        results: Sequence,
                        out_file: str,
                        tile_size: Tuple[int, int] = (200, 240),
                        max_cols: int = 6) -> np.ndarray:
    """Draw the query crop and its ranked matches into one image.

    Tile 0 is the query crop; tile k (k >= 1) is the k-th match's gallery
    image with the detection boxed, captioned with its rank and similarity.

    Args:
        query_image (str | np.ndarray): Query image file or BGR array.
        query_box (Sequence[float]): (4,) [x1, y1, x2, y2] of the query.
        results (Sequence): Ranked matches, each (img_path or BGR array,
            bbox (4,), score, similarity), e.g.
            :class:`mmsearch.apis.SearchMatch`.
        out_file (str): Where to write the PNG (folders are created).
        tile_size (tuple[int, int]): (width, height) of each tile.
        max_cols (int): Tiles per row.

    Returns:
        np.ndarray: The drawn BGR canvas.
    """
    if len(query_box) != 4:
        raise ValueError(f'query_box must be [x1, y1, x2, y2], '
                         f'got {query_box}')
    tiles = [
        _caption(
            _fit(crop_box(read_image(query_image), query_box), tile_size),
            'query', QUERY_COLOUR)
    ]
    for rank, (image, bbox, _, similarity) in enumerate(results, start=1):
        img = read_image(image).copy()
        x1, y1, x2, y2 = (int(round(float(v))) for v in bbox)
        thickness = max(2, round(max(img.shape[:2]) / 200))
        cv2.rectangle(img, (x1, y1), (x2, y2), MATCH_COLOUR, thickness)
        tiles.append(
            _caption(
                _fit(img, tile_size), f'#{rank} sim {similarity:.3f}',
                MATCH_COLOUR))
    blank = np.full_like(tiles[0], 255)
    cols = max(1, min(max_cols, len(tiles)))
    tiles += [blank] * (-len(tiles) % cols)
    rows = [
        np.concatenate(tiles[i:i + cols], axis=1)
        for i in range(0, len(tiles), cols)
    ]
    canvas = np.concatenate(rows, axis=0)
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    if not cv2.imwrite(out_file, canvas):
        raise OSError(f'cannot write "{out_file}"')
    return canvas
