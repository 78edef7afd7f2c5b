"""Momentum lookup table: OIM's labelled table and C2HEP's class centres."""
import torch
import torch.nn.functional as F

from mmsearch.registry import MODELS
from .base_memory import BaseMemory
from .dist_utils import gather_rows_from_all_ranks


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
        if labels.numel() and int(labels.max()) >= self.num_entries:
            raise ValueError(
                'MomentumLookupTable.update: labels must be < num_entries='
                f'{self.num_entries}, got {int(labels.max())}')
        with torch.autocast(device_type=feats.device.type, enabled=False):
            for feat, label in zip(feats, labels):
                mixed = (
                    self.momentum * self.table[label] +
                    (1.0 - self.momentum) * feat)
                self.table[label] = F.normalize(mixed, dim=0)
        self.initialised[labels] = True
