"""Collate function for Siamese batches."""
from typing import Sequence

from mmengine.dataset import pseudo_collate

from mmsearch.registry import FUNCTIONS


@FUNCTIONS.register_module()
def pair_collate(data_batch: Sequence[Sequence[dict]]) -> dict:
    """Flatten B pairs into 2B samples: images 2k and 2k+1 are partners.

    Args:
        data_batch (Sequence[Sequence[dict]]): B items of
            :class:`PersonSearchPairDataset`, each ``[anchor, partner]``
            packed results (``inputs``, ``data_samples``).

    Returns:
        dict: ``inputs`` (list of 2B CHW tensors) and ``data_samples``
        (list of 2B :class:`DetDataSample`), sample 2k + j with metainfo
        ``pair_index`` = k and ``pair_position`` = j.
    """
    flat = []
    for pair_index, pair in enumerate(data_batch):
        if len(pair) != 2:
            raise ValueError(
                f'pair_collate: item {pair_index} holds {len(pair)} '
                f'samples; expected [anchor, partner] from '
                f'PersonSearchPairDataset.')
        for pair_position, packed in enumerate(pair):
            packed['data_samples'].set_metainfo(
                dict(pair_index=pair_index, pair_position=pair_position))
            flat.append(packed)
    return pseudo_collate(flat)
