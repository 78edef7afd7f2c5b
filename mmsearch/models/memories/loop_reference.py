"""Plain-loop reference rules of the re-ID memories: what the vectorised
updates are tested and benchmarked against (not for training)."""
import torch
import torch.nn.functional as F


@torch.no_grad()
def momentum_update_rows_loop(table: torch.Tensor, feats: torch.Tensor,
                              labels: torch.Tensor, momentum: float) -> None:
    """Row-by-row momentum update, the rule the vectorised update follows.

    For ``i = 0, 1, ..., N - 1`` in order:
    ``v_{y_i} <- normalize(m v_{y_i} + (1 - m) x_i)``.

    Each step reads and writes one row with a 0-d index (two
    device-to-host synchronisations per row on a GPU): a reference, not for
    training.

    Args:
        table (Tensor): Shape (C, D), updated in place.
        feats (Tensor): Shape (N, D).
        labels (LongTensor): Shape (N,), values in [0, C).
        momentum (float): ``m``.
    """
    for feat, label in zip(feats, labels):
        mixed = momentum * table[label] + (1.0 - momentum) * feat
        table[label] = F.normalize(mixed, dim=0)
