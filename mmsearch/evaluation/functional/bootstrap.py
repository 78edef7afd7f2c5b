"""Bootstrap confidence intervals over queries.

A search metric such as mAP or top-1 is a mean over queries. Its sampling
error is estimated by resampling the queries with replacement (the
percentile bootstrap): draw ``Q`` query indices with replacement, take the
mean of the per-query values over them, repeat ``num_samples`` times, and
report the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles
of those means.
"""
from typing import Tuple

import numpy as np


def _resample_indices(num_queries: int, num_samples: int,
                      seed: int) -> np.ndarray:
    """(num_samples, num_queries) int64 query indices drawn with
    replacement, the same for a given seed."""
    if num_queries < 1:
        raise ValueError('bootstrap: expected at least one query, got 0.')
    if num_samples < 1:
        raise ValueError(
            f'bootstrap: num_samples must be >= 1, got {num_samples}.')
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_queries, size=(num_samples, num_queries))


def _per_query(values: np.ndarray, name: str) -> np.ndarray:
    """Per-query values as float64 (Q,): a (S, Q) array of S runs (seeds)
    is averaged over its runs first."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2:
        values = values.mean(axis=0)
    if values.ndim != 1:
        raise ValueError(f'bootstrap: {name} must have shape (Q,) or (S, Q) '
                         f'(runs x queries), got {values.shape}.')
    if not np.isfinite(values).all():
        raise ValueError(f'bootstrap: {name} holds non-finite values.')
    return values


def _interval(means: np.ndarray, confidence: float) -> Tuple[float, float]:
    if not 0 < confidence < 1:
        raise ValueError(
            f'bootstrap: confidence must be in (0, 1), got {confidence}.')
    low, high = np.quantile(means, [(1 - confidence) / 2,
                                    (1 + confidence) / 2])
    return float(low), float(high)


def bootstrap_mean_ci(values: np.ndarray,
                      num_samples: int = 2000,
                      confidence: float = 0.95,
                      seed: int = 0) -> Tuple[float, float, float]:
    """Mean of per-query values and its percentile-bootstrap interval.

    Args:
        values (np.ndarray): (Q,) per-query values (e.g. AP, or 0/1 top-1
            hits), or (S, Q) for S runs (seeds) on the same Q queries: each
            query's values are averaged over the runs before resampling, so
            the interval covers the query sampling of the seed-averaged
            metric.
        num_samples (int): Bootstrap resamples. Defaults to 2000.
        confidence (float): Coverage of the interval. Defaults to 0.95.
        seed (int): Seed of the resampling. Defaults to 0.

    Returns:
        tuple[float, float, float]: ``(mean, low, high)``.
    """
    values = _per_query(values, 'values')
    indices = _resample_indices(len(values), num_samples, seed)
    means = values[indices].mean(axis=1)
    return (float(values.mean()), ) + _interval(means, confidence)


def paired_bootstrap_diff_ci(values_a: np.ndarray,
                             values_b: np.ndarray,
                             num_samples: int = 2000,
                             confidence: float = 0.95,
                             seed: int = 0) -> Tuple[float, float, float]:
    """Mean difference ``a - b`` of two methods on the same queries, with a
    paired percentile-bootstrap interval (one resample of the queries is
    applied to both methods).

    Args:
        values_a (np.ndarray): (Q,) or (S_a, Q) per-query values of method a.
        values_b (np.ndarray): (Q,) or (S_b, Q) per-query values of method
            b, on the same queries in the same order.
        num_samples (int): Bootstrap resamples. Defaults to 2000.
        confidence (float): Coverage of the interval. Defaults to 0.95.
        seed (int): Seed of the resampling. Defaults to 0.

    Returns:
        tuple[float, float, float]: ``(mean difference, low, high)``.
    """
    diff_a = _per_query(values_a, 'values_a')
    diff_b = _per_query(values_b, 'values_b')
    if diff_a.shape != diff_b.shape:
        raise ValueError('paired bootstrap: both methods must be scored on '
                         f'the same queries, got {len(diff_a)} and '
                         f'{len(diff_b)} queries.')
    diff = diff_a - diff_b
    indices = _resample_indices(len(diff), num_samples, seed)
    means = diff[indices].mean(axis=1)
    return (float(diff.mean()), ) + _interval(means, confidence)
