"""Gather per-sample results from every rank, exactly once each."""
from typing import Any, Callable, Dict, Hashable, List, Optional

import numpy as np
from mmengine.dist import all_gather_object, get_world_size


def result_difference(first: dict, second: dict) -> Optional[str]:
    """Where two results of one sample differ, or None if they agree.

    Arrays agree when their shapes are equal and their values are equal up
    to float rounding (``rtol`` 1e-5, ``atol`` 1e-6, NaN equal to NaN): a
    sample a distributed sampler repeats to pad a rank is predicted again
    and must give the same result.

    Args:
        first (dict): A result.
        second (dict): Another result of the same sample.

    Returns:
        str | None: E.g. ``"det_scores: shape (2,) vs (3,)"``.
    """
    if set(first) != set(second):
        return f'keys {sorted(first)} vs {sorted(second)}'
    for key, a in first.items():
        b = second[key]
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            a, b = np.asarray(a), np.asarray(b)
            if a.shape != b.shape:
                return f'{key}: shape {a.shape} vs {b.shape}'
            if a.dtype.kind in 'fc' or b.dtype.kind in 'fc':
                same = np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)
            else:
                same = np.array_equal(a, b)
            if not same:
                return f'{key}: different values'
        elif not _equal(a, b):
            return f'{key}: {a!r} vs {b!r}'
    return None


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


def collect_unique_results(
        results: List[dict],
        identity: Callable[[dict], Hashable],
        expected_counts: Optional[Dict[str, int]] = None) -> List[dict]:
    """All-gather results from every rank and drop padding duplicates.

    Unlike ``mmengine.dist.collect_results`` this neither interleaves ranks
    nor truncates to a size, so several datasets (each padded by its sampler
    to a multiple of the world size) can share one evaluation: each result
    names its sample, a sample seen twice is kept once, and the output is
    sorted by identity so it does not depend on the number of ranks.

    Args:
        results (list[dict]): This rank's results.
        identity (Callable[[dict], Hashable]): Maps a result to
            ``(kind, key)``, e.g. ``('gallery', 's1.jpg')``.
        expected_counts (dict[str, int], optional): Number of distinct
            samples each kind must have.

    Returns:
        list[dict]: One result per sample, sorted by identity (every rank
        returns the same list).

    Raises:
        ValueError: If two results of one sample differ (two images share an
            id, or results of different runs were mixed), or a kind has
            fewer or more distinct samples than expected.
    """
    if get_world_size() > 1:
        gathered = [r for part in all_gather_object(results) for r in part]
    else:
        gathered = list(results)
    unique = {}
    for result in gathered:
        key = identity(result)
        kept = unique.setdefault(key, result)
        difference = None if kept is result else result_difference(
            kept, result)
        if difference is not None:
            raise ValueError(
                f'collect_unique_results: two different results for '
                f'{key[0]} {key[1]!r} ({difference}); each sample id must '
                'name one image: the dataset lists two images under one '
                'id, or results of different runs were mixed.')
    keys = sorted(unique)
    if expected_counts:
        for kind, expected in expected_counts.items():
            found = sum(key[0] == kind for key in keys)
            if found != expected:
                raise ValueError(
                    f'collect_unique_results: expected {expected} distinct '
                    f'{kind} samples across all ranks, found {found}; a '
                    'sample is missing from the results (or the dataset '
                    'holds duplicated ids).')
    return [unique[key] for key in keys]
