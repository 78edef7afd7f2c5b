"""Gather rows of tensors from every rank, with a different count per rank."""
from typing import Tuple

import torch
from mmengine.dist import all_gather, get_world_size


def gather_rows_from_all_ranks(
        *tensors: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    """Concatenate the rows of each tensor over all ranks, in rank order.

    Every tensor has the same number of rows ``N_r`` on rank ``r`` (``N_r``
    may differ between ranks, and may be 0). The counts are gathered first,
    each tensor is zero-padded to ``max_r N_r`` rows, gathered with
    :func:`mmengine.dist.all_gather` and trimmed back, so every rank gets

    ``out = cat([t_0, t_1, ..., t_{R-1}], dim=0)``  (shape (sum_r N_r, ...)).

    This is a collective call: every rank must call it, with the same number
    of tensors of the same dtypes and trailing shapes. Without an initialised
    process group (or with one rank) the inputs are returned unchanged.
    The result carries no gradient.

    Args:
        *tensors (Tensor): Tensors of shape (N_r, ...) sharing N_r.

    Returns:
        tuple[Tensor]: Gathered tensors of shape (sum_r N_r, ...), on the
        input device.
    """
    if not tensors:
        raise ValueError('gather_rows_from_all_ranks: give at least one '
                         'tensor')
    num_rows = tensors[0].shape[0]
    if any(t.shape[0] != num_rows for t in tensors):
        raise ValueError('gather_rows_from_all_ranks: all tensors must have '
                         f'the same number of rows, got '
                         f'{[tuple(t.shape) for t in tensors]}')
    if get_world_size() == 1:
        return tuple(tensors)

    count = torch.tensor([num_rows],
                         dtype=torch.long,
                         device=tensors[0].device)
    # one device-to-host copy for all ranks' counts
    counts = torch.cat(all_gather(count)).tolist()
    max_count = max(counts)
    gathered = []
    for tensor in tensors:
        padded = tensor.new_zeros((max_count, *tensor.shape[1:]))
        padded[:num_rows] = tensor
        pieces = all_gather(padded)
        gathered.append(
            torch.cat([p[:c] for p, c in zip(pieces, counts)], dim=0))
    return tuple(gathered)
