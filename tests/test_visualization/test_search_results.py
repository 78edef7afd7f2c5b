"""Drawing of the ranked gallery."""
import cv2
import numpy as np
import pytest

from mmsearch.visualization import crop_box, draw_search_results

TILE = (100, 120)  # (width, height)
CAPTION = 24


def _scene(colour, size=(80, 120)) -> np.ndarray:
    return np.full((size[0], size[1], 3), colour, np.uint8)


def test_crop_box_clips_to_the_image():
    image = np.arange(10 * 20 * 3, dtype=np.uint8).reshape(10, 20, 3)
    assert crop_box(image, [2, 3, 7, 9]).shape == (6, 5, 3)
    assert np.array_equal(crop_box(image, [2, 3, 7, 9]), image[3:9, 2:7])
    assert crop_box(image, [-5, -5, 50, 50]).shape == (9, 19, 3)
    assert crop_box(image, [4, 4, 4, 4]).shape == (1, 1, 3)


def test_query_tile_then_ranked_matches(tmp_path):
    query = _scene((255, 0, 0))  # blue query person
    query[10:60, 20:50] = (0, 255, 0)  # green box region
    gallery = [_scene((40, 40, 40)), _scene((200, 200, 200))]
    results = [(gallery[0], np.array([10., 10., 40., 60.]), 0.9, 0.8),
               (gallery[1], np.array([50., 5., 90., 70.]), 0.7, 0.3)]
    out_file = str(tmp_path / 'sub' / 'search.png')
    canvas = draw_search_results(
        query, [20, 10, 50, 60], results, out_file, tile_size=TILE, max_cols=6)
    assert canvas.shape == (TILE[1] + CAPTION, 3 * TILE[0], 3)
    written = cv2.imread(out_file)
    assert np.array_equal(written, canvas)
    # The query tile shows the green crop only (no blue background).
    centre = canvas[TILE[1] // 2, TILE[0] // 2]
    assert centre.tolist() == [0, 255, 0]
    # Each match tile holds its gallery image and a red box.
    for rank, grey in ((1, 40), (2, 200)):
        tile = canvas[:TILE[1], rank * TILE[0]:(rank + 1) * TILE[0]]
        assert (tile == grey).all(axis=-1).sum() > 0.3 * tile[..., 0].size
        red = (tile[..., 2] > 200) & (tile[..., 0] < 60) & (tile[..., 1] < 60)
        assert red.sum() > 20


def test_tiles_wrap_into_rows(tmp_path):
    gallery = _scene((90, 90, 90))
    results = [(gallery, [0, 0, 10, 10], 1.0, 1.0 - i / 10) for i in range(5)]
    canvas = draw_search_results(
        gallery, [0, 0, 30, 30],
        results,
        str(tmp_path / 'grid.png'),
        tile_size=TILE,
        max_cols=4)
    assert canvas.shape == (2 * (TILE[1] + CAPTION), 4 * TILE[0], 3)
    # The two unused grid cells are blank white.
    assert (canvas[TILE[1] + CAPTION:, 2 * TILE[0]:] == 255).all()


def test_bad_inputs_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.jpg'):
        draw_search_results(
            str(tmp_path / 'missing.jpg'), [0, 0, 5, 5], [],
            str(tmp_path / 'x.png'))
    with pytest.raises(ValueError, match='query_box'):
        draw_search_results(_scene(0), [0, 0, 5], [], str(tmp_path / 'x.png'))
    with pytest.raises(ValueError, match=r'shape \(H, W, 3\)'):
        draw_search_results(
            np.zeros((5, 5), np.uint8), [0, 0, 2, 2], [],
            str(tmp_path / 'x.png'))
    with pytest.raises(ValueError, match='must be uint8'):
        draw_search_results(
            np.zeros((5, 5, 3)), [0, 0, 2, 2], [], str(tmp_path / 'x.png'))
