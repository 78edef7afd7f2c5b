"""Test and validation loops evaluating a gallery set and a query set."""
import copy
from typing import Dict, List, Optional, Union

from mmengine.dist import get_world_size
from mmengine.evaluator import Evaluator
from mmengine.runner import TestLoop, ValLoop
from torch.utils.data import DataLoader

from mmsearch.evaluation import PersonSearchMetric
from mmsearch.registry import LOOPS

SEARCH_PREFIXES = ('cuhk/', 'prw/')


def query_dataloader_cfg(gallery_dataloader: dict, loop: str) -> dict:
    """The query split's dataloader config: the gallery one with
    ``dataset.split='query'``.

    Args:
        gallery_dataloader (dict): The gallery dataloader config.
        loop (str): The loop's name, for errors.

    Returns:
        dict: A new config.
    """
    if not isinstance(gallery_dataloader, dict) or not isinstance(
            gallery_dataloader.get('dataset'), dict):
        raise TypeError(
            f'{loop}: without query_dataloader the query split is derived '
            'from the gallery dataloader config (dataset.split=\'query\'), '
            'which needs a config dict with a dataset dict; give '
            'query_dataloader explicitly.')
    cfg = copy.deepcopy(gallery_dataloader)
    cfg['dataset'] = dict(cfg['dataset'], split='query')
    return cfg


def build_query_dataloader(
        runner, query_dataloader: Union[DataLoader, Dict]) -> DataLoader:
    """Build a query dataloader config with the runner's seed."""
    if not isinstance(query_dataloader, dict):
        return query_dataloader
    randomness = runner.cfg.get('randomness', None) or {}
    return runner.build_dataloader(
        query_dataloader,
        seed=runner.seed,
        diff_rank_seed=randomness.get('diff_rank_seed', False))


def search_meta(gallery_loader: DataLoader, query_loader: DataLoader,
                loop: str) -> dict:
    """The query dataset's metainfo, its gallery protocol and the sizes of
    both splits: the ``dataset_meta`` of the metrics."""
    query_dataset = query_loader.dataset
    if not hasattr(query_dataset, 'get_gallery_protocol'):
        raise TypeError(
            f'{loop}: the query dataset {type(query_dataset).__name__} has no '
            "get_gallery_protocol; use a query split (split='query').")
    meta = dict(getattr(query_dataset, 'metainfo', {}))
    meta.update(
        gallery_protocol=query_dataset.get_gallery_protocol,
        num_gallery_images=len(gallery_loader.dataset),
        num_queries=len(query_dataset))
    return meta


def evaluate_gallery_and_queries(evaluator: Evaluator,
                                 gallery_loader: DataLoader,
                                 query_loader: DataLoader, loop: str) -> dict:
    """Evaluate every metric of ``evaluator`` on both splits.

    :class:`PersonSearchMetric` gathers results by identity and gets the
    number of distinct samples. Any other metric (e.g. ``DumpResults``)
    collects with mmengine's ``collect_results``, which interleaves ranks
    and truncates to ``size``: it gets the padded number of samples over all
    ranks, so nothing is cut off (padding duplicates stay).

    Returns:
        dict: All metrics.
    """
    distinct = len(gallery_loader.dataset) + len(query_loader.dataset)
    padded = get_world_size() * (
        len(gallery_loader.sampler) + len(query_loader.sampler))
    metrics = {}
    for metric in evaluator.metrics:
        size = distinct if isinstance(metric, PersonSearchMetric) else padded
        result = metric.evaluate(size)
        repeated = set(result) & set(metrics)
        if repeated:
            raise ValueError(f'{loop}: metrics return the same keys '
                             f'{sorted(repeated)}.')
        metrics.update(result)
    return metrics


def average_losses(losses: dict, stage: str) -> Dict[str, float]:
    """Mean of each recorded loss and their sum as ``{stage}_loss``.

    Args:
        losses (dict[str, HistoryBuffer]): Losses recorded per iteration.
        stage (str): ``'val'`` or ``'test'``.

    Returns:
        dict[str, float]: ``name -> mean`` and ``{stage}_loss`` = the sum of
        the means whose name contains ``loss``.
    """
    result = {name: buffer.mean() for name, buffer in losses.items()}
    result[f'{stage}_loss'] = sum(v for k, v in result.items() if 'loss' in k)
    return result


def search_metrics_first(metrics: dict) -> dict:
    """The same metrics, search keys (``cuhk/...``, ``prw/...``) first.

    ``CheckpointHook(save_best='auto')`` keeps the checkpoint that is best
    by the first key: the search mAP of the first gallery (``cuhk/mAP@100``,
    ``prw/mAP``) instead of the detection AP.
    """
    first = [k for k in metrics if k.startswith(SEARCH_PREFIXES)]
    rest = [k for k in metrics if not k.startswith(SEARCH_PREFIXES)]
    return {k: metrics[k] for k in first + rest}


class GalleryQueryMixin:
    """What the search loops share: a query dataloader beside the gallery
    one, predicting both and evaluating them together.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): Gallery dataloader (or its config).
        evaluator (Evaluator | dict | list): The evaluator.
        query_dataloader (DataLoader | dict, optional): Query dataloader (or
            config), built with ``runner.build_dataloader``. None: the
            gallery dataloader config with ``dataset.split='query'``.
        fp16 (bool): Whether to run under autocast. Defaults to False.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 evaluator: Union[Evaluator, Dict, List],
                 query_dataloader: Optional[Union[DataLoader, Dict]] = None,
                 fp16: bool = False) -> None:
        if query_dataloader is None:
            query_dataloader = query_dataloader_cfg(dataloader,
                                                    type(self).__name__)
        super().__init__(runner, dataloader, evaluator, fp16)
        self.query_dataloader = build_query_dataloader(runner,
                                                       query_dataloader)
        self.evaluator.dataset_meta = self.search_meta()

    def search_meta(self) -> dict:
        """See :func:`search_meta`."""
        return search_meta(self.dataloader, self.query_dataloader,
                           type(self).__name__)

    def predict_gallery_and_queries(self) -> None:
        """``run_iter`` over the gallery batches, then the query batches
        (numbered on after the gallery's)."""
        num_gallery_iters = len(self.dataloader)
        for idx, data_batch in enumerate(self.dataloader):
            self.run_iter(idx, data_batch)
        for idx, data_batch in enumerate(self.query_dataloader):
            self.run_iter(num_gallery_iters + idx, data_batch)

    def evaluate(self) -> dict:
        """See :func:`evaluate_gallery_and_queries`."""
        return evaluate_gallery_and_queries(self.evaluator, self.dataloader,
                                            self.query_dataloader,
                                            type(self).__name__)


@LOOPS.register_module()
class PersonSearchTestLoop(GalleryQueryMixin, TestLoop):
    """Run the gallery split, then the query split, then evaluate both.

    The model's ``predict`` answers gallery images with detections and query
    images (their metainfo has ``query_bbox``) with ``pred_query_feat``. The
    metric collects results from every rank itself, keyed by ``img_id``
    (gallery) and ``query_index`` (query), so the samplers' padding never
    mixes the two splits up (see :func:`evaluate_gallery_and_queries`).
    ``dataset_meta`` = the query dataset's metainfo plus ``gallery_protocol``
    (its ``get_gallery_protocol``), ``num_gallery_images`` and
    ``num_queries``.

    Config::

        test_cfg = dict(type='PersonSearchTestLoop',
                        query_dataloader=query_dataloader)

    The arguments are those of :class:`GalleryQueryMixin`.
    """

    def run(self) -> dict:
        """Predict the gallery, then the queries, then evaluate."""
        self.runner.call_hook('before_test')
        self.runner.call_hook('before_test_epoch')
        self.runner.model.eval()
        self.test_loss.clear()
        self.predict_gallery_and_queries()
        metrics = self.evaluate()
        if self.test_loss:
            metrics.update(average_losses(self.test_loss, 'test'))
        self.runner.call_hook('after_test_epoch', metrics=metrics)
        self.runner.call_hook('after_test')
        return metrics


@LOOPS.register_module()
class PersonSearchValLoop(GalleryQueryMixin, ValLoop):
    """Validation during training with the search protocol.

    The same steps as :class:`PersonSearchTestLoop` (gallery, then queries,
    then the metric), with the validation hooks and ``val_step``: the
    metrics (``cuhk/mAP@100``, ``prw/mAP``, ``det/AP``, ...) are logged like
    any mmengine metric, search keys first, so that
    ``CheckpointHook(save_best='auto')`` keeps the best search mAP (or name
    one, e.g. ``save_best='cuhk/mAP@100'``). How often: the train loop's
    ``val_interval`` (and ``val_begin``).

    Config::

        val_dataloader = test_dataloader   # the gallery split
        val_evaluator = dict(type='PersonSearchMetric')
        val_cfg = dict(type='PersonSearchValLoop')

    The arguments are those of :class:`GalleryQueryMixin`.

    Attributes:
        last_metrics (dict, optional): The metrics of the last validation.
    """

    last_metrics: Optional[dict] = None

    def run(self) -> dict:
        """Predict the gallery, then the queries, then evaluate.

        Returns:
            dict: The metrics, also kept in :attr:`last_metrics`.
        """
        self.runner.call_hook('before_val')
        self.runner.call_hook('before_val_epoch')
        self.runner.model.eval()
        self.val_loss.clear()
        self.predict_gallery_and_queries()
        metrics = search_metrics_first(self.evaluate())
        if self.val_loss:
            metrics.update(average_losses(self.val_loss, 'val'))
        self.last_metrics = dict(metrics)
        self.runner.call_hook('after_val_epoch', metrics=metrics)
        self.runner.call_hook('after_val')
        return metrics
