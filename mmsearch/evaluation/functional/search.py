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
``bincount`` gives per-image (or per-camera) bucket counts, and each gallery
sums the rows it contains. Similarities come from one (B, M) matrix product
per batch of B queries, so memory stays O(B M + Q N).
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .average_precision import average_precision_from_counts
from .box_iou import paired_box_iou, small_box_iou_threshold
from .cbgm import context_matching
from .search_gallery import CameraGallery, ListedGallery, SearchGallery

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
            out[f'top{k}'] = float(self.topk_hits[:, i].mean()
                                   ) if self.ap.size else 0.0
        return out


@dataclass
class _QueryPairs:
    """(query, gallery image holding the query person) pairs, by query."""
    query: np.ndarray
    img: np.ndarray
    gt_box: np.ndarray
    offsets: np.ndarray  # (Q + 1,) pairs of query q: offsets[q]:offsets[q+1]
    # candidate (pair, detection) entries with IoU above the pair's threshold
    cand_pair: np.ndarray
    cand_det: np.ndarray
    cand_offsets: np.ndarray  # (P + 1,)


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
    return (np.asarray(query_feats, np.float64) @ np.asarray(
        gallery_feats, np.float64).T).astype(np.float32)


def _build_pairs(gallery: SearchGallery,
                 query_person_ids: np.ndarray) -> _QueryPairs:
    """Find every gallery image holding each query's person."""
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
    return _QueryPairs(query, img, gt_box, offsets, cand_pair, cand_det,
                       cand_offsets)


def _positives(pairs: _QueryPairs, pair_range: Tuple[int, int],
               sims: np.ndarray, first_query: int) -> Tuple[np.ndarray,
                                                            np.ndarray]:
    """Positive detection of each pair in ``pair_range`` (-1 if none)."""
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


@dataclass
class _Gallery:
    """One gallery of one query: image weights, count correction, CBGM."""
    pair_weight: np.ndarray
    counts: np.ndarray = None
    modified: Dict[int, Tuple[int, float]] = field(default_factory=dict)
    image_weight: Dict[int, int] = field(default_factory=dict)


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
    pairs = _build_pairs(gallery, query_person_ids)
    det_img = gallery.det_img_indices
    det_cam = None if gallery.cam_ids is None else gallery.cam_ids[det_img]
    num_cams = 0 if gallery.cam_ids is None else int(
        gallery.cam_ids.max(initial=-1)) + 1
    pair_cam = None if gallery.cam_ids is None else gallery.cam_ids[pairs.img]
    need_img_hist = any(isinstance(g, ListedGallery)
                        for g in galleries.values())
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
        pos_det, pos_sim = _positives(pairs, (p0, p1), sims, b0)
        for q in range(b0, b1):
            s = sims[q - b0]
            pr = slice(pairs.offsets[q] - p0, pairs.offsets[q + 1] - p0)
            p_img = pairs.img[pairs.offsets[q]:pairs.offsets[q + 1]]
            q_img = query_img_indices[q]
            specs = {}
            for name, spec in galleries.items():
                if isinstance(spec, ListedGallery):
                    row = spec.img_indices[q]
                    weight = (row[:, None] == p_img[None, :]).sum(0)
                elif spec.other_cameras_only:
                    weight = (pair_cam[pairs.offsets[q]:pairs.offsets[q + 1]]
                              != query_cam_ids[q]).astype(np.int64)
                else:
                    weight = (p_img != q_img).astype(np.int64)
                specs[name] = _Gallery(pair_weight=weight)
            if context_feats is not None or ranking is not None:
                img_mask = {
                    name: _image_mask(spec, q, q_img, gallery,
                                      query_cam_ids)
                    for name, spec in galleries.items()
                    if context_feats is not None or name == ranking[0]
                }
            if context_feats is not None:
                img_max = np.full(gallery.num_images, -np.inf, np.float32)
                img_max[nonempty] = np.maximum.reduceat(
                    s, gallery.det_offsets[nonempty])
                cache = {}
                for name, spec in galleries.items():
                    _apply_cbgm(specs[name], spec, q, s, img_max,
                                img_mask[name], gallery, context_feats[q],
                                cbgm_topk_images, cache)
            # modified positives of CBGM-rescored images
            p_det, p_sim = pos_det[pr], pos_sim[pr]
            spec_pos = {}
            extra_thr = []
            for name, g in specs.items():
                det_i, sim_i = p_det.copy(), p_sim.copy()
                for k, img in enumerate(p_img):
                    if int(img) in g.modified:
                        det_i[k], sim_i[k] = _modified_positive(
                            pairs, pairs.offsets[q] + k, s, g.modified[int(
                                img)], gallery)
                        extra_thr.append(sim_i[k:k + 1])
                spec_pos[name] = (det_i, sim_i)
            thr = np.unique(np.concatenate([p_sim[p_det >= 0], *extra_thr]))
            bucket = (np.searchsorted(thr, s, side='left') +
                      np.searchsorted(thr, s, side='right'))
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

            def hist_of(img, sims_of_img=None):
                if img_hist is not None and sims_of_img is None:
                    return img_hist[img]
                d0, d1 = gallery.det_offsets[img], gallery.det_offsets[img +
                                                                       1]
                if sims_of_img is None:
                    return np.bincount(bucket[d0:d1], minlength=num_buckets)
                b = (np.searchsorted(thr, sims_of_img, side='left') +
                     np.searchsorted(thr, sims_of_img, side='right'))
                return np.bincount(b, minlength=num_buckets)

            for name, spec in galleries.items():
                g = specs[name]
                if isinstance(spec, ListedGallery):
                    row = spec.img_indices[q]
                    counts = img_hist[row].sum(0)
                    if spec.add_rest:
                        listed = np.unique(
                            np.r_[row, q_img] if q_img >= 0 else row)
                        counts = counts + total - img_hist[listed].sum(0)
                elif spec.other_cameras_only:
                    counts = total - cam_hist[query_cam_ids[q]]
                else:
                    counts = total - hist_of(q_img) if q_img >= 0 else total
                for img, (det, new_sim) in g.modified.items():
                    d0 = gallery.det_offsets[img]
                    s_img = s[d0:gallery.det_offsets[img + 1]].copy()
                    s_img[det - d0] = new_sim
                    counts = counts + g.image_weight[img] * (
                        hist_of(img, s_img) - hist_of(img))
                det_i, sim_i = spec_pos[name]
                _score_query(results[name], q, counts, thr, g.pair_weight,
                             det_i, sim_i, topk_arr)
                if ranking is not None and name == ranking[0]:
                    _rank_query(results[name], q, s, img_mask[name], g,
                                det_i, gallery, det_img)
    return results


def _image_mask(spec: GallerySpec, q: int, q_img: int,
                gallery: SearchGallery,
                query_cam_ids: Optional[np.ndarray]) -> np.ndarray:
    """bool (G,): the images of query q's gallery."""
    if isinstance(spec, ListedGallery):
        mask = np.zeros(gallery.num_images, dtype=bool)
        mask[spec.img_indices[q]] = True
        if spec.add_rest:
            rest = np.ones(gallery.num_images, dtype=bool)
            if q_img >= 0:
                rest[q_img] = False
            mask |= rest
        return mask
    if spec.other_cameras_only:
        return gallery.cam_ids != query_cam_ids[q]
    mask = np.ones(gallery.num_images, dtype=bool)
    if q_img >= 0:
        mask[q_img] = False
    return mask


def _apply_cbgm(g: _Gallery, spec: GallerySpec, q: int, s: np.ndarray,
                img_max: np.ndarray, img_mask: np.ndarray,
                gallery: SearchGallery, context: np.ndarray, k1: int,
                cache: Dict[int, Tuple[int, float]]) -> None:
    """Re-score the images holding the top-k1 detections (CBGM)."""
    candidates = np.flatnonzero(img_mask & np.isfinite(img_max))
    if candidates.size > k1:
        part = np.argpartition(-img_max[candidates], k1 - 1)[:k1]
        kth = img_max[candidates[part]].min()
        # keep ties with the k1-th image maximum
        candidates = candidates[img_max[candidates] >= kth]
    starts = gallery.det_offsets[candidates]
    lengths = gallery.det_offsets[candidates + 1] - starts
    dets = np.repeat(starts, lengths) + (
        np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths,
                                             lengths))
    order = np.lexsort((dets, -s[dets]))[:k1]
    for img in np.unique(np.searchsorted(
            gallery.det_offsets, dets[order], side='right') - 1):
        img = int(img)
        if img not in cache:
            d0, d1 = gallery.det_offsets[img], gallery.det_offsets[img + 1]
            local, new_sim = context_matching(context,
                                              gallery.det_feats[d0:d1])
            cache[img] = None if local < 0 else (d0 + local,
                                                 np.float32(new_sim))
        if cache[img] is not None:
            g.modified[img] = cache[img]
            if isinstance(spec, ListedGallery):
                weight = int((spec.img_indices[q] == img).sum())
                g.image_weight[img] = max(weight, 1) if spec.add_rest \
                    else weight
            else:
                g.image_weight[img] = 1


def _modified_positive(pairs: _QueryPairs, pair: int, s: np.ndarray,
                       modification: Tuple[int, float],
                       gallery: SearchGallery) -> Tuple[int, np.float32]:
    """Positive of a pair's image after CBGM changed one similarity."""
    c0, c1 = pairs.cand_offsets[pair], pairs.cand_offsets[pair + 1]
    cand = pairs.cand_det[c0:c1]
    if cand.size == 0:
        return -1, np.float32(0)
    cand_sim = s[cand].copy()
    cand_sim[cand == modification[0]] = modification[1]
    best = np.lexsort((cand, -cand_sim))[0]
    return int(cand[best]), np.float32(cand_sim[best])


def _score_query(result: SearchResult, q: int, counts: np.ndarray,
                 thr: np.ndarray, pair_weight: np.ndarray,
                 pos_det: np.ndarray, pos_sim: np.ndarray,
                 topk: np.ndarray) -> None:
    """AP and top-k of one query from its gallery's bucket counts."""
    count_gt = int(pair_weight.sum())
    found = pair_weight * (pos_det >= 0)
    tp_sims = np.repeat(pos_sim, found)
    result.count_gt[q] = count_gt
    result.count_tp[q] = tp_sims.size
    if tp_sims.size == 0:
        return
    num_ge_bucket = np.r_[counts[::-1].cumsum()[::-1], 0]
    k = np.searchsorted(thr, tp_sims)
    num_ge = num_ge_bucket[2 * k + 1]
    ap = average_precision_from_counts(tp_sims, num_ge)
    result.ap[q] = ap * tp_sims.size / count_gt
    num_above = num_ge_bucket[2 * k.max() + 2]
    result.topk_hits[q] = num_above < topk


def _rank_query(result: SearchResult, q: int, s: np.ndarray,
                img_mask: np.ndarray, g: _Gallery, pos_det: np.ndarray,
                gallery: SearchGallery, det_img: np.ndarray) -> None:
    """Store query q's best detections in its gallery."""
    dets = np.flatnonzero(img_mask[det_img])
    sims = s[dets].copy()
    for det, new_sim in g.modified.values():
        sims[dets == det] = new_sim
    num = min(result.ranked_dets.shape[1], dets.size)
    order = np.lexsort((dets, -sims))[:num]
    result.ranked_dets[q, :num] = dets[order]
    result.ranked_sims[q, :num] = sims[order]
    positives = pos_det[(pos_det >= 0) & (g.pair_weight > 0)]
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
