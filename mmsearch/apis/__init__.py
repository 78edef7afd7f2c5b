from .inference import (ImageReadError, SearchMatch, build_test_pipeline,
                        clip_query_box, embed_query, init_searcher,
                        list_images, search_gallery)

__all__ = [
    'SearchMatch', 'init_searcher', 'embed_query', 'search_gallery',
    'build_test_pipeline', 'list_images', 'clip_query_box', 'ImageReadError'
]

from .index_search import (build_index, check_index_model,  # noqa: E402
                           load_index, query_feature, search_index)

__all__ += [
    'build_index', 'load_index', 'search_index', 'check_index_model',
    'query_feature'
]
