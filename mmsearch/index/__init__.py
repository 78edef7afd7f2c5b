"""Persistent gallery index: embed every person once, search many times.

See :mod:`mmsearch.index.format` for the on-disk format.
"""
from .builder import add_shard, build_gallery_index
from .exact import ExactScanner
from .format import (FORMAT_VERSION, GalleryIndexError, IndexFormatError,
                     IndexNotFoundError, ModelMismatchError, read_manifest)
from .search import (AnnIndex, exact_search, exact_topk, faiss_available,
                     get_ann, get_scanner, search_features)
from .signature import (PROBE_BOXES, build_signature, check_signature,
                        probe_image)
from .sources import Unit, dataset_units, list_image_units, list_video_units
from .store import GalleryIndex, load_gallery_index
from .visualize import describe, draw_index_results, entry_image

__all__ = [
    'FORMAT_VERSION', 'GalleryIndex', 'GalleryIndexError', 'IndexFormatError',
    'IndexNotFoundError', 'ModelMismatchError', 'Unit', 'AnnIndex',
    'ExactScanner', 'add_shard', 'build_gallery_index', 'build_signature',
    'check_signature', 'dataset_units', 'describe', 'draw_index_results',
    'entry_image', 'exact_search', 'exact_topk', 'faiss_available', 'get_ann',
    'get_scanner', 'list_image_units', 'list_video_units',
    'load_gallery_index', 'PROBE_BOXES', 'probe_image', 'read_manifest',
    'search_features'
]
