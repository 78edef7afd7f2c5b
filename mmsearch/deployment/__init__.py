"""Deployment: ONNX export of the gallery and query paths, and a runtime.

``mmsearch.deployment.runtime`` needs numpy, OpenCV and onnxruntime only
(no PyTorch, mmcv or mmdet) and is what this package imports. The export
(``mmsearch.deployment.export``: ``export_onnx``, ``preprocess_spec``) and
``mmsearch.deployment.calibration`` (untrained models made to detect, for
checks and benchmarks) need the training stack; import them from their
modules.
"""
from .runtime import (OnnxSearcher, SearchMatch, embed_query, init_searcher,
                      list_images, read_image, search_gallery)

__all__ = [
    'OnnxSearcher', 'SearchMatch', 'embed_query', 'init_searcher',
    'list_images', 'read_image', 'search_gallery'
]
