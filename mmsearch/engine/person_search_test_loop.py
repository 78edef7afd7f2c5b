"""Test loop evaluating a gallery set and a query set in one run."""
from typing import Dict, List, Union

from mmengine.dist import get_world_size
from mmengine.evaluator import Evaluator
from mmengine.runner import TestLoop
from mmengine.runner.loops import _parse_losses
from torch.utils.data import DataLoader

from mmsearch.evaluation import PersonSearchMetric
from mmsearch.registry import LOOPS


@LOOPS.register_module()
class PersonSearchTestLoop(TestLoop):
    """Run the gallery split, then the query split, then evaluate both.

    The model's ``predict`` answers gallery images with detections and query
    images (their metainfo has ``query_bbox``) with ``pred_query_feat``. The
    metric collects results from every rank itself, keyed by ``img_id``
    (gallery) and ``query_index`` (query), so the samplers' padding never
    mixes the two splits up (see :meth:`evaluate`). ``dataset_meta`` = the
    query dataset's metainfo plus ``gallery_protocol`` (its
    ``get_gallery_protocol``), ``num_gallery_images`` and ``num_queries``.

    Config::

        test_cfg = dict(type='PersonSearchTestLoop',
                        query_dataloader=query_dataloader)

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): Gallery dataloader (or its config).
        query_dataloader (DataLoader | dict): Query dataloader (or config),
            built with ``runner.build_dataloader``.
        evaluator (Evaluator | dict | list): The evaluator.
        fp16 (bool): Whether to test under autocast. Defaults to False.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 query_dataloader: Union[DataLoader, Dict],
                 evaluator: Union[Evaluator, Dict, List],
                 fp16: bool = False) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        if isinstance(query_dataloader, dict):
            diff_rank_seed = runner._randomness_cfg.get(
                'diff_rank_seed', False)
            query_dataloader = runner.build_dataloader(
                query_dataloader,
                seed=runner.seed,
                diff_rank_seed=diff_rank_seed)
        self.query_dataloader = query_dataloader
        self.evaluator.dataset_meta = self.search_meta()

    def search_meta(self) -> dict:
        """The query dataset's metainfo, its gallery protocol and the sizes
        of both splits."""
        query_dataset = self.query_dataloader.dataset
        if not hasattr(query_dataset, 'get_gallery_protocol'):
            raise TypeError(
                'PersonSearchTestLoop: the query dataset '
                f'{type(query_dataset).__name__} has no get_gallery_protocol;'
                " use a query split (split='query').")
        meta = dict(getattr(query_dataset, 'metainfo', {}))
        meta.update(
            gallery_protocol=query_dataset.get_gallery_protocol,
            num_gallery_images=len(self.dataloader.dataset),
            num_queries=len(query_dataset))
        return meta

    def run(self) -> dict:
        """Predict the gallery, then the queries, then evaluate."""
        self.runner.call_hook('before_test')
        self.runner.call_hook('before_test_epoch')
        self.runner.model.eval()
        self.test_loss.clear()
        num_gallery_iters = len(self.dataloader)
        for idx, data_batch in enumerate(self.dataloader):
            self.run_iter(idx, data_batch)
        for idx, data_batch in enumerate(self.query_dataloader):
            self.run_iter(num_gallery_iters + idx, data_batch)
        metrics = self.evaluate()
        if self.test_loss:
            metrics.update(_parse_losses(self.test_loss, 'test'))
        self.runner.call_hook('after_test_epoch', metrics=metrics)
        self.runner.call_hook('after_test')
        return metrics

    def evaluate(self) -> dict:
        """Evaluate every metric of the evaluator on both splits.

        :class:`PersonSearchMetric` gathers results by identity and gets the
        number of distinct samples. Any other metric (e.g. ``DumpResults``)
        collects with mmengine's ``collect_results``, which interleaves ranks
        and truncates to ``size``: it gets the padded number of samples over
        all ranks, so nothing is cut off (padding duplicates stay).

        Returns:
            dict: All metrics.
        """
        distinct = len(self.dataloader.dataset) + len(
            self.query_dataloader.dataset)
        padded = get_world_size() * (
            len(self.dataloader.sampler) + len(self.query_dataloader.sampler))
        metrics = {}
        for metric in self.evaluator.metrics:
            size = distinct if isinstance(metric,
                                          PersonSearchMetric) else padded
            result = metric.evaluate(size)
            repeated = set(result) & set(metrics)
            if repeated:
                raise ValueError('PersonSearchTestLoop: metrics return the '
                                 f'same keys {sorted(repeated)}.')
            metrics.update(result)
        return metrics
