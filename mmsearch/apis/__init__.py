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

# The search page needs gradio (an optional extra): imported on first use,
# and left out of __all__ so that `import *` does not need gradio.
_WEB_NAMES = ('build_search_app', 'launch_search_app')


def __getattr__(name: str):
    if name in _WEB_NAMES:
        import mmsearch.web
        return getattr(mmsearch.web, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
