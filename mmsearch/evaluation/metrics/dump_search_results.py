"""Dump the gallery and query predictions of a test run to a pickle."""
from itertools import zip_longest
from typing import Hashable, Tuple

from mmengine.dist import all_gather_object, is_main_process
from mmengine.evaluator import DumpResults

from mmsearch.registry import METRICS


def dumped_sample_identity(result: dict) -> Tuple[str, Hashable]:
    """A dumped sample's identity: ``('query', query_index)`` for a query,
    else ``('gallery', img_id)``.

    Args:
        result (dict): A predicted data sample as ``DumpResults`` keeps it.

    Returns:
        tuple[str, Hashable]: The sample's kind and key.

    Raises:
        KeyError: If the sample has neither ``query_index`` nor ``img_id``.
    """
    if 'query_index' in result:
        return 'query', result['query_index']
    if 'img_id' not in result:
        raise KeyError('DumpSearchResults: a predicted sample has neither '
                       "'query_index' (a query) nor 'img_id' (a gallery "
                       f'image); its keys are {sorted(result)}.')
    return 'gallery', result['img_id']


@METRICS.register_module()
class DumpSearchResults(DumpResults):
    """Dump every gallery image and query once, in dataset order.

    ``tools/test.py --out results.pkl`` adds this metric to the test
    evaluator. The sampler pads each split to a multiple of the world size,
    so ranks hold repeated samples in the middle of the gallery + query
    stream; mmengine's plain ``DumpResults`` would keep those and cut real
    queries off the end. Here the ranks' results are interleaved back into
    dataset order (mmengine's ``DefaultSampler`` deals sample ``i`` to rank
    ``i % world_size``) and a repeated sample is kept once.

    Example:
        >>> test_evaluator = [
        ...     dict(type='PersonSearchMetric'),
        ...     dict(type='DumpSearchResults', out_file_path='results.pkl')]

    Args:
        out_file_path (str): The pickle to write; must end with ``.pkl`` or
            ``.pickle``.
        collect_device (str): As in ``DumpResults``; the ranks' results
            are gathered with ``mmengine.dist.all_gather_object`` whatever
            it says. Defaults to ``'cpu'``.
        collect_dir (str, optional): As in ``DumpResults`` (unused for the
            same reason). Defaults to None.
    """

    def evaluate(self, size: int) -> dict:
        """Gather all ranks' results, drop repeats, dump on rank 0.

        Args:
            size (int): Unused: every sample is kept once whether the loop
                counts padded samples or not.

        Returns:
            dict: Empty (this metric only writes ``out_file_path``).
        """
        per_rank = all_gather_object(self.results)
        interleaved = [
            result for group in zip_longest(*per_rank) for result in group
            if result is not None
        ]
        seen, unique = set(), []
        for result in interleaved:
            key = dumped_sample_identity(result)
            if key not in seen:
                seen.add(key)
                unique.append(result)
        if is_main_process():
            self.compute_metrics(unique)
        self.results.clear()
        return {}
