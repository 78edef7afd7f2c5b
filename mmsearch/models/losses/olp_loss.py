"""On-line pairing (OLP) loss of I-Net (He, Zhang, Jia, ACCV 2018)."""
from typing import Optional, Tuple

import torch
from torch import Tensor

from mmsearch.registry import MODELS
from ..memories import FeatureQueue
from .base_reid_loss import BaseReIDLoss


def find_online_pairs(person_ids: Tensor,
                      image_indices: Tensor) -> Tuple[Tensor, Tensor]:
    """Find (anchor, positive) RoI pairs across partner images.

    RoI ``a`` in image ``i`` and RoI ``p`` form a pair when both carry the
    same labelled identity (>= 0) and ``p`` lies in the partner image
    ``i ^ 1``. Both directions are returned (each RoI is an anchor in turn).

    Args:
        person_ids (LongTensor): Shape (N,), -1 for unlabelled.
        image_indices (LongTensor): Shape (N,).

    Returns:
        tuple[LongTensor, LongTensor]: Anchor and positive RoI indices,
        each of shape (P,).
    """
    same_id = ((person_ids[:, None] == person_ids[None, :]) &
               (person_ids[:, None] >= 0))
    in_partner = image_indices[None, :] == (image_indices[:, None] ^ 1)
    anchors, positives = torch.nonzero(same_id & in_partner, as_tuple=True)
    return anchors, positives


def olp_pair_losses(anchor_feats: Tensor, positive_feats: Tensor,
                    anchor_ids: Tensor, negative_feats: Tensor,
                    negative_ids: Tensor, negative_valid: Tensor,
                    scale: float) -> Tensor:
    r"""OLP loss of each (anchor, positive) pair against queued negatives.

    .. math::
        L = -\log \frac{e^{s\,d(a, p)}}
                       {e^{s\,d(a, p)} + \sum_j e^{s\,d(a, n_j)}}

    with :math:`d` the dot product (cosine for unit features). Negatives
    :math:`n_j` are the valid queue rows whose label differs from the
    anchor's identity (label -1 rows are always negatives).

    Args:
        anchor_feats (Tensor): Shape (P, D).
        positive_feats (Tensor): Shape (P, D).
        anchor_ids (LongTensor): Shape (P,).
        negative_feats (Tensor): Queue rows, shape (S, D).
        negative_ids (LongTensor): Queue labels, shape (S,).
        negative_valid (BoolTensor): Written queue rows, shape (S,).
        scale (float): s.

    Returns:
        Tensor: Loss of each pair, shape (P,).
    """
    positive_logits = scale * (anchor_feats * positive_feats).sum(dim=1)
    negative_logits = scale * anchor_feats @ negative_feats.t()
    usable = negative_valid[None, :] & (
        negative_ids[None, :] != anchor_ids[:, None])
    negative_logits = negative_logits.masked_fill(~usable, float('-inf'))
    logits = torch.cat([positive_logits[:, None], negative_logits], dim=1)
    return torch.logsumexp(logits, dim=1) - positive_logits


@MODELS.register_module()
class OLPLoss(BaseReIDLoss):
    r"""On-line pairing loss with a dynamic FIFO dictionary of negatives.

    For each labelled anchor RoI :math:`a` in image :math:`i` and each RoI
    :math:`p` of the same identity in the partner image :math:`i \oplus 1`:

    .. math::
        L = \frac{1}{|\mathcal{P}|}\sum_{(a,p) \in \mathcal{P}}
            -\log \frac{e^{s\,d(a,p)}}
                       {e^{s\,d(a,p)} + \sum_j e^{s\,d(a,n_j)}}

    :math:`d` is cosine similarity of the L2-normalised features; the
    negatives :math:`n_j` are the queue's features whose stored label is
    not the anchor's identity. The gradient flows through the anchor only:
    positives and negatives are detached. Anchors without a positive in the
    partner image contribute nothing; a batch without any pair returns a
    zero connected to ``reid_feats``.

    After the loss, every RoI of the batch (labelled with its id; unlabelled
    with -1 if ``enqueue_unlabelled``) is pushed into the queue, gathered
    from all ranks. The queue length defaults to ``queue_size_factor`` (4)
    x the number of labelled RoIs of the first batch that has any (summed
    over ranks); see :class:`FeatureQueue`.

    Args:
        queue_size (int, optional): Queue length; None for the rule above.
            Defaults to None.
        queue_size_factor (int): Multiplier of that rule. Defaults to 4.
        scale (float): s; 1.0 reproduces the paper's formula.
            Defaults to 1.0.
        enqueue_unlabelled (bool): Also push unlabelled persons (label -1)
            as negatives. Defaults to True.
        feat_dim (int): Feature dimension D. Defaults to 256.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_name (str): Loss key. Defaults to 'loss_olp'.
    """

    def __init__(self,
                 queue_size: Optional[int] = None,
                 queue_size_factor: int = 4,
                 scale: float = 1.0,
                 enqueue_unlabelled: bool = True,
                 feat_dim: int = 256,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_olp') -> None:
        super().__init__(feat_dim, None, loss_weight, loss_name)
        self.scale = scale
        self.enqueue_unlabelled = enqueue_unlabelled
        self.queue = FeatureQueue(queue_size, feat_dim, queue_size_factor)

    def compute_loss(self, reid_feats: Tensor, person_ids: Tensor,
                     image_indices: Tensor) -> Tensor:
        """Mean OLP loss over the batch's (anchor, positive) pairs.

        The queue is cloned: it is updated in place after the loss, before
        the backward pass that needs the negatives.
        """
        anchors, positives = find_online_pairs(person_ids, image_indices)
        if anchors.numel() == 0:
            return self.zero_loss(reid_feats)
        pair_losses = olp_pair_losses(reid_feats[anchors],
                                      reid_feats.detach()[positives],
                                      person_ids[anchors],
                                      self.queue.feats.clone(),
                                      self.queue.labels.clone(),
                                      self.queue.valid_mask, self.scale)
        return pair_losses.mean()

    def update_memories(self, reid_feats: Tensor, person_ids: Tensor) -> None:
        """Push the batch's RoIs (and their labels) into the queue."""
        keep = (
            torch.ones_like(person_ids, dtype=torch.bool)
            if self.enqueue_unlabelled else person_ids >= 0)
        self.queue.update(reid_feats[keep], person_ids[keep])
