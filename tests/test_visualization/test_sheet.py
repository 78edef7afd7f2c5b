"""Result-sheet pieces shared by the gallery drawing and the index sheet."""
import cv2
import numpy as np
import pytest

from mmsearch.visualization import (add_caption, fit_tile, tile_sheet,
                                    write_sheet)


def test_fit_tile_keeps_the_aspect_and_centres():
    image = np.zeros((10, 40, 3), np.uint8)  # 4:1, black
    tile = fit_tile(image, (20, 20))
    assert tile.shape == (20, 20, 3)
    black_rows = np.where((tile == 0).all(axis=(1, 2)))[0]
    # 20 x 5 scaled image, centred: rows 7..11
    assert black_rows.tolist() == [7, 8, 9, 10, 11]


def test_caption_band_holds_one_text_line_per_line_height():
    tile = np.full((30, 50, 3), 255, np.uint8)
    out = add_caption(tile, ['ab', 'cd'], (0, 0, 0), line_height=18)
    assert out.shape == (30 + 36, 50, 3)
    assert (out[:30] == 255).all()
    band = out[30:]
    inked = [(band[i * 18:(i + 1) * 18] < 128).any() for i in range(2)]
    assert inked == [True, True]


def test_tile_sheet_pads_the_last_row_white():
    tiles = [np.full((4, 3, 3), v, np.uint8) for v in (10, 20, 30)]
    sheet = tile_sheet(tiles, max_cols=2)
    assert sheet.shape == (8, 6, 3)
    assert sheet[0, 0, 0] == 10 and sheet[0, 3, 0] == 20
    assert sheet[4, 0, 0] == 30 and (sheet[4:, 3:] == 255).all()
    with pytest.raises(ValueError, match='no tiles'):
        tile_sheet([], 2)


def test_write_sheet_creates_folders(tmp_path):
    path = tmp_path / 'a' / 'b' / 'sheet.png'
    sheet = np.full((5, 6, 3), 7, np.uint8)
    write_sheet(str(path), sheet)
    assert (cv2.imread(str(path)) == 7).all()
