"""Searching a gallery index: exact and approximate top-k, filters and
one-best-box-per-image / per-video-window ranking.

Similarity is the inner product of unit-norm embeddings (cosine).
"""
import hashlib
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmsearch.fileio import atomic_write
from .exact import GPU_MAX_K, ExactScanner, exact_topk, rerank, value_range
from .format import ANN_DIR
from .store import GalleryIndex

DEDUP_MODES = (None, 'image', 'window')
METHODS = ('auto', 'exact', 'ann')
# 'auto' searches exactly up to this many (filtered) entries: exact search
# (8-bit scan + exact re-rank) takes ~15-20 ms per query at 1M x 256 on 2
# cores, builds in seconds, and is never wrong; above, approximate search.
EXACT_UP_TO = 1_000_000
# Exact search scans an 8-bit copy (ExactScanner, with faiss) from this
# many entries; below, numpy products over the float32 features.
SCAN_FROM = 50_000
IVF_CODES = ('sq8', 'flat')
# Approximate-search defaults (tools/analysis_tools/benchmark_index.py
# measures them on 1M x 256, 2 cores). IVF is the default kind: it builds
# in well under a minute at 1M x 256 (HNSW: ~12 minutes and 4x the
# memory) and runs on GPUs with GPU faiss. Its lists hold 8-bit codes
# (N x D bytes, a quarter of float32 vectors) whose 4k best candidates are
# re-ranked exactly: per probed list ~1.7x faster than float32 lists at
# the same recall, so nprobe = nlist / 8 costs less than float32 lists at
# nlist / 16 and finds more. Default set (views at cosine ~0.8): recall@10
# 0.997, recall@100 0.987, p50 2.9 ms (float32 lists at nlist / 16: 0.993
# at 3.2 ms). Hard set (views at cosine ~0.5): IVF recall@10 0.86 at
# 2.9 ms (the lists cut through the identities), HNSW 0.986 at 0.95 ms:
# for such data search exactly ('auto' does up to EXACT_UP_TO entries) or
# choose ann_kind='hnsw' and pay its build once (it is cached on disk).
ANN_DEFAULTS = dict(
    hnsw=dict(M=32, ef_construction=80, ef_search=160),
    ivf=dict(nlist=None, nprobe=None, codes='sq8', refine=4))


def normalize_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    """(Q, D) float32 unit-norm copies of (D,) or (Q, D) ``queries``."""
    queries = np.asarray(queries, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None]
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise ValueError(f'query features must be (D,) or (Q, D) with D = '
                         f'{dim} (the index\'s embedding size), got shape '
                         f'{queries.shape}')
    norms = np.linalg.norm(queries, axis=1, keepdims=True)
    if (norms <= 0).any() or not np.isfinite(queries).all():
        raise ValueError('query features must be finite and non-zero')
    return queries / norms


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _import_faiss():
    try:
        import faiss
    except ImportError as error:
        raise ImportError(
            'approximate search needs faiss: pip install faiss-cpu (or '
            'pip install -r requirements/index.txt); or search with '
            'method="exact"') from error
    return faiss


class AnnIndex:
    """An approximate inner-product index over a feature matrix (faiss).

    Args:
        feats (np.ndarray): (N, D) unit-norm features (kept by reference:
            IVF over 8-bit codes re-ranks its candidates with them).
        kind (str): ``'hnsw'`` (graph; CPU) or ``'ivf'`` (inverted lists;
            runs on GPUs when GPU faiss is installed).
        params (dict, optional): ``hnsw``: ``M``, ``ef_construction``,
            ``ef_search``; ``ivf``: ``nlist`` (default ``2 * sqrt(N)``),
            ``nprobe`` (default ``nlist / 8``, at least
            ``min(nlist, 8)``), ``codes`` (``'sq8'``: 8-bit codes, then
            the ``refine * k`` best re-ranked exactly; ``'flat'``: float32
            vectors) and ``refine``.
        use_gpu (bool): Move an IVF index to all GPUs faiss sees.
    """

    def __init__(self,
                 feats: np.ndarray,
                 kind: str = 'ivf',
                 params: Optional[dict] = None,
                 use_gpu: bool = False,
                 faiss_index=None) -> None:
        faiss = _import_faiss()
        if kind not in ANN_DEFAULTS:
            raise ValueError(f'ANN kind must be one of '
                             f'{tuple(ANN_DEFAULTS)}, got {kind!r}')
        self.kind = kind
        self.feats = feats
        self.params = dict(ANN_DEFAULTS[kind], **(params or {}))
        num, dim = feats.shape
        if kind == 'ivf':
            if self.params['codes'] not in IVF_CODES:
                raise ValueError(f'IVF codes must be one of {IVF_CODES}, '
                                 f'got {self.params["codes"]!r}')
            if self.params['nlist'] is None:
                self.params['nlist'] = int(
                    max(1, min(num // 39, 2 * round(np.sqrt(num)))))
            if self.params['nprobe'] is None:
                nlist = self.params['nlist']
                self.params['nprobe'] = max(nlist // 8, min(nlist, 8))
        if faiss_index is None:
            faiss_index = self._build(faiss, feats)
        self.cpu_index = faiss_index
        self.index = faiss_index
        if use_gpu and kind == 'ivf' and hasattr(
                faiss, 'get_num_gpus') and faiss.get_num_gpus() > 0:
            self.index = faiss.index_cpu_to_all_gpus(faiss_index)
        self._set_search_params()

    def _build(self, faiss, feats: np.ndarray):
        num, dim = feats.shape
        data = np.ascontiguousarray(feats, dtype=np.float32)
        if self.kind == 'hnsw':
            index = faiss.IndexHNSWFlat(dim, self.params['M'],
                                        faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.params['ef_construction']
            index.add(data)
            return index
        quantizer = faiss.IndexFlatIP(dim)
        nlist = self.params['nlist']
        if self.params['codes'] == 'sq8':
            index = faiss.IndexIVFScalarQuantizer(
                quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit_uniform,
                faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexIVFFlat(quantizer, dim, nlist,
                                       faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        # 64 points per list train k-means well enough, in a quarter of
        # faiss's default 256 (minutes at 1M x 256).
        sample = data if num <= 64 * nlist else data[rng.choice(
            num, 64 * nlist, False)]
        index.train(sample)
        index.add(data)
        return index

    def _set_search_params(self) -> None:
        faiss = _import_faiss()
        if self.kind == 'hnsw':
            self.index.hnsw.efSearch = self.params['ef_search']
            return
        self.cpu_index.nprobe = self.params['nprobe']
        if self.index is not self.cpu_index:
            faiss.GpuParameterSpace().set_index_parameter(
                self.index, 'nprobe', self.params['nprobe'])

    def search(self, queries: np.ndarray,
               k: int) -> Tuple[np.ndarray, np.ndarray]:
        """(Q, k) similarities and ids (-1 where fewer than k found)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.kind == 'hnsw' and self.params['ef_search'] < k:
            self.index.hnsw.efSearch = k
        refine = self.kind == 'ivf' and self.params['codes'] == 'sq8'
        fetch = min(max(k, k * self.params['refine']), len(
            self.feats)) if refine else k
        # GPU faiss searches for at most GPU_MAX_K results: more on the CPU.
        index = self.index if fetch <= GPU_MAX_K else self.cpu_index
        sims, ids = index.search(queries, fetch)
        self._set_search_params()
        ids = ids.astype(np.int64)
        if not refine:
            return sims, ids
        # Exact scores of the candidates found by their 8-bit codes.
        out_s = np.full((len(queries), k), -np.inf, np.float32)
        out_i = np.full((len(queries), k), -1, np.int64)
        for row, (query, found) in enumerate(zip(queries, ids)):
            found = found[found >= 0]
            top_s, top_i = rerank(self.feats, query, found, k)
            out_s[row, :len(top_i)], out_i[row, :len(top_i)] = top_s, top_i
        return out_s, out_i

    def save(self, path: str) -> None:
        """Write the (CPU) faiss index atomically."""
        data = _import_faiss().serialize_index(self.cpu_index)
        atomic_write(path, lambda file: file.write(data.tobytes()))


def ann_cache_path(index: GalleryIndex, kind: str, params: dict) -> str:
    """Where the approximate structure of ``index`` is cached: named by the
    shards' checksums and the parameters (an append gives a new name)."""
    digest = hashlib.sha256()
    for shard in index.manifest['shards']:
        digest.update(shard['sha256'].encode())
    digest.update(repr(sorted(params.items())).encode())
    return osp.join(index.index_dir, ANN_DIR,
                    f'{kind}-{digest.hexdigest()[:16]}.faiss')


def get_ann(index: GalleryIndex,
            kind: str = 'ivf',
            params: Optional[dict] = None,
            use_gpu: bool = False,
            cache: bool = True) -> AnnIndex:
    """The approximate index of a gallery index, built once and cached
    (in memory on ``index`` and on disk under ``INDEX/ann/``)."""
    params = dict(ANN_DEFAULTS.get(kind, {}), **(params or {}))
    key = (kind, repr(sorted(params.items())), use_gpu)
    memo = index.__dict__.setdefault('_ann_memo', {})
    if key in memo:
        return memo[key]
    path = ann_cache_path(index, kind, params)
    faiss_index = None
    if cache and osp.isfile(path):
        faiss_index = _import_faiss().read_index(path)
        if faiss_index.ntotal != len(index):
            faiss_index = None
    ann = AnnIndex(index.feats, kind, params, use_gpu, faiss_index)
    if cache and faiss_index is None:
        try:
            ann.save(path)
        except OSError:
            pass  # a read-only index still searches
    memo[key] = ann
    return ann


def get_scanner(index: GalleryIndex, use_gpu: bool = False) -> ExactScanner:
    """The 8-bit exact-search scanner of ``index``, built once (about a
    second per million 256-d entries) and kept on the index object.
    ``use_gpu`` without a GPU faiss device gives the CPU scanner (one
    copy, not a second identical one)."""
    use_gpu = bool(use_gpu) and _import_faiss().get_num_gpus() > 0
    memo = index.__dict__.setdefault('_scanner_memo', {})
    if use_gpu not in memo:
        memo[use_gpu] = ExactScanner(index.feats, use_gpu=use_gpu)
    return memo[use_gpu]


def clear_search_cache(index: GalleryIndex) -> None:
    """Drop the scanners and approximate indexes kept on ``index`` (by
    :func:`get_scanner` and :func:`get_ann`) to free their memory; the
    on-disk ``ann/`` cache stays."""
    index.__dict__.pop('_scanner_memo', None)
    index.__dict__.pop('_ann_memo', None)


def exact_search(index: GalleryIndex,
                 queries: np.ndarray,
                 k: int,
                 mask: Optional[np.ndarray] = None,
                 use_gpu: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Exact top-k of (Q, D) float32 ``queries`` over ``index`` (see
    :func:`mmsearch.index.exact_topk`): through :func:`get_scanner` from
    ``SCAN_FROM`` entries when faiss is installed, else numpy products
    over the float32 features."""
    if len(index) >= SCAN_FROM and faiss_available():
        return exact_topk(
            index.feats, queries, k, mask, scanner=get_scanner(index, use_gpu))
    if '_max_abs' not in index.__dict__:
        index.__dict__['_max_abs'] = max(
            abs(v) for v in value_range(index.feats))
    return exact_topk(
        index.float32_feats(),
        queries,
        k,
        mask,
        max_abs=index.__dict__['_max_abs'])


def group_ids(index: GalleryIndex,
              dedup: Optional[str],
              window: float = 1.0) -> Optional[np.ndarray]:
    """(N,) int64 group of each entry for one-best-per-group ranking.

    ``'image'``: one group per image file or per video frame.
    ``'window'``: images as for ``'image'``; video frames by
    ``(video, floor(timestamp / window))``.
    """
    if dedup not in DEDUP_MODES:
        raise ValueError(f'dedup must be one of {DEDUP_MODES}, got '
                         f'{dedup!r}')
    if dedup is None:
        return None
    if dedup == 'window' and not window > 0:
        raise ValueError(f'window must be > 0 seconds, got {window}')
    _, source_ids = np.unique(index.unit_sources, return_inverse=True)
    source = source_ids.reshape(-1)[index.entry_unit]
    video = index.entry_is_video()
    sub = np.where(video, index.frames, -1).astype(np.int64)
    if dedup == 'window':
        stamps = np.where(
            np.isnan(index.timestamps), index.frames,
            index.timestamps / window)
        sub = np.where(video, np.floor(stamps), -1).astype(np.int64)
    pairs = np.stack([source, sub], axis=1)
    _, groups = np.unique(pairs, axis=0, return_inverse=True)
    return groups.reshape(-1).astype(np.int64)


def _first_per_group(ids: np.ndarray, sims: np.ndarray,
                     groups: Optional[np.ndarray],
                     k: int) -> Tuple[List[int], List[float]]:
    if groups is None:
        return ids[:k].tolist(), sims[:k].tolist()
    seen, out_i, out_s = set(), [], []
    for i, s in zip(ids.tolist(), sims.tolist()):
        group = int(groups[i])
        if group in seen:
            continue
        seen.add(group)
        out_i.append(i)
        out_s.append(s)
        if len(out_i) == k:
            break
    return out_i, out_s


def search_features(index: GalleryIndex,
                    queries: np.ndarray,
                    topk: int = 10,
                    method: str = 'auto',
                    dedup: Optional[str] = None,
                    window: float = 1.0,
                    cameras: Optional[Sequence[str]] = None,
                    videos: Optional[Sequence[str]] = None,
                    time_range: Optional[Sequence[float]] = None,
                    ann_kind: str = 'ivf',
                    ann_params: Optional[dict] = None,
                    use_gpu: bool = False) -> List[List[Dict]]:
    """Rank the index's entries against query features.

    Args:
        index (GalleryIndex): The index.
        queries (np.ndarray): (D,) or (Q, D) query features (normalised
            here).
        topk (int): Results per query.
        method (str): ``'exact'``, ``'ann'`` (faiss) or ``'auto'`` (exact
            up to ``EXACT_UP_TO`` entries after filtering, else ann when
            faiss is installed).
        dedup (str, optional): None, ``'image'`` (one best box per image
            or video frame) or ``'window'`` (one per video time window of
            ``window`` seconds, one per image).
        window (float): Window length in seconds for ``'window'``.
        cameras, videos, time_range: Filters, see
            :meth:`GalleryIndex.filter_mask`.
        ann_kind (str): ``'ivf'`` (default) or ``'hnsw'``.
        ann_params (dict, optional): Overrides of ``ANN_DEFAULTS``.
        use_gpu (bool): Search on GPUs where GPU faiss sees some: the IVF
            index, and exact search's unfiltered scan.

    Returns:
        list[list[dict]]: Per query, the ranked results: the entry's
        fields (:meth:`GalleryIndex.entry`) plus ``rank`` (from 1) and
        ``similarity``.
    """
    if topk < 1:
        raise ValueError(f'topk must be >= 1, got {topk}')
    if method not in METHODS:
        raise ValueError(f'method must be one of {METHODS}, got {method!r}')
    queries = normalize_queries(queries, index.embed_dim)
    mask = index.filter_mask(cameras, videos, time_range)
    groups = group_ids(index, dedup, window)
    num_ranked = len(index) if mask is None else int(mask.sum())
    if method == 'auto':
        method = ('ann' if num_ranked > EXACT_UP_TO and faiss_available() else
                  'exact')
    outputs = []
    for query in queries:
        ids, sims = _search_one(index, query[None], topk, method, mask, groups,
                                num_ranked, ann_kind, ann_params, use_gpu)
        ranked = []
        for rank, (entry_id, sim) in enumerate(zip(ids, sims), start=1):
            result = index.entry(entry_id)
            result.update(rank=rank, similarity=float(sim))
            ranked.append(result)
        outputs.append(ranked)
    return outputs


def _search_one(index, query, topk, method, mask, groups, num_ranked, ann_kind,
                ann_params, use_gpu):
    """Top-k ids and similarities of one (1, D) query."""
    fetch = topk if groups is None else topk * 4
    while True:
        fetch = min(fetch, num_ranked)
        if fetch == 0:
            return [], []
        if method == 'exact':
            sims, ids = exact_search(index, query, fetch, mask, use_gpu)
            sims, ids = sims[0], ids[0]
        else:
            ann = get_ann(index, ann_kind, ann_params, use_gpu)
            # Over-fetch by the share of entries the filters drop.
            share = num_ranked / max(len(index), 1)
            want = min(len(index), int(np.ceil(fetch / max(share, 1e-9))))
            sims, ids = ann.search(query, max(want, fetch))
            sims, ids = sims[0], ids[0]
            valid = ids >= 0
            if mask is not None:
                valid &= mask[np.where(valid, ids, 0)]
            sims, ids = sims[valid], ids[valid]
        got_i, got_s = _first_per_group(ids, sims, groups, topk)
        if len(got_i) >= topk:
            return got_i, got_s
        if fetch >= num_ranked:
            if method == 'exact':
                return got_i, got_s
            method = 'exact'  # the graph missed some: rank them all
            continue
        fetch *= 4
