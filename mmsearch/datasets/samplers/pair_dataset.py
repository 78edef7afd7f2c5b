"""Siamese input: pairs of training images sharing a labelled person."""
import copy
from typing import List, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset

from mmsearch.registry import DATASETS


def build_partner_table(
    person_ids_per_image: Sequence[np.ndarray]
) -> Tuple[np.ndarray, np.ndarray]:
    """Images sharing at least one labelled person, in CSR form.

    Args:
        person_ids_per_image (Sequence[np.ndarray]): (N_i,) ids of image
            i's persons; ids < 0 (unlabelled) are ignored.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``offsets`` (I + 1,) and
        ``partners`` (sorted per image, never the image itself): the
        partners of image i are ``partners[offsets[i]:offsets[i + 1]]``.
    """
    images_of_id: dict = {}
    for image, person_ids in enumerate(person_ids_per_image):
        for person_id in set(int(i) for i in person_ids if i >= 0):
            images_of_id.setdefault(person_id, []).append(image)
    partners = []
    for image, person_ids in enumerate(person_ids_per_image):
        found = set()
        for person_id in set(int(i) for i in person_ids if i >= 0):
            found.update(images_of_id[person_id])
        found.discard(image)
        partners.append(np.array(sorted(found), dtype=np.int64))
    offsets = np.cumsum([0] + [len(p) for p in partners], dtype=np.int64)
    flat = np.concatenate(partners) if partners else np.zeros(0, np.int64)
    return offsets, flat.astype(np.int64)


@DATASETS.register_module()
class PersonSearchPairDataset:
    """Wrap a person-search train set so that a sample is a pair of images
    that share at least one labelled ``person_id`` (I-Net's input).

    The wrapper is indexed by anchor image (``len`` = the wrapped
    dataset's), so mmengine's ``DefaultSampler`` shards it across ranks.
    ``dataset[i]`` pairs anchor i with a partner drawn uniformly from the
    images sharing an id with it, by an RNG seeded with ``(seed, epoch,
    i)``; ``dataset[(i, j)]`` uses partner j (what :class:`PairSampler`
    yields, which also works with persistent workers). An image with no
    partner is paired with itself; both copies go through the pipeline
    with independent random augmentation.

    A sample is ``[packed_anchor, packed_partner]`` (the outputs of the
    wrapped dataset's pipeline, with ``pair_position`` 0 and 1 put into the
    data info first); :func:`pair_collate` flattens a batch of them.

    Args:
        dataset (BaseDataset | dict): The train dataset (or its config).
            Its instances must carry ``person_id``.
        seed (int): Seed of the partner draws. Defaults to 0.
        max_refetch (int): Tries with another anchor when the pipeline
            returns None. Defaults to 100.
        lazy_init (bool): Defer building the partner table. Defaults to
            False.
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 seed: int = 0,
                 max_refetch: int = 100,
                 lazy_init: bool = False) -> None:
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        self.dataset = dataset
        self.seed = seed
        self.max_refetch = max_refetch
        self.epoch = 0
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """The wrapped dataset's metainfo."""
        return copy.deepcopy(self.dataset.metainfo)

    def full_init(self) -> None:
        """Load the wrapped dataset and build the partner table."""
        if self._fully_initialized:
            return
        self.dataset.full_init()
        self._offsets, self._partners = build_partner_table(
            [self._person_ids(i) for i in range(len(self.dataset))])
        self._fully_initialized = True

    def _person_ids(self, index: int) -> np.ndarray:
        """(N,) person ids of image ``index`` of the wrapped dataset."""
        instances = self.dataset.get_data_info(index)['instances']
        return np.array([inst['person_id'] for inst in instances],
                        dtype=np.int64)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch used by ``dataset[i]`` partner draws."""
        self.epoch = epoch

    def partners(self, index: int) -> np.ndarray:
        """Indices of the images sharing a labelled id with ``index``."""
        self.full_init()
        return self._partners[self._offsets[index]:self._offsets[index + 1]]

    def draw_partner(self, index: int, epoch: int) -> int:
        """Partner of ``index`` for ``epoch`` (itself if it has none)."""
        candidates = self.partners(index)
        if len(candidates) == 0:
            return int(index)
        rng = np.random.default_rng([self.seed, epoch, int(index)])
        return int(candidates[rng.integers(len(candidates))])

    def __len__(self) -> int:
        self.full_init()
        return len(self.dataset)

    def _prepare(self, index: int, position: int) -> Union[dict, None]:
        data_info = self.dataset.get_data_info(index)
        data_info['pair_position'] = position
        return self.dataset.pipeline(data_info)

    def __getitem__(self, index: Union[int, Sequence[int]]) -> List[dict]:
        """``[packed_anchor, packed_partner]`` (see the class docstring)."""
        self.full_init()
        if isinstance(index, (tuple, list)):
            anchor, partner = (int(i) for i in index)
        else:
            anchor = int(index)
            partner = self.draw_partner(anchor, self.epoch)
        rng = np.random.default_rng([self.seed, self.epoch, anchor, 1])
        for _ in range(self.max_refetch + 1):
            pair = [self._prepare(anchor, 0), self._prepare(partner, 1)]
            if pair[0] is not None and pair[1] is not None:
                return pair
            anchor = int(rng.integers(len(self)))
            partner = self.draw_partner(anchor, self.epoch)
        raise RuntimeError(
            f'PersonSearchPairDataset: the pipeline returned None for '
            f'{self.max_refetch + 1} pairs; check the training pipeline.')
