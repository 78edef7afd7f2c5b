"""Momentum lookup table: OIM's labelled table and C2HEP's class centres."""
from typing import List, Tuple

import torch
import torch.nn.functional as F

from mmsearch.registry import MODELS
from .base_memory import BaseMemory
from .dist_utils import gather_rows_from_all_ranks


def occurrence_index(labels: torch.Tensor) -> torch.Tensor:
    """Rank of each row among the earlier rows with the same label.

    ``k_i = |{j < i : labels_j = labels_i}|``, e.g. labels ``[5, 2, 5, 5, 2]``
    give ``[0, 0, 1, 2, 1]``. Computed with a stable sort, without a
    device-to-host synchronisation.

    Args:
        labels (LongTensor): Shape (N,).

    Returns:
        LongTensor: ``k``, shape (N,), on the device of ``labels``.
    """
    num_rows = labels.numel()
    positions = torch.arange(num_rows, device=labels.device)
    sorted_labels, order = torch.sort(labels, stable=True)
    is_first = torch.ones(num_rows, dtype=torch.bool, device=labels.device)
    is_first[1:] = sorted_labels[1:] != sorted_labels[:-1]
    # position (in sorted order) of the first row of each run of a label
    run_start = torch.where(is_first, positions,
                            torch.zeros_like(positions)).cummax(0).values
    occurrence = torch.empty_like(positions)
    occurrence[order] = positions - run_start
    return occurrence


def update_rounds(labels: torch.Tensor) -> Tuple[torch.Tensor, List[int]]:
    """Order rows in rounds of distinct labels, keeping each label's order.

    Round ``k`` holds the ``k``-th occurrence of every label (see
    :func:`occurrence_index`), so within a round no label repeats and over
    the rounds each label's rows keep their original order.

    Args:
        labels (LongTensor): Shape (N,).

    Returns:
        tuple[LongTensor, list[int]]: A permutation of the rows, shape (N,),
        that lists round 0 first, then round 1, ...; and the size of each
        round (one device-to-host synchronisation).
    """
    occurrence = occurrence_index(labels)
    round_sizes = torch.bincount(occurrence).tolist()
    order = torch.sort(occurrence, stable=True).indices
    return order, round_sizes


@torch.no_grad()
def momentum_update_rows(table: torch.Tensor, feats: torch.Tensor,
                         labels: torch.Tensor, momentum: float) -> None:
    """Apply ``v_y <- normalize(m v_y + (1 - m) x)`` for every row, in order.

    The result equals updating row by row (see
    :func:`momentum_update_rows_loop`): a label that occurs
    several times is updated once per occurrence, in order, each step
    normalised. Rows are processed in rounds of distinct labels
    (:func:`update_rounds`), so the number of indexed updates is the
    largest multiplicity of a label, not the number of rows, and the
    tensors never leave the device.

    Args:
        table (Tensor): Shape (C, D), updated in place.
        feats (Tensor): Shape (N, D), same dtype and device as ``table``.
        labels (LongTensor): Shape (N,), values in [0, C).
        momentum (float): ``m``.
    """
    if labels.numel() == 0:
        return
    order, round_sizes = update_rounds(labels)
    feats, labels = feats[order], labels[order]
    start = 0
    for size in round_sizes:
        rows = labels[start:start + size]
        mixed = (
            momentum * table[rows] +
            (1.0 - momentum) * feats[start:start + size])
        table[rows] = F.normalize(mixed, dim=1)
        start += size


@MODELS.register_module()
class MomentumLookupTable(BaseMemory):
    """One L2-normalised fp32 feature per class, updated with momentum.

    Serves both as OIM's labelled lookup table (LUT) and as C2HEP's
    class-centre memory. For every labelled feature ``x`` of class ``y``, in
    order (rank 0's features first, then rank 1's, ...):

    ``v_y <- (m * v_y + (1 - m) * x) / ||m * v_y + (1 - m) * x||_2``

    Rows start at zero, so the first update of a row stores exactly
    ``x / ||x||``: a zero row needs no special initialisation. The
    ``initialised`` buffer records which rows were updated at least once;
    consumers use it to ignore classes never seen (their row is still 0).
    The update is vectorised (:func:`momentum_update_rows`): a batch of N
    rows costs as many indexed updates as the largest multiplicity of a
    label, with the same result as the row-by-row rule.

    Buffers (persistent, fp32 whatever the module dtype, no gradient):
        table (Tensor): Shape (num_entries, feat_dim).
        initialised (BoolTensor): Shape (num_entries,).

    Args:
        num_entries (int): Number of classes (rows).
        feat_dim (int): Feature dimension D. Defaults to 256.
        momentum (float): ``m`` in the formula, in [0, 1). Defaults to 0.5.
    """

    def __init__(self,
                 num_entries: int,
                 feat_dim: int = 256,
                 momentum: float = 0.5) -> None:
        super().__init__()
        if num_entries <= 0:
            raise ValueError('MomentumLookupTable: num_entries must be '
                             f'positive, got {num_entries}')
        if not 0.0 <= momentum < 1.0:
            raise ValueError('MomentumLookupTable: momentum must be in '
                             f'[0, 1), got {momentum}')
        self.num_entries = num_entries
        self.feat_dim = feat_dim
        self.momentum = momentum
        self.register_buffer('table', torch.zeros(num_entries, feat_dim))
        self.register_buffer('initialised',
                             torch.zeros(num_entries, dtype=torch.bool))

    @torch.no_grad()
    def update(self, feats: torch.Tensor, labels: torch.Tensor) -> None:
        """Gather ``feats``/``labels`` from all ranks and update the rows.

        A collective call under distributed training: every rank must call
        it at every step, even with zero rows.

        Args:
            feats (Tensor): Features, shape (N, D), any float dtype.
            labels (Tensor): Class of each feature, shape (N,); entries < 0
                (unlabelled) are skipped.
        """
        self._check_update_inputs(feats, labels, self.feat_dim,
                                  type(self).__name__)
        feats, labels = gather_rows_from_all_ranks(feats.detach().float(),
                                                   labels.detach().long())
        keep = labels >= 0
        feats, labels = feats[keep], labels[keep]
        if labels.numel() == 0:
            return
        max_label = int(labels.max())
        if max_label >= self.num_entries:
            raise ValueError(
                'MomentumLookupTable.update: labels must be < num_entries='
                f'{self.num_entries}, got {max_label}')
        with torch.autocast(device_type=feats.device.type, enabled=False):
            momentum_update_rows(self.table, feats, labels, self.momentum)
        self.initialised[labels] = True
