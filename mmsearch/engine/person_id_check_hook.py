"""Refuse to train when the re-ID memories have fewer rows than the
training set has identities."""
import logging
from typing import Iterable, Iterator, Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import nn

from mmsearch.registry import HOOKS


def _leaf_datasets(dataset) -> Iterator:
    """The datasets under wrappers (``.dataset``) and concatenations
    (``.datasets``)."""
    if hasattr(dataset, 'datasets'):
        for sub in dataset.datasets:
            yield from _leaf_datasets(sub)
    elif hasattr(dataset, 'dataset'):
        yield from _leaf_datasets(dataset.dataset)
    else:
        yield dataset


def count_train_identities(dataset) -> int:
    """Number of identity rows a training set needs: 1 + its largest
    labelled ``person_id`` (ids are 0..K-1, -1 unlabelled), 0 without any.

    Args:
        dataset: The training dataset, possibly wrapped (the pair dataset,
            mmengine's dataset wrappers) or concatenated. Leaf datasets
            give ``get_data_info(i)['instances']`` with ``person_id``.

    Returns:
        int: ``max(person_id) + 1`` over every leaf dataset.
    """
    largest = -1
    for leaf in _leaf_datasets(dataset):
        if hasattr(leaf, 'full_init'):
            leaf.full_init()
        for index in range(len(leaf)):
            for instance in leaf.get_data_info(index).get('instances', []):
                largest = max(largest, int(instance.get('person_id', -1)))
    return largest + 1


def check_num_person_ids(reid_losses: Iterable[nn.Module],
                         num_identities: int) -> None:
    """Raise if a re-ID loss sizes its memories for fewer identities than
    the training set has.

    Args:
        reid_losses (Iterable[nn.Module]): The RoI head's ``reid_losses``;
            those with a ``num_person_ids`` (not None) are checked.
        num_identities (int): 1 + the largest training ``person_id``.

    Raises:
        ValueError: Naming both numbers and the config key to change.
    """
    for index, loss in enumerate(reid_losses):
        rows = getattr(loss, 'num_person_ids', None)
        if rows is None:
            continue
        name = type(loss).__name__
        if rows < num_identities:
            raise ValueError(
                f'The training set has {num_identities} labelled '
                f'identities (person_id 0..{num_identities - 1}) but '
                f'reid_losses[{index}] ({name}) was built with '
                f'num_person_ids={rows} rows: set '
                f'model.roi_head.num_person_ids={num_identities} in the '
                'config (the method configs copy it from the dataset '
                "config's num_person_ids), or the loss's own "
                'num_person_ids where the config writes one.')
        if rows > num_identities:
            print_log(
                f'reid_losses[{index}] ({name}) has num_person_ids={rows} '
                f'rows for {num_identities} training identities: '
                f'{rows - num_identities} rows are never trained.',
                logger='current',
                level=logging.WARNING)


@HOOKS.register_module()
class PersonIdCheckHook(Hook):
    """Before training, compare the training set's identities with the
    ``num_person_ids`` of the model's re-ID losses.

    A loss whose lookup table (or class centres, classifier) has fewer rows
    than the training set has identities would fail at the first batch
    holding a larger id, possibly hours into training; this hook fails at
    once with both numbers (:func:`check_num_person_ids`). More rows than
    identities only logs a warning. Models without ``roi_head.reid_losses``
    are not checked.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        """Check the model against ``runner.train_dataloader.dataset``."""
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        reid_losses: Optional[Iterable] = getattr(
            getattr(model, 'roi_head', None), 'reid_losses', None)
        if not reid_losses:
            return
        num_identities = count_train_identities(
            runner.train_dataloader.dataset)
        check_num_person_ids(reid_losses, num_identities)
