"""The top of the library: build a model and search with it.

Nothing inside mmsearch imports this package (as nothing in mmdet imports
``mmdet.apis``); the search page (:mod:`mmsearch.web`), the deployment
export and the tools use it.
"""
from mmsearch.fileio import ImageReadError, list_images
from mmsearch.structures import SearchMatch, clip_query_box
from .index_search import (build_index, check_index_model, load_index,
                           model_signature, query_feature, search_index)
from .inference import (build_test_pipeline, detect_images, embed_query,
                        inference_searcher, init_searcher, search_gallery)

__all__ = [
    'SearchMatch', 'init_searcher', 'inference_searcher', 'detect_images',
    'embed_query', 'search_gallery', 'build_test_pipeline', 'list_images',
    'clip_query_box', 'ImageReadError', 'build_index', 'load_index',
    'search_index', 'check_index_model', 'query_feature', 'model_signature'
]
