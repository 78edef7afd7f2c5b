"""Pure-numpy person-search evaluation (detection, search, CBGM)."""
from .average_precision import average_precision, average_precision_from_counts
from .bootstrap import bootstrap_mean_ci, paired_bootstrap_diff_ci
from .box_iou import box_iou, paired_box_iou, small_box_iou_threshold
from .cbgm import context_matching
from .detection import evaluate_detection, match_detections
from .reference import reference_search
from .search import SearchResult, evaluate_search
from .search_gallery import (CameraGallery, ListedGallery, SearchGallery,
                             build_search_gallery, check_finite_detections)

__all__ = [
    'average_precision', 'average_precision_from_counts', 'bootstrap_mean_ci',
    'paired_bootstrap_diff_ci', 'box_iou', 'paired_box_iou',
    'small_box_iou_threshold', 'context_matching', 'evaluate_detection',
    'match_detections', 'reference_search', 'SearchResult', 'evaluate_search',
    'CameraGallery', 'ListedGallery', 'SearchGallery', 'build_search_gallery',
    'check_finite_detections'
]
