"""Which gallery detections are positives for a query (numpy).

In an image holding the query person with gt box (w, h), the positive is the
detection of highest similarity among those with IoU >= ``min(0.5, w h /
((w + 10) (h + 10)))``; every other detection is a negative.
"""
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from .box_iou import paired_box_iou, small_box_iou_threshold
from .search_gallery import SearchGallery


@dataclass
class QueryPairs:
    """(query, gallery image holding the query person) pairs, by query.

    Attributes:
        query (np.ndarray): int64 (P,) query of each pair, ascending.
        img (np.ndarray): int64 (P,) gallery image of each pair.
        gt_box (np.ndarray): float64 (P, 4) the person's first gt box there.
        offsets (np.ndarray): int64 (Q + 1,), pairs of query q are
            ``offsets[q]:offsets[q + 1]``.
        cand_pair (np.ndarray): int64 (E,) pair of each candidate (a
            detection of the pair's image with IoU >= the pair's threshold).
        cand_det (np.ndarray): int64 (E,) detection of each candidate.
        cand_offsets (np.ndarray): int64 (P + 1,) candidates of each pair.
    """
    query: np.ndarray
    img: np.ndarray
    gt_box: np.ndarray
    offsets: np.ndarray  # (Q + 1,) pairs of query q: offsets[q]:offsets[q+1]
    # candidate (pair, detection) entries with IoU above the pair's threshold
    cand_pair: np.ndarray
    cand_det: np.ndarray
    cand_offsets: np.ndarray  # (P + 1,)


def build_query_pairs(gallery: SearchGallery,
                      query_person_ids: np.ndarray) -> QueryPairs:
    """Find every gallery image holding each query's person, and the
    detections there that pass the small-box IoU rule.

    Args:
        gallery (SearchGallery): The gallery.
        query_person_ids (np.ndarray): (Q,) person id of each query.

    Returns:
        QueryPairs: The pairs and their candidate detections.
    """
    num_queries = len(query_person_ids)
    q_order = np.argsort(query_person_ids, kind='stable')
    sorted_pids = query_person_ids[q_order]
    gt_pids = gallery.gt_person_ids
    gt_img = np.repeat(
        np.arange(gallery.num_images), np.diff(gallery.gt_offsets))
    labelled = np.flatnonzero(gt_pids >= 0)
    lo = np.searchsorted(sorted_pids, gt_pids[labelled], side='left')
    hi = np.searchsorted(sorted_pids, gt_pids[labelled], side='right')
    reps = hi - lo
    gt_index = np.repeat(labelled, reps)
    within = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    query = q_order[np.repeat(lo, reps) + within]
    img = gt_img[gt_index]
    # one pair per (query, image): the first gt box of that person there
    order = np.lexsort((gt_index, img, query))
    query, img, gt_index = query[order], img[order], gt_index[order]
    first = np.ones(len(query), dtype=bool)
    first[1:] = (query[1:] != query[:-1]) | (img[1:] != img[:-1])
    query, img, gt_index = query[first], img[first], gt_index[first]
    gt_box = gallery.gt_boxes[gt_index]
    offsets = np.searchsorted(query, np.arange(num_queries + 1))

    # (pair, detection) entries of the pair's image passing the IoU rule
    num_dets = np.diff(gallery.det_offsets)[img]
    pair_of = np.repeat(np.arange(len(img)), num_dets)
    det = np.repeat(gallery.det_offsets[img], num_dets) + (
        np.arange(num_dets.sum()) -
        np.repeat(np.cumsum(num_dets) - num_dets, num_dets))
    iou = paired_box_iou(gallery.det_boxes[det], gt_box[pair_of])
    ok = iou >= small_box_iou_threshold(gt_box)[pair_of]
    cand_pair, cand_det = pair_of[ok], det[ok]
    cand_offsets = np.searchsorted(cand_pair, np.arange(len(img) + 1))
    return QueryPairs(query, img, gt_box, offsets, cand_pair, cand_det,
                      cand_offsets)


def positive_detections(pairs: QueryPairs, pair_range: Tuple[int, int],
                        sims: np.ndarray,
                        first_query: int) -> Tuple[np.ndarray, np.ndarray]:
    """The positive of each pair: among its candidates, the detection of
    highest similarity (ties: lower detection index).

    Args:
        pairs (QueryPairs): All pairs.
        pair_range (tuple[int, int]): Pairs ``p0:p1`` (queries of a batch).
        sims (np.ndarray): (B, M) similarities of the batch's queries.
        first_query (int): Query of row 0 of ``sims``.

    Returns:
        tuple[np.ndarray, np.ndarray]: int64 positive detection (-1 if
        none) and its float32 similarity, both (p1 - p0,).
    """
    p0, p1 = pair_range
    pos_det = np.full(p1 - p0, -1, dtype=np.int64)
    pos_sim = np.zeros(p1 - p0, dtype=np.float32)
    c0, c1 = pairs.cand_offsets[p0], pairs.cand_offsets[p1]
    if c1 == c0:
        return pos_det, pos_sim
    cand_pair = pairs.cand_pair[c0:c1]
    cand_det = pairs.cand_det[c0:c1]
    cand_sim = sims[pairs.query[cand_pair] - first_query, cand_det]
    order = np.lexsort((cand_det, -cand_sim, cand_pair))
    sorted_pair = cand_pair[order]
    first = np.r_[True, sorted_pair[1:] != sorted_pair[:-1]]
    chosen = order[first]
    pos_det[cand_pair[chosen] - p0] = cand_det[chosen]
    pos_sim[cand_pair[chosen] - p0] = cand_sim[chosen]
    return pos_det, pos_sim


def rescored_positive(
        pairs: QueryPairs, pair: int, s: np.ndarray,
        modification: Tuple[int, np.float32]) -> Tuple[int, np.float32]:
    """Positive of a pair's image after CBGM changed one similarity."""
    c0, c1 = pairs.cand_offsets[pair], pairs.cand_offsets[pair + 1]
    cand = pairs.cand_det[c0:c1]
    if cand.size == 0:
        return -1, np.float32(0)
    cand_sim = s[cand].copy()
    cand_sim[cand == modification[0]] = modification[1]
    best = np.lexsort((cand, -cand_sim))[0]
    return int(cand[best]), np.float32(cand_sim[best])
