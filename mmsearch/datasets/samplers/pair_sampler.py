"""A sampler that draws the partner of each anchor image."""
from typing import Iterator, Tuple

from mmengine.dataset import DefaultSampler

from mmsearch.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class PairSampler(DefaultSampler):
    """:class:`DefaultSampler` over anchors that yields ``(anchor,
    partner)``.

    Anchors are sharded across ranks exactly as by ``DefaultSampler``
    (disjoint, complete up to its padding); each partner is drawn by
    ``dataset.draw_partner(anchor, epoch)``, seeded by ``(seed, epoch,
    anchor)``, so the draw does not depend on the rank or on the worker
    holding a stale copy of the dataset. ``set_epoch`` (called by
    ``DistSamplerSeedHook``) changes both the shuffle and the partners.

    Args:
        dataset (PersonSearchPairDataset): The pair wrapper.
        **kwargs: Arguments of :class:`DefaultSampler` (``shuffle``,
            ``seed``, ``round_up``).
    """

    def __init__(self, dataset, **kwargs) -> None:
        if not hasattr(dataset, 'draw_partner'):
            raise TypeError(
                f'PairSampler needs a PersonSearchPairDataset (with '
                f'draw_partner), got {type(dataset).__name__}.')
        super().__init__(dataset, **kwargs)

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        for anchor in super().__iter__():
            yield anchor, self.dataset.draw_partner(anchor, self.epoch)
