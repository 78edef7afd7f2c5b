"""Torch-free records and box arithmetic shared by both search paths.

Nothing here imports PyTorch, mmcv or mmdet: ``mmsearch.apis`` (PyTorch) and
``mmsearch.deployment.runtime`` (onnxruntime) use the same match record, the
same query-box rule and the same box IoU.
"""
from .boxes import as_box, box_iou, clip_query_box, match_boxes, paired_box_iou
from .detections import check_finite_detections, rank_detections, rank_gallery
from .search_match import SearchMatch, format_matches

__all__ = [
    'SearchMatch', 'format_matches', 'check_finite_detections',
    'rank_detections', 'rank_gallery', 'as_box', 'clip_query_box', 'box_iou',
    'paired_box_iou', 'match_boxes'
]
