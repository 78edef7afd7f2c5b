"""Online Instance Matching loss (Xiao et al., CVPR 2017): the baseline."""
import torch
import torch.nn.functional as F
from torch import Tensor

from mmsearch.registry import MODELS
from ..memories import FeatureQueue, MomentumLookupTable
from .base_reid_loss import BaseReIDLoss


@MODELS.register_module()
class OIMLoss(BaseReIDLoss):
    r"""OIM: softmax over a labelled lookup table and an unlabelled queue.

    With the lookup table :math:`V` (num_person_ids x D, one row per
    identity) and the circular queue :math:`U` (queue_size x D, unlabelled
    features), a labelled RoI feature :math:`x` of identity :math:`y` has

    .. math::
        p_y = \frac{\exp(s\, v_y^\top x)}
                   {\sum_j \exp(s\, v_j^\top x) + \sum_k \exp(s\, u_k^\top x)},
        \qquad L = -\frac{1}{|\mathcal{L}|}\sum_{i \in \mathcal{L}}
                   \log p_{y_i}

    over the labelled RoIs :math:`\mathcal{L}`. All queue rows enter the
    denominator, including never-written zero rows (logit 0), as in the
    reference implementations. Unlabelled RoIs (id -1) take no loss; they
    only enter the queue. After the loss, the table is updated with
    momentum, :math:`v_y \leftarrow \mathrm{normalize}(m v_y + (1-m) x)`,
    and unlabelled features are enqueued (first in, first out); both
    gathered from all ranks (see :class:`MomentumLookupTable`,
    :class:`FeatureQueue`). Without labelled RoIs the loss is a zero
    connected to ``reid_feats``.

    Args:
        num_person_ids (int): Rows of the lookup table (labelled ids).
        queue_size (int): Rows of the unlabelled queue. Defaults to 5000.
        momentum (float): Lookup-table momentum m. Defaults to 0.5.
        scale (float): Logit scale s (1 / temperature). Defaults to 30.
        feat_dim (int): Feature dimension D. Defaults to 256.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_name (str): Loss key. Defaults to 'loss_oim'.
    """

    def __init__(self,
                 num_person_ids: int,
                 queue_size: int = 5000,
                 momentum: float = 0.5,
                 scale: float = 30.0,
                 feat_dim: int = 256,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_oim') -> None:
        super().__init__(feat_dim, num_person_ids, loss_weight, loss_name)
        if queue_size is None or queue_size <= 0:
            raise ValueError('OIMLoss: queue_size must be a positive int, '
                             f'got {queue_size}')
        self.scale = scale
        self.lookup_table = MomentumLookupTable(num_person_ids, feat_dim,
                                                momentum)
        self.queue = FeatureQueue(queue_size, feat_dim)

    def compute_loss(self, reid_feats: Tensor, person_ids: Tensor,
                     image_indices: Tensor) -> Tensor:
        """Cross-entropy of labelled RoIs over [lookup table; queue]."""
        labelled = person_ids >= 0
        if not bool(labelled.any()):
            return self.zero_loss(reid_feats)
        memory = torch.cat([self.lookup_table.table, self.queue.feats])
        logits = self.scale * reid_feats[labelled] @ memory.t()
        return F.cross_entropy(logits, person_ids[labelled])

    def update_memories(self, reid_feats: Tensor, person_ids: Tensor) -> None:
        """Labelled features update the table, unlabelled ones the queue."""
        labelled = person_ids >= 0
        self.lookup_table.update(reid_feats[labelled], person_ids[labelled])
        self.queue.update(reid_feats[~labelled], person_ids[~labelled])
