"""Runner loops and hooks of mmsearch."""
from .person_search_test_loop import (PersonSearchTestLoop,
                                      PersonSearchValLoop,
                                      evaluate_gallery_and_queries,
                                      query_dataloader_cfg,
                                      search_metrics_first)

__all__ = [
    'PersonSearchTestLoop', 'PersonSearchValLoop',
    'evaluate_gallery_and_queries', 'query_dataloader_cfg',
    'search_metrics_first'
]
