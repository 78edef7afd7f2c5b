"""Drawing of a ranked gallery: the query crop, then the best matches."""
from typing import Sequence, Tuple, Union

import cv2
import numpy as np

from mmsearch.fileio import read_image
from .sheet import add_caption, fit_tile, tile_sheet, write_sheet

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
        add_caption(
            fit_tile(crop_box(read_image(query_image), query_box), tile_size),
            ['query'], QUERY_COLOUR)
    ]
    for rank, (image, bbox, _, similarity) in enumerate(results, start=1):
        img = read_image(image).copy()
        x1, y1, x2, y2 = (int(round(float(v))) for v in bbox)
        thickness = max(2, round(max(img.shape[:2]) / 200))
        cv2.rectangle(img, (x1, y1), (x2, y2), MATCH_COLOUR, thickness)
        tiles.append(
            add_caption(
                fit_tile(img, tile_size), [f'#{rank} sim {similarity:.3f}'],
                MATCH_COLOUR))
    canvas = tile_sheet(tiles, max_cols)
    write_sheet(out_file, canvas)
    return canvas
