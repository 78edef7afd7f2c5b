"""Circular FIFO queue of recent features and their labels."""
from typing import Optional

import torch

from mmsearch.registry import MODELS
from .base_memory import BaseMemory
from .dist_utils import gather_rows_from_all_ranks


@MODELS.register_module()
class FeatureQueue(BaseMemory):
    """A first-in first-out queue of detached fp32 features with labels.

    Serves as OIM's circular queue of unlabelled features and as OLP's
    dynamic feature dictionary of negatives. New rows are written at the
    pointer ``p`` in order, ``slot_k = (p + k) mod S``; once the queue is
    full the oldest rows are overwritten. If one update holds more than
    ``S`` rows only its last ``S`` rows remain, exactly as if written one by
    one.

    Size. ``queue_size`` is a fixed S, or ``None``: the queue then stays
    empty (S = 0) until the first update that contains labelled rows
    (label >= 0) and is sized ``S = size_factor x`` that number of labelled
    rows, counted over all ranks so every rank allocates the same S. A
    checkpoint of a lazily sized queue loads into a fresh one (the buffers
    take the saved size). Fixed sizes are recommended for reproducibility.

    Buffers (persistent, fp32 features whatever the module dtype):
        feats (Tensor): Shape (S, D), zeros where never written.
        labels (LongTensor): Shape (S,), -1 for unlabelled or unused slots.
        pointer (LongTensor): Scalar, next slot to write.
        num_filled (LongTensor): Scalar, number of slots written so far
            (at most S); slots ``[0, num_filled)`` are valid.

    Args:
        queue_size (int, optional): S, or None for the lazy rule above.
            Defaults to None.
        feat_dim (int): Feature dimension D. Defaults to 256.
        size_factor (int): Multiplier of the lazy rule. Defaults to 4.
    """

    def __init__(self,
                 queue_size: Optional[int] = None,
                 feat_dim: int = 256,
                 size_factor: int = 4) -> None:
        super().__init__()
        if queue_size is not None and queue_size <= 0:
            raise ValueError('FeatureQueue: queue_size must be positive or '
                             f'None, got {queue_size}')
        if size_factor <= 0:
            raise ValueError('FeatureQueue: size_factor must be positive, '
                             f'got {size_factor}')
        self.queue_size = queue_size
        self.feat_dim = feat_dim
        self.size_factor = size_factor
        self._allocate(queue_size or 0)

    def _allocate(self, size: int, device: Optional[torch.device] = None):
        """(Re)create empty buffers holding ``size`` slots."""
        self.register_buffer('feats',
                             torch.zeros(size, self.feat_dim, device=device))
        self.register_buffer(
            'labels', torch.full((size, ), -1, dtype=torch.long,
                                 device=device))
        self.register_buffer('pointer',
                             torch.zeros((), dtype=torch.long, device=device))
        self.register_buffer('num_filled',
                             torch.zeros((), dtype=torch.long, device=device))

    @property
    def capacity(self) -> int:
        """int: Number of slots S (0 while a lazy queue is unsized)."""
        return self.feats.shape[0]

    @property
    def valid_mask(self) -> torch.Tensor:
        """BoolTensor: Shape (S,), True for slots written at least once."""
        slots = torch.arange(self.capacity, device=self.feats.device)
        return slots < self.num_filled

    @torch.no_grad()
    def update(self, feats: torch.Tensor, labels: torch.Tensor) -> None:
        """Gather ``feats``/``labels`` from all ranks and enqueue them.

        A collective call under distributed training: every rank must call
        it at every step, even with zero rows.

        Args:
            feats (Tensor): Features, shape (N, D), any float dtype.
            labels (Tensor): Labels, shape (N,); -1 for unlabelled persons.
        """
        self._check_update_inputs(feats, labels, self.feat_dim,
                                  type(self).__name__)
        feats, labels = gather_rows_from_all_ranks(feats.detach().float(),
                                                   labels.detach().long())
        if self.capacity == 0:
            num_labelled = int((labels >= 0).sum())
            if num_labelled == 0:
                return
            self._allocate(self.size_factor * num_labelled, feats.device)
        size, num_new = self.capacity, feats.shape[0]
        if num_new == 0:
            return
        slots = (self.pointer +
                 torch.arange(num_new, device=feats.device)) % size
        self.feats[slots[-size:]] = feats[-size:]
        self.labels[slots[-size:]] = labels[-size:]
        self.pointer.copy_((self.pointer + num_new) % size)
        self.num_filled.copy_(torch.clamp(self.num_filled + num_new, max=size))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Resize a lazily sized queue to the saved size before loading."""
        saved_feats = state_dict.get(prefix + 'feats')
        if (self.queue_size is None and saved_feats is not None
                and saved_feats.shape[0] != self.capacity):
            self._allocate(saved_feats.shape[0], self.feats.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
