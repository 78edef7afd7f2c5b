"""Exact top-k inner-product search, fast and provably exact.

Every result is the true top-k of the stored features: a cheap pass gives
an approximate score ``s~`` of every row with a known error bound
``|s~ - s| <= B``; every row whose upper bound ``s~ + B`` reaches the k-th
best lower bound (the k-th largest ``s~`` minus ``B``) is kept, and only
those candidates are scored exactly. A row left out has
``s <= s~ + B < s~_k - B <= s_k``: it ranks strictly below the k-th true
score, so the kept set holds the whole top-k, ties included.

Exact scores are the float32-rounded values of the inner products of the
stored features (float16 or float32) with the float32 query, summed in
float64 (the products of two float32 numbers are exact in float64, and
the float64 sum is far closer than a float32 step): one number per row,
whatever the order of summation, so duplicated rows tie exactly. Ties are
broken by the lower entry id. ``B`` holds a margin of more than a float32
step of the scores, so a row left out cannot tie the k-th after rounding.

The cheap pass is

- :class:`ExactScanner` (faiss): an 8-bit copy of the features (``N x D``
  bytes, a quarter of float32) scanned by faiss's SIMD scalar-quantizer
  code, in one shard per thread; ``B = ||q|| * max_i ||x_i - x^_i||`` plus
  a float32 rounding bound. 1,000,000 x 256 on 2 cores: about 15-20 ms per
  query, against ~120 ms for a float32 matrix product in numpy over a 1 GB
  float32 copy and ~180 ms for faiss's IndexFlatIP (both memory-bound);
  tools/analysis_tools/benchmark_index.py measures it. With GPU faiss the
  unfiltered scan may run on a GPU instead (float32 copy, flat index).
- :func:`exact_topk` without a scanner: float32 matrix products in numpy
  over row chunks; ``B`` is the float32 rounding bound only.
"""
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional, Tuple

import numpy as np
import torch

# A mask keeping at most this many rows is ranked by exact products of
# every kept row (no cheap pass).
DIRECT_ROWS = 8192
# First fetch of the cheap pass: k plus this many (grown 4x until the
# candidates are certified complete).
FETCH_PAD = 64
# Rows per chunk when encoding or multiplying.
CHUNK_ROWS = 65536
# Allowed error of the GPU scan, times ||q|| * max ||x||: generous enough
# for TF32 matrix products (10-bit mantissas: ~1e-3 relative per product).
GPU_REL_ERROR = 4e-3
# The largest k GPU faiss searches for.
GPU_MAX_K = 2048

Pieces = List[List[Tuple[np.ndarray, np.ndarray]]]


def rounding_bound(dim: int, l1_dot_bound: np.ndarray) -> np.ndarray:
    """Bound on the float32 rounding error of a D-term dot product.

    ``|fl(sum_d q_d x_d) - sum_d q_d x_d| <= gamma_D * sum_d |q_d x_d|``
    with ``gamma_D = D u / (1 - D u)``, ``u = 2^-24``, for any order of
    summation; doubled here to cover the rounding of decoded values and
    fused multiply-adds.

    Args:
        dim (int): D.
        l1_dot_bound (np.ndarray): Upper bounds of ``sum_d |q_d x_d|``.

    Returns:
        np.ndarray: The bounds, float64.
    """
    unit = 2.0**-24
    gamma = dim * unit / (1 - dim * unit)
    return 2 * gamma * np.asarray(l1_dot_bound, np.float64)


def exact_scores(feats: np.ndarray, query: np.ndarray,
                 ids: np.ndarray) -> np.ndarray:
    """(M,) float32 exact scores of rows ``ids`` against one (D,) query:
    float64 sums of the (exact) products, rounded once to float32."""
    rows = np.asarray(feats[ids], np.float64)
    return (rows @ np.asarray(query, np.float64)).astype(np.float32)


def rerank(feats: np.ndarray, query: np.ndarray, ids: np.ndarray,
           k: int) -> Tuple[np.ndarray, np.ndarray]:
    """The exact top-k of rows ``ids``: float32 scores descending, ties by
    the lower id. Returns (sims (K,), ids (K,)), K = min(k, len(ids))."""
    ids = np.asarray(ids, np.int64)
    sims = exact_scores(feats, query, ids)
    order = np.lexsort((ids, -sims))[:k]
    return sims[order], ids[order]


def certified_topk(feats: np.ndarray, queries: np.ndarray, k: int,
                   num_valid: int, coarse: Callable[[np.ndarray, int], Pieces],
                   bounds: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Exact top-k from a cheap pass with error bounds (see the module).

    Args:
        feats (np.ndarray): (N, D) stored features (exact scores).
        queries (np.ndarray): (Q, D) float32 queries.
        k (int): Results per query.
        num_valid (int): Rows that may be ranked (after the mask).
        coarse (callable): ``coarse(queries, fetch)`` gives, per query, a
            list of pieces ``(s~, ids)``: each the ``fetch`` best
            approximate scores (descending) of one part of the valid rows,
            fewer when the part holds fewer.
        bounds (np.ndarray): (Q,) ``B``: ``|s~ - s| <= B`` for every row.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``sims`` (Q, K) float32 descending
        and ``ids`` (Q, K) int64, K = min(k, num_valid).
    """
    k = min(k, num_valid)
    sims_out = np.zeros((len(queries), k), np.float32)
    ids_out = np.zeros((len(queries), k), np.int64)
    todo = np.arange(len(queries)) if k > 0 else np.zeros(0, np.int64)
    fetch = min(num_valid, max(2 * k, k + FETCH_PAD))
    while len(todo):
        again = []
        for row, pieces in zip(todo, coarse(queries[todo], fetch)):
            approx = np.concatenate([s for s, _ in pieces])
            cand = np.concatenate([i for _, i in pieces])
            kth = np.partition(approx, len(approx) - k)[len(approx) - k]
            threshold = kth - 2 * bounds[row]
            if fetch < num_valid and any(
                    len(s) >= fetch and s[-1] >= threshold for s, _ in pieces):
                again.append(row)  # more rows may reach the threshold
                continue
            keep = approx >= threshold
            sims_out[row], ids_out[row] = _rerank_checked(
                feats, queries[row], cand[keep], approx[keep], k, bounds[row])
        todo = np.array(again, np.int64)
        fetch = min(num_valid, 4 * fetch)
    return sims_out, ids_out


def _rerank_checked(feats, query, cand, approx, k, bound):
    """:func:`rerank`, checking that the stated error bound held for
    every candidate (a wrong bound would silently lose results: fail
    loudly instead)."""
    cand = np.asarray(cand, np.int64)
    sims = exact_scores(feats, query, cand)
    if (np.abs(approx.astype(np.float64) - sims) > bound).any():
        raise RuntimeError(
            'exact search: the scan\'s approximate scores broke their error '
            'bound; please report this (faiss version, data), and search '
            'with exact_topk(..., scanner=None) meanwhile')
    order = np.lexsort((cand, -sims))[:k]
    return sims[order], cand[order]


def valid_count(num: int, mask: Optional[np.ndarray]) -> int:
    return num if mask is None else int(np.count_nonzero(mask))


def direct_topk(feats: np.ndarray, queries: np.ndarray, k: int,
                mask: Optional[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """Exact top-k by scoring every kept row (for small row counts)."""
    rows = np.arange(len(feats)) if mask is None else np.flatnonzero(mask)
    k = min(k, len(rows))
    sims = np.zeros((len(queries), k), np.float32)
    ids = np.zeros((len(queries), k), np.int64)
    for row, query in enumerate(queries):
        sims[row], ids[row] = rerank(feats, query, rows, k)
    return sims, ids


def exact_topk(
        feats: np.ndarray,
        queries: np.ndarray,
        k: int,
        mask: Optional[np.ndarray] = None,
        chunk_size: int = CHUNK_ROWS,
        scanner: Optional['ExactScanner'] = None,
        max_abs: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Exact top-k inner products (the true top-k, see the module).

    Args:
        feats (np.ndarray): (N, D) gallery features (float16 or float32).
        queries (np.ndarray): (Q, D) or (D,) query features (float32 is
            used; float64 would make every product float64).
        k (int): Results per query.
        mask (np.ndarray, optional): (N,) bool; only True rows are ranked.
        chunk_size (int): Rows per matrix product (numpy pass).
        scanner (ExactScanner, optional): An 8-bit scanner of ``feats``
            (much faster on large ``N``); None: numpy products.
        max_abs (float, optional): ``max |feats|`` (for the numpy pass's
            rounding bound; computed when not given).

    Returns:
        tuple[np.ndarray, np.ndarray]: ``sims`` (Q, K) float32 descending
        (ties by the lower id) and ``ids`` (Q, K) int64, K = min(k, number
        of ranked rows).
    """
    queries = np.asarray(queries, np.float32)
    if queries.ndim == 1:
        queries = queries[None]
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape != (len(feats), ):
            raise ValueError(f'mask must be ({len(feats)},) bool, got '
                             f'shape {mask.shape}')
    num_valid = valid_count(len(feats), mask)
    if num_valid <= DIRECT_ROWS or num_valid <= k:
        return direct_topk(feats, queries, k, mask)
    if scanner is not None:
        return scanner.search(queries, k, mask)
    if max_abs is None:
        max_abs = max(abs(v) for v in value_range(feats))
    bounds = rounding_bound(feats.shape[1], np.abs(queries).sum(1) * max_abs)

    def coarse(qs, fetch):
        return _numpy_coarse(feats, qs, fetch, mask, chunk_size)

    return certified_topk(feats, queries, k, num_valid, coarse, bounds)


def value_range(feats: np.ndarray) -> Tuple[float, float]:
    """(min, max) of all values of ``feats`` (torch: float16 reductions in
    numpy run about 50x slower); (0, 0) when empty."""
    if feats.size == 0:
        return 0.0, 0.0
    low, high = torch.aminmax(_as_tensor(feats))
    return float(low), float(high)


def _numpy_coarse(feats, queries, fetch, mask, chunk_size) -> Pieces:
    """One piece per query: the ``fetch`` best float32 products."""
    num_q = len(queries)
    best_s = np.full((num_q, 0), -np.inf, np.float32)
    best_i = np.zeros((num_q, 0), np.int64)
    for begin in range(0, len(feats), chunk_size):
        keep = None if mask is None else mask[begin:begin + chunk_size]
        if keep is not None and not keep.any():
            continue
        block = np.asarray(feats[begin:begin + chunk_size], np.float32)
        ids = np.arange(begin, begin + len(block))
        if keep is not None:
            block, ids = block[keep], ids[keep]
        # (rows, D) x (D,) is a matrix-vector product (BLAS gemv); a
        # (1, D) x (D, rows) matrix product pays for threads it cannot use
        # (~100x slower here on 2 busy cores).
        sims = (block @ queries[0])[None] if num_q == 1 else (
            block @ queries.T).T
        cand_s = np.concatenate([best_s, sims], axis=1)
        cand_i = np.concatenate(
            [best_i, np.broadcast_to(ids, sims.shape)], axis=1)
        take = min(fetch, cand_s.shape[1])
        if take < cand_s.shape[1]:
            sel = np.argpartition(-cand_s, take - 1, axis=1)[:, :take]
            cand_s = np.take_along_axis(cand_s, sel, 1)
            cand_i = np.take_along_axis(cand_i, sel, 1)
        best_s, best_i = cand_s, cand_i
    order = np.argsort(-best_s, axis=1, kind='stable')
    best_s = np.take_along_axis(best_s, order, 1)
    best_i = np.take_along_axis(best_i, order, 1)
    return [[(s, i)] for s, i in zip(best_s, best_i)]


class ExactScanner:
    """Exact search over an 8-bit copy of a feature matrix (faiss).

    The copy is faiss's uniform 8-bit scalar quantizer over the global
    value range (``N x D`` bytes) in ``num_shards`` row ranges, scanned
    one thread per shard; results are made exact as described in the
    module.

    Args:
        feats (np.ndarray): (N, D) features (float16 or float32), kept by
            reference for the exact scores.
        num_shards (int, optional): Scan threads (default: faiss's OpenMP
            thread count, i.e. ``OMP_NUM_THREADS`` or the cores).
        use_gpu (bool): Also keep a float32 flat copy on the GPUs (GPU
            faiss) for unfiltered searches.

    Attributes:
        max_error (float): ``max_i ||x_i - x^_i||`` of the 8-bit copy.
    """

    def __init__(self,
                 feats: np.ndarray,
                 num_shards: Optional[int] = None,
                 use_gpu: bool = False) -> None:
        import faiss
        self.feats = feats
        num, dim = feats.shape
        if num_shards is None:
            num_shards = faiss.omp_get_max_threads()
        num_shards = int(max(1, min(num_shards, num // DIRECT_ROWS or 1)))
        data = _as_tensor(feats)
        low, high = ((float(v) for v in torch.aminmax(data)) if num else
                     (0.0, 1.0))
        high = max(high, low + 1e-6)
        # Train on the global range: every value then encodes in range.
        range_rows = np.array([[low] * dim, [high] * dim], np.float32)
        edges = np.linspace(0, num, num_shards + 1).astype(np.int64)
        self.offsets = edges[:-1]
        self.shards = []
        self.max_error, self.max_norm = 0.0, 0.0
        for begin, end in zip(edges[:-1], edges[1:]):
            shard = faiss.IndexScalarQuantizer(
                dim, faiss.ScalarQuantizer.QT_8bit_uniform,
                faiss.METRIC_INNER_PRODUCT)
            shard.train(range_rows)
            for b in range(begin, end, CHUNK_ROWS):
                codes, error, norm = _encode_8bit(
                    data[b:min(end, b + CHUNK_ROWS)], low, high)
                shard.add_sa_codes(codes)
                self.max_error = max(self.max_error, error)
                self.max_norm = max(self.max_norm, norm)
            self.shards.append(shard)
        self.max_abs = max(abs(low), abs(high)) + (high - low) / 255
        self.dim = dim
        # Every scan runs in the pool, one OpenMP thread each: a faiss
        # call from the main thread opens an OpenMP team even for one
        # query (~500x slower on small shards on busy cores).
        self._pool = ThreadPoolExecutor(
            num_shards, initializer=faiss.omp_set_num_threads, initargs=(1, ))
        self.gpu_index = None
        if use_gpu and hasattr(faiss,
                               'get_num_gpus') and (faiss.get_num_gpus() > 0):
            flat = faiss.IndexFlatIP(dim)
            for b in range(0, num, CHUNK_ROWS):
                flat.add(
                    np.ascontiguousarray(feats[b:b + CHUNK_ROWS], np.float32))
            self.gpu_index = faiss.index_cpu_to_all_gpus(flat)

    def __len__(self) -> int:
        return len(self.feats)

    def __del__(self) -> None:
        pool = self.__dict__.get('_pool')
        if pool is not None:
            pool.shutdown(wait=False)

    def bounds(self, queries: np.ndarray, gpu: bool = False) -> np.ndarray:
        """(Q,) error bounds ``B`` of the scan's scores."""
        norms = np.linalg.norm(queries.astype(np.float64), axis=1)
        if gpu:
            return GPU_REL_ERROR * norms * max(self.max_norm, 1.0) + 1e-6
        l1 = np.abs(queries.astype(np.float64)).sum(1) * self.max_abs
        return (self.max_error * (1 + 1e-4) * norms +
                rounding_bound(self.dim, l1) + 1e-7)

    def search(self,
               queries: np.ndarray,
               k: int,
               mask: Optional[np.ndarray] = None
               ) -> Tuple[np.ndarray, np.ndarray]:
        """Exact top-k of (Q, D) float32 ``queries`` (see
        :func:`exact_topk`)."""
        queries = np.ascontiguousarray(queries, np.float32)
        num_valid = valid_count(len(self.feats), mask)
        if num_valid <= DIRECT_ROWS or num_valid <= k:
            return direct_topk(self.feats, queries, k, mask)
        bounds = self.bounds(queries)
        if self.gpu_index is not None and mask is None:
            # A fetch beyond GPU faiss's largest k scans on the CPU: the
            # larger of the two bounds holds for either.
            bounds = np.maximum(bounds, self.bounds(queries, gpu=True))
        return certified_topk(self.feats, queries, k, num_valid,
                              lambda qs, fetch: self._coarse(qs, fetch, mask),
                              bounds)

    def _coarse(self, queries, fetch, mask) -> Pieces:
        if (self.gpu_index is not None and mask is None
                and fetch <= GPU_MAX_K):
            sims, ids = self.gpu_index.search(queries, int(fetch))
            return [[_valid(s, i)] for s, i in zip(sims, ids)]
        return self._cpu_coarse(queries, fetch, mask)

    def _cpu_coarse(self, queries, fetch, mask) -> Pieces:
        import faiss

        def one(n):
            shard, offset = self.shards[n], int(self.offsets[n])
            params = None
            if mask is not None:
                part = mask[offset:offset + shard.ntotal]
                if not part.any():
                    return None
                bits = np.packbits(part, bitorder='little')
                params = faiss.SearchParameters(
                    sel=faiss.IDSelectorBitmap(
                        len(part), faiss.swig_ptr(bits)))
            sims, ids = shard.search(
                queries, int(min(fetch, shard.ntotal)), params=params)
            return sims, ids + offset, ids >= 0

        runs = list(self._pool.map(one, range(len(self.shards))))
        pieces = []
        for q in range(len(queries)):
            pieces.append([(s[q][ok[q]], i[q][ok[q]])
                           for s, i, ok in (r for r in runs if r)])
        return pieces


def _as_tensor(feats: np.ndarray) -> torch.Tensor:
    """A torch view of ``feats`` (read-only arrays are only read)."""
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='.*not writable.*')
        return torch.from_numpy(np.ascontiguousarray(feats))


def _encode_8bit(rows: torch.Tensor, low: float,
                 high: float) -> Tuple[np.ndarray, float, float]:
    """faiss's uniform 8-bit codes of ``rows`` (code ``c`` decodes to
    ``low + (c + 0.5) * (high - low) / 255``), their largest row error
    ``||x - x^||`` and the largest row norm ``||x||``; torch (threads,
    float16 read directly) is several times faster than encoding in faiss
    and measuring the error in numpy."""
    rows = rows.float()
    step = (high - low) / 255
    codes = ((rows - low) / step).floor_().clamp_(0, 255)
    error = codes.add(0.5).mul_(step).add_(low).sub_(rows)
    max_error = float(torch.linalg.vector_norm(error, dim=1).max())
    max_norm = float(torch.linalg.vector_norm(rows, dim=1).max())
    return codes.to(torch.uint8).numpy(), max_error, max_norm


def _valid(sims: np.ndarray, ids: np.ndarray):
    ok = ids >= 0
    return sims[ok], ids[ok].astype(np.int64)
