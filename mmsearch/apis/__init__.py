from .inference import (SearchMatch, build_test_pipeline, embed_query,
                        init_searcher, list_images, search_gallery)

__all__ = [
    'SearchMatch', 'init_searcher', 'embed_query', 'search_gallery',
    'build_test_pipeline', 'list_images'
]
