"""Straightforward per-query, per-detection loop of the search protocol.

It follows the structure of the published evaluation code (one query at a
time, one gallery image at a time, each detection's IoU in Python) and is
kept as the reference that :func:`.search.evaluate_search` must equal: the
tests and ``tools/analysis_tools/benchmark_search_metric.py`` compare the two.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np

from .average_precision import average_precision
from .cbgm import context_matching
from .search import GallerySpec, SearchResult, similarity
from .search_gallery import ListedGallery, SearchGallery


def _iou(box_a: Sequence[float], box_b: Sequence[float]) -> float:
    """IoU of two (x1, y1, x2, y2) boxes, in Python floats."""
    inter_w = max(0.0, min(box_a[2], box_b[2]) - max(box_a[0], box_b[0]))
    inter_h = max(0.0, min(box_a[3], box_b[3]) - max(box_a[1], box_b[1]))
    inter = inter_w * inter_h
    union = ((box_a[2] - box_a[0]) * (box_a[3] - box_a[1]) +
             (box_b[2] - box_b[0]) * (box_b[3] - box_b[1]) - inter)
    return inter / union if union > 0 else 0.0


def _query_gt_box(gallery: SearchGallery, img: int,
                  person_id: int) -> Optional[List[float]]:
    """First gt box of ``person_id`` in image ``img``, or None."""
    for t in range(gallery.gt_offsets[img], gallery.gt_offsets[img + 1]):
        if gallery.gt_person_ids[t] == person_id:
            return [float(v) for v in gallery.gt_boxes[t]]
    return None


def _gallery_entries(spec: GallerySpec, q: int, q_img: int,
                     gallery: SearchGallery,
                     query_cam_ids: Optional[np.ndarray]) -> List[tuple]:
    """(image, whether its gt counts) for every image of q's gallery."""
    num_images = gallery.num_images
    if isinstance(spec, ListedGallery):
        listed = [int(i) for i in spec.img_indices[q]]
        entries = [(img, True) for img in listed]
        if spec.add_rest:
            seen = set(listed) | {int(q_img)}
            entries += [(img, False) for img in range(num_images)
                        if img not in seen]
        return entries
    return [(img, True) for img in range(num_images)
            if img != q_img and (not spec.other_cameras_only
                                 or gallery.cam_ids[img] != query_cam_ids[q])]


def reference_search(query_feats: np.ndarray,
                     query_person_ids: np.ndarray,
                     query_img_indices: np.ndarray,
                     gallery: SearchGallery,
                     galleries: Dict[str, GallerySpec],
                     query_cam_ids: Optional[np.ndarray] = None,
                     topk: Sequence[int] = (1, 5, 10),
                     context_feats: Optional[List[np.ndarray]] = None,
                     cbgm_topk_images: int = 10) -> Dict[str, SearchResult]:
    """Loop implementation of :func:`.search.evaluate_search` (same args,
    no ranking output)."""
    query_feats = np.asarray(query_feats, dtype=np.float32)
    results = {}
    for name, spec in galleries.items():
        aps, hits, count_gts, count_tps = [], [], [], []
        for q in range(len(query_feats)):
            person_id = int(query_person_ids[q])
            records, count_gt = [], 0
            for img, gt_counts in _gallery_entries(spec, q,
                                                   int(query_img_indices[q]),
                                                   gallery, query_cam_ids):
                gt_box = _query_gt_box(gallery, img, person_id)
                if not gt_counts:
                    gt_box = None
                count_gt += gt_box is not None
                d0, d1 = gallery.det_offsets[img], gallery.det_offsets[img + 1]
                if d1 == d0:
                    continue
                sims = similarity(query_feats[q], gallery.det_feats[d0:d1])
                records.append([img, gt_box, sims])
            if context_feats is not None and records:
                _reference_cbgm(records, gallery, context_feats[q],
                                cbgm_topk_images)
            labels, scores, count_tp = [], [], 0
            for img, gt_box, sims in records:
                image_labels = [0] * len(sims)
                if gt_box is not None:
                    w, h = gt_box[2] - gt_box[0], gt_box[3] - gt_box[1]
                    iou_thr = min(0.5, w * h / ((w + 10) * (h + 10)))
                    for j in np.argsort(-sims, kind='stable'):
                        det_box = gallery.det_boxes[gallery.det_offsets[img] +
                                                    j]
                        if _iou([float(v)
                                 for v in det_box], gt_box) >= iou_thr:
                            image_labels[j] = 1
                            count_tp += 1
                            break
                labels.extend(image_labels)
                scores.extend(sims.tolist())
            labels, scores = np.array(labels), np.array(scores, np.float32)
            if count_tp == 0:
                aps.append(0.0)
                hits.append([False] * len(topk))
            else:
                aps.append(
                    average_precision(labels, scores) * count_tp / count_gt)
                best = scores[labels == 1].max()
                num_above = int((scores > best).sum())
                hits.append([num_above < k for k in topk])
            count_gts.append(count_gt)
            count_tps.append(count_tp)
        results[name] = SearchResult(
            ap=np.array(aps),
            topk_hits=np.array(hits, dtype=bool).reshape(-1, len(topk)),
            count_gt=np.array(count_gts),
            count_tp=np.array(count_tps))
    return results


def _reference_cbgm(records: list, gallery: SearchGallery, context: np.ndarray,
                    k1: int) -> None:
    """Re-score, in place, the images holding the k1 best detections."""
    entries = []  # (similarity, global detection index, record)
    for record in records:
        d0 = gallery.det_offsets[record[0]]
        entries += [(float(sim), d0 + j, record)
                    for j, sim in enumerate(record[2])]
    entries.sort(key=lambda e: (-e[0], e[1]))
    top_images = {e[2][0] for e in entries[:k1]}
    for record in records:
        if record[0] not in top_images:
            continue
        d0, d1 = (gallery.det_offsets[record[0]],
                  gallery.det_offsets[record[0] + 1])
        local, new_sim = context_matching(context, gallery.det_feats[d0:d1])
        if local >= 0:
            record[2] = record[2].copy()
            record[2][local] = new_sim
