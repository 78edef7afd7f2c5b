from .search_results import crop_box, draw_search_results, read_image
from .sheet import add_caption, fit_tile, tile_sheet, write_sheet

__all__ = [
    'draw_search_results', 'crop_box', 'read_image', 'add_caption', 'fit_tile',
    'tile_sheet', 'write_sheet'
]
