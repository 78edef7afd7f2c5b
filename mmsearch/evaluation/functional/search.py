"""Vectorised person-search evaluation (mAP, top-k) over any galleries.

For each query and gallery (see :mod:`.search_gallery`):

1. ``count_gt`` = gallery images holding the query person (a gt box with
   the query's person id; the first such box per image).
2. Every kept gallery detection gets similarity ``s = f_q . f_d``.
3. In an image holding the person with gt box (w, h), the positive is the
   detection of highest similarity with IoU >= ``min(0.5, wh / ((w + 10)
   (h + 10)))`` (ties: lower detection index); all others are negatives.
4. ``AP = average_precision(labels, s) * count_tp / count_gt`` (0 when
   ``count_tp = 0``); ``top-k = 1`` when fewer than k detections score
   strictly higher than the best positive.

Instead of sorting every query's detections, only the positives' similarities
matter for AP: per query, detections are bucketed against the sorted
positive similarities ``t_0 < ... < t_{K-1}`` (bucket ``2k + 1`` = equal to
``t_k``, ``2k + 2`` = strictly between ``t_k`` and ``t_{k+1}``), one
``bincount`` gives per-image (or per-camera) bucket counts, and each
gallery weights the rows of the images it contains. Similarities come from
one (B, M) matrix product per batch of B queries, so memory stays
O(B M + Q N).
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .average_precision import average_precision_from_counts
from .cbgm import context_matching
from .search_gallery import CameraGallery, ListedGallery, SearchGallery
from .search_pairs import (QueryPairs, build_query_pairs, positive_detections,
                           rescored_positive)

GallerySpec = Union[ListedGallery, CameraGallery]


@dataclass
class SearchResult:
    """Per-query results of one gallery.

    Attributes:
        ap (np.ndarray): float64 (Q,) average precision x recall.
        topk_hits (np.ndarray): bool (Q, len(topk)).
        count_gt (np.ndarray): int64 (Q,) gallery images with the person.
        count_tp (np.ndarray): int64 (Q,) of them found.
        ranked_dets (np.ndarray, optional): int64 (Q, R) gallery detection
            indices by descending similarity (-1 pads).
        ranked_sims (np.ndarray, optional): float32 (Q, R).
        ranked_positive (np.ndarray, optional): bool (Q, R).
    """
    ap: np.ndarray
    topk_hits: np.ndarray
    count_gt: np.ndarray
    count_tp: np.ndarray
    ranked_dets: Optional[np.ndarray] = None
    ranked_sims: Optional[np.ndarray] = None
    ranked_positive: Optional[np.ndarray] = None

    def summary(self, topk: Sequence[int]) -> Dict[str, float]:
        """Mean AP and top-k rates.

        Returns:
            dict[str, float]: ``mAP`` and ``top{k}`` for each k.
        """
        out = {'mAP': float(self.ap.mean()) if self.ap.size else 0.0}
        for i, k in enumerate(topk):
            out[f'top{k}'] = float(
                self.topk_hits[:, i].mean()) if self.ap.size else 0.0
        return out


def similarity(query_feats: np.ndarray,
               gallery_feats: np.ndarray) -> np.ndarray:
    """Cosine similarities, summed in float64 and rounded to float32.

    Rounding a float64 sum makes each value independent of how the matrix
    product is blocked (batch size, BLAS kernel), so exact ties and rankings
    do not change with the batch size and the loop reference agrees.

    Args:
        query_feats (np.ndarray): (B, D) or (D,) features.
        gallery_feats (np.ndarray): (M, D) features.

    Returns:
        np.ndarray: float32 (B, M) (or (M,)) similarities.
    """
    if len(gallery_feats) == 0:  # no detection kept in the gallery
        return np.zeros(np.shape(query_feats)[:-1] + (0, ), np.float32)
    return (np.asarray(query_feats, np.float64) @ np.asarray(
        gallery_feats, np.float64).T).astype(np.float32)


@dataclass
class _Gallery:
    """One query's gallery.

    Attributes:
        pair_weight (np.ndarray): (P_q,) how often each image holding the
            query person counts in ``count_gt`` (0 = not in this gallery).
        img_weight (np.ndarray): (G,) how often each image is in the gallery.
        modified (dict): CBGM: image -> (detection, new similarity).
        pos_det (np.ndarray): (P_q,) positive detection per gt image, -1 if
            none; ``pos_sim`` its similarity.
    """
    pair_weight: np.ndarray
    img_weight: np.ndarray
    modified: Dict[int, Tuple[int, np.float32]] = field(default_factory=dict)
    pos_det: Optional[np.ndarray] = None
    pos_sim: Optional[np.ndarray] = None


def evaluate_search(query_feats: np.ndarray,
                    query_person_ids: np.ndarray,
                    query_img_indices: np.ndarray,
                    gallery: SearchGallery,
                    galleries: Dict[str, GallerySpec],
                    query_cam_ids: Optional[np.ndarray] = None,
                    topk: Sequence[int] = (1, 5, 10),
                    context_feats: Optional[List[np.ndarray]] = None,
                    cbgm_topk_images: int = 10,
                    ranking: Optional[Tuple[str, int]] = None,
                    batch_size: int = 256) -> Dict[str, SearchResult]:
    """Evaluate person search for several galleries in one pass.

    Args:
        query_feats (np.ndarray): (Q, D) L2-normalised query features.
        query_person_ids (np.ndarray): (Q,) person id of each query, in the
            id space of ``gallery.gt_person_ids``.
        query_img_indices (np.ndarray): (Q,) gallery index of the query
            image (-1 if it is not a gallery image).
        gallery (SearchGallery): Kept gallery detections and ground truth.
        galleries (dict[str, ListedGallery | CameraGallery]): Galleries to
            evaluate, by name.
        query_cam_ids (np.ndarray, optional): (Q,) query cameras, needed by
            ``CameraGallery(other_cameras_only=True)``.
        topk (Sequence[int]): Ranks of the top-k rates. Defaults to
            (1, 5, 10).
        context_feats (list[np.ndarray], optional): Enables CBGM: per query a
            (K_q, D) array, row 0 the query feature, then the query image's
            top co-occurring detections.
        cbgm_topk_images (int): CBGM re-scores the images holding the top
            ``k1`` detections. Defaults to 10.
        ranking (tuple[str, int], optional): ``(gallery name, R)``: also
            return each query's R best detections in that gallery.
        batch_size (int): Queries per similarity matrix. Defaults to 256.

    Returns:
        dict[str, SearchResult]: Results by gallery name.
    """
    query_feats = np.ascontiguousarray(query_feats, dtype=np.float32)
    query_person_ids = np.asarray(query_person_ids, dtype=np.int64)
    query_img_indices = np.asarray(query_img_indices, dtype=np.int64)
    num_queries = len(query_feats)
    _check_inputs(query_feats, query_person_ids, query_img_indices, gallery,
                  galleries, query_cam_ids, context_feats, ranking)
    pairs = build_query_pairs(gallery, query_person_ids)
    det_img = gallery.det_img_indices
    det_cam = None if gallery.cam_ids is None else gallery.cam_ids[det_img]
    num_cams = 0 if gallery.cam_ids is None else int(
        gallery.cam_ids.max(initial=-1)) + 1
    pair_cam = None if gallery.cam_ids is None else gallery.cam_ids[pairs.img]
    need_img_hist = any(
        isinstance(g, ListedGallery) for g in galleries.values())
    topk_arr = np.asarray(topk, dtype=np.int64)

    results = {
        name: SearchResult(
            ap=np.zeros(num_queries),
            topk_hits=np.zeros((num_queries, len(topk)), dtype=bool),
            count_gt=np.zeros(num_queries, dtype=np.int64),
            count_tp=np.zeros(num_queries, dtype=np.int64))
        for name in galleries
    }
    if ranking is not None:
        res = results[ranking[0]]
        res.ranked_dets = np.full((num_queries, ranking[1]), -1, np.int64)
        res.ranked_sims = np.full((num_queries, ranking[1]), np.nan,
                                  np.float32)
        res.ranked_positive = np.zeros((num_queries, ranking[1]), bool)
    nonempty = np.flatnonzero(np.diff(gallery.det_offsets) > 0)
    det_feats = gallery.det_feats.astype(np.float64)

    for b0 in range(0, num_queries, batch_size):
        b1 = min(b0 + batch_size, num_queries)
        sims = similarity(query_feats[b0:b1], det_feats)  # (B, M)
        p0, p1 = pairs.offsets[b0], pairs.offsets[b1]
        pos_det, pos_sim = positive_detections(pairs, (p0, p1), sims, b0)
        for q in range(b0, b1):
            s = sims[q - b0]
            pr = slice(pairs.offsets[q] - p0, pairs.offsets[q + 1] - p0)
            p_img = pairs.img[pairs.offsets[q]:pairs.offsets[q + 1]]
            q_img = query_img_indices[q]
            specs = {
                name: _query_gallery(spec, q, q_img, p_img, pairs, pair_cam,
                                     gallery, query_cam_ids)
                for name, spec in galleries.items()
            }
            if context_feats is not None:
                img_max = np.full(gallery.num_images, -np.inf, np.float32)
                img_max[nonempty] = np.maximum.reduceat(
                    s, gallery.det_offsets[nonempty])
                cache = {}
                for g in specs.values():
                    _apply_cbgm(g, s, img_max, gallery, context_feats[q],
                                cbgm_topk_images, cache)
            # positives, with those of CBGM-rescored images recomputed
            p_det, p_sim = pos_det[pr], pos_sim[pr]
            extra_thr = []
            for g in specs.values():
                g.pos_det, g.pos_sim = p_det.copy(), p_sim.copy()
                for k, img in enumerate(p_img.tolist()):
                    if img in g.modified:
                        g.pos_det[k], g.pos_sim[k] = rescored_positive(
                            pairs, pairs.offsets[q] + k, s, g.modified[img])
                        extra_thr.append(g.pos_sim[k:k + 1])
            thr = np.unique(np.concatenate([p_sim[p_det >= 0], *extra_thr]))
            bucket = _bucketize(thr, s)
            num_buckets = 2 * len(thr) + 1
            total = np.bincount(bucket, minlength=num_buckets)
            img_hist = np.bincount(
                det_img * num_buckets + bucket,
                minlength=gallery.num_images * num_buckets).reshape(
                    -1, num_buckets) if need_img_hist else None
            cam_hist = np.bincount(
                det_cam * num_buckets + bucket,
                minlength=num_cams * num_buckets).reshape(
                    -1, num_buckets) if det_cam is not None else None

            hists = _Histograms(bucket, num_buckets, total, img_hist, cam_hist)
            for name, spec in galleries.items():
                g = specs[name]
                counts = _gallery_counts(
                    spec, g, hists, thr, gallery, q_img,
                    None if query_cam_ids is None else query_cam_ids[q])
                _score_query(results[name], q, counts, thr, g, topk_arr)
                if ranking is not None and name == ranking[0]:
                    _rank_query(results[name], q, s, g, gallery, det_img)
    return results


@dataclass
class _Histograms:
    """One query's detections bucketed against its positive similarities.

    Attributes:
        bucket (np.ndarray): int64 (M,) bucket of each detection.
        num_buckets (int): 2K + 1.
        total (np.ndarray): (2K + 1,) detections per bucket.
        per_image (np.ndarray, optional): (G, 2K + 1).
        per_camera (np.ndarray, optional): (C, 2K + 1).
    """
    bucket: np.ndarray
    num_buckets: int
    total: np.ndarray
    per_image: Optional[np.ndarray]
    per_camera: Optional[np.ndarray]

    def of_image(self, gallery: SearchGallery, img: int) -> np.ndarray:
        """(2K + 1,) bucket counts of one image's detections."""
        d0, d1 = gallery.det_offsets[img:img + 2]
        return np.bincount(self.bucket[d0:d1], minlength=self.num_buckets)


def _gallery_counts(spec: GallerySpec, g: _Gallery, hists: _Histograms,
                    thr: np.ndarray, gallery: SearchGallery, q_img: int,
                    q_cam: Optional[int]) -> np.ndarray:
    """(2K + 1,) bucket counts of the detections in one query's gallery,
    CBGM re-scoring included."""
    if isinstance(spec, ListedGallery):
        counts = g.img_weight @ hists.per_image
    elif spec.other_cameras_only:
        counts = hists.total - hists.per_camera[q_cam]
    elif q_img >= 0:
        counts = hists.total - hists.of_image(gallery, q_img)
    else:
        counts = hists.total
    for img, (det, new_sim) in g.modified.items():
        d0, d1 = gallery.det_offsets[img:img + 2]
        new_bucket = hists.bucket[d0:d1].copy()
        new_bucket[det - d0] = _bucketize(thr, new_sim[None])[0]
        counts = counts + g.img_weight[img] * (
            np.bincount(new_bucket, minlength=hists.num_buckets) -
            hists.of_image(gallery, img))
    return counts


def _bucketize(thr: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Bucket of each value among sorted thresholds ``t_0 < ... < t_{K-1}``:
    ``2k + 1`` if it equals ``t_k``, ``2k`` if ``t_{k-1} < v < t_k``."""
    if thr.size == 0:
        return np.zeros(len(values), dtype=np.int64)
    left = np.searchsorted(thr, values, side='left')
    equal = thr[np.minimum(left, thr.size - 1)] == values
    return 2 * left + equal


def _query_gallery(spec: GallerySpec, q: int, q_img: int, p_img: np.ndarray,
                   pairs: QueryPairs, pair_cam: Optional[np.ndarray],
                   gallery: SearchGallery,
                   query_cam_ids: Optional[np.ndarray]) -> '_Gallery':
    """Query q's gallery: image weights and the weight of each gt image."""
    if isinstance(spec, ListedGallery):
        listed = np.bincount(spec.img_indices[q], minlength=gallery.num_images)
        img_weight = listed
        if spec.add_rest:
            img_weight = listed + (listed == 0)
            if q_img >= 0 and listed[q_img] == 0:
                img_weight[q_img] = 0
        return _Gallery(pair_weight=listed[p_img], img_weight=img_weight)
    if spec.other_cameras_only:
        p_cam = pair_cam[pairs.offsets[q]:pairs.offsets[q + 1]]
        img_weight = (gallery.cam_ids != query_cam_ids[q]).astype(np.int64)
        return _Gallery(
            pair_weight=(p_cam != query_cam_ids[q]).astype(np.int64),
            img_weight=img_weight)
    img_weight = np.ones(gallery.num_images, dtype=np.int64)
    if q_img >= 0:
        img_weight[q_img] = 0
    return _Gallery(
        pair_weight=(p_img != q_img).astype(np.int64), img_weight=img_weight)


def _apply_cbgm(g: _Gallery, s: np.ndarray, img_max: np.ndarray,
                gallery: SearchGallery, context: np.ndarray, k1: int,
                cache: Dict[int, Optional[Tuple[int, np.float32]]]) -> None:
    """CBGM: re-score the gallery images holding the top-k1 detections.

    ``cache`` keeps each image's matching across the galleries of a query.
    """
    candidates = np.flatnonzero((g.img_weight > 0) & np.isfinite(img_max))
    if candidates.size > k1:
        part = np.argpartition(-img_max[candidates], k1 - 1)[:k1]
        kth = img_max[candidates[part]].min()
        # images whose best detection ties the k1-th image maximum stay
        candidates = candidates[img_max[candidates] >= kth]
    dets = _detections_of(gallery, candidates)
    top = dets[np.lexsort((dets, -s[dets]))[:k1]]
    for img in np.unique(
            np.searchsorted(gallery.det_offsets, top, side='right') - 1):
        img = int(img)
        if img not in cache:
            d0, d1 = gallery.det_offsets[img:img + 2]
            local, new_sim = context_matching(context,
                                              gallery.det_feats[d0:d1])
            cache[img] = None if local < 0 else (int(d0) + local,
                                                 np.float32(new_sim))
        if cache[img] is not None:
            g.modified[img] = cache[img]


def _detections_of(gallery: SearchGallery, imgs: np.ndarray) -> np.ndarray:
    """int64 indices of all detections of the images ``imgs``."""
    starts = gallery.det_offsets[imgs]
    lengths = gallery.det_offsets[imgs + 1] - starts
    return np.repeat(starts, lengths) + (
        np.arange(lengths.sum()) -
        np.repeat(np.cumsum(lengths) - lengths, lengths))


def _score_query(result: SearchResult, q: int, counts: np.ndarray,
                 thr: np.ndarray, g: _Gallery, topk: np.ndarray) -> None:
    """AP and top-k of one query from its gallery's bucket counts.

    ``N(t_k)`` (detections >= t_k) sums buckets >= 2k + 1; detections
    strictly above the best positive t_k sum buckets >= 2k + 2.
    """
    count_gt = int(g.pair_weight.sum())
    tp_sims = np.repeat(g.pos_sim, g.pair_weight * (g.pos_det >= 0))
    result.count_gt[q] = count_gt
    result.count_tp[q] = tp_sims.size
    if tp_sims.size == 0:
        return
    num_ge_bucket = np.append(counts[::-1].cumsum()[::-1], 0)
    k = np.searchsorted(thr, tp_sims)
    ap = average_precision_from_counts(tp_sims, num_ge_bucket[2 * k + 1])
    result.ap[q] = ap * tp_sims.size / count_gt
    result.topk_hits[q] = num_ge_bucket[2 * k.max() + 2] < topk


def _rank_query(result: SearchResult, q: int, s: np.ndarray, g: _Gallery,
                gallery: SearchGallery, det_img: np.ndarray) -> None:
    """Store query q's best detections in its gallery."""
    dets = np.flatnonzero(g.img_weight[det_img] > 0)
    sims = s[dets].copy()
    for det, new_sim in g.modified.values():
        sims[dets == det] = new_sim
    num = min(result.ranked_dets.shape[1], dets.size)
    order = np.lexsort((dets, -sims))[:num]
    result.ranked_dets[q, :num] = dets[order]
    result.ranked_sims[q, :num] = sims[order]
    positives = g.pos_det[(g.pos_det >= 0) & (g.pair_weight > 0)]
    result.ranked_positive[q, :num] = np.isin(dets[order], positives)


def _check_inputs(query_feats, query_person_ids, query_img_indices, gallery,
                  galleries, query_cam_ids, context_feats, ranking) -> None:
    """Raise a clear error for inconsistent inputs."""
    num_queries = len(query_feats)
    if query_feats.ndim != 2:
        raise ValueError('evaluate_search: query_feats must be (Q, D), got '
                         f'shape {query_feats.shape}.')
    if len(gallery.det_feats) and query_feats.shape[1] != gallery.feat_dim:
        raise ValueError(
            f'evaluate_search: query features have dimension '
            f'{query_feats.shape[1]} but gallery features {gallery.feat_dim}.')
    for name, arr in (('query_person_ids', query_person_ids),
                      ('query_img_indices', query_img_indices)):
        if arr.shape != (num_queries, ):
            raise ValueError(f'evaluate_search: {name} must have shape '
                             f'({num_queries},), got {arr.shape}.')
    for name, spec in galleries.items():
        if isinstance(spec, ListedGallery):
            if spec.img_indices.ndim != 2 or len(
                    spec.img_indices) != num_queries:
                raise ValueError(
                    f'evaluate_search: gallery "{name}" lists '
                    f'{spec.img_indices.shape} images; expected one row per '
                    f'query ({num_queries}).')
        elif spec.other_cameras_only and (query_cam_ids is None
                                          or gallery.cam_ids is None):
            raise ValueError(f'evaluate_search: gallery "{name}" keeps other '
                             'cameras only but camera ids are missing.')
    if context_feats is not None and len(context_feats) != num_queries:
        raise ValueError('evaluate_search: context_feats needs one array per '
                         f'query ({num_queries}), got {len(context_feats)}.')
    if not np.isfinite(query_feats).all():
        raise ValueError('evaluate_search: query features hold NaN or inf.')
    if ranking is not None and ranking[0] not in galleries:
        raise ValueError(f'evaluate_search: ranking gallery "{ranking[0]}" '
                         f'is not one of {sorted(galleries)}.')
