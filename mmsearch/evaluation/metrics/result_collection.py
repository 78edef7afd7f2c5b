"""Gather per-sample results from every rank, exactly once each."""
from typing import Callable, Dict, Hashable, List, Optional

from mmengine.dist import all_gather_object, get_world_size


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
        ValueError: If a kind has fewer or more distinct samples than
        expected.
    """
    if get_world_size() > 1:
        gathered = [r for part in all_gather_object(results) for r in part]
    else:
        gathered = list(results)
    unique = {}
    for result in gathered:
        unique.setdefault(identity(result), result)
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
