from .search_results import crop_box, draw_search_results, read_image

__all__ = ['draw_search_results', 'crop_box', 'read_image']
