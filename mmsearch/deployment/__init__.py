"""Deployment: ONNX export of the gallery and query paths, and a runtime.

``mmsearch.deployment.runtime`` needs numpy, OpenCV and onnxruntime only
(no PyTorch, mmcv or mmdet) and is what this package imports. The export
(``mmsearch.deployment.export``: ``export_onnx``, ``preprocess_spec``) needs
the training stack and the ``onnx`` package; import it from its module.
"""
from .runtime import (OnnxSearcher, SearchMatch, embed_query, init_searcher,
                      list_images, load_image, search_gallery)

__all__ = [
    'OnnxSearcher', 'SearchMatch', 'embed_query', 'init_searcher',
    'list_images', 'load_image', 'search_gallery'
]
