"""Hard example priority (HEP) softmax loss of I-Net."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmsearch.registry import MODELS
from .base_reid_loss import BaseReIDLoss


def build_hep_pool(pair_labels: Tensor, class_scores: Tensor, num_hard: int,
                   pool_size: int) -> Tensor:
    """Class pool of one image pair: its labels, hard classes, random fill.

    ``pool = pair_labels ++ top-K(class_scores, excluding pair_labels)
    ++ random other classes until len(pool) == pool_size``. If the pair
    labels and K hard classes already reach ``pool_size`` nothing random is
    added (the pool is then larger than ``pool_size``); K is capped by the
    number of classes left.

    Args:
        pair_labels (LongTensor): Unique identities of the pair, (L,).
        class_scores (Tensor): Hardness of every class, e.g. the highest
            cosine between its classifier weight and the pair's RoIs, (C,).
        num_hard (int): K.
        pool_size (int): M.

    Returns:
        LongTensor: Class indices, no duplicates, pair labels first, (P,).
    """
    num_classes = class_scores.numel()
    taken = torch.zeros(
        num_classes, dtype=torch.bool, device=class_scores.device)
    taken[pair_labels] = True
    num_hard = min(num_hard, num_classes - pair_labels.numel())
    hard = class_scores.masked_fill(taken,
                                    float('-inf')).topk(num_hard).indices
    taken[hard] = True
    rest = torch.nonzero(~taken, as_tuple=True)[0]
    num_random = max(
        0, min(pool_size - pair_labels.numel() - num_hard, rest.numel()))
    shuffle = torch.randperm(rest.numel(), device=rest.device)
    return torch.cat([pair_labels, hard, rest[shuffle[:num_random]]])


@MODELS.register_module()
class HEPLoss(BaseReIDLoss):
    r"""Identity softmax over a per-pair pool of classes (HEP).

    With learnable classifier weights :math:`W` (num_person_ids x D,
    rows L2-normalised when used), the pool :math:`\mathcal{C}` of an image
    pair (images 2k and 2k+1) holds the identities labelled in the pair,
    the K classes whose weights are most similar to the pair's labelled
    RoIs (hardness of class c: :math:`\max_a \hat w_c^\top x_a`, computed
    without gradient) and random classes until :math:`|\mathcal{C}| = M`
    (:func:`build_hep_pool`). Each labelled RoI :math:`x` of identity
    :math:`y` in the pair takes

    .. math::
        L_x = -\log \frac{\exp(s\, \hat w_y^\top x)}
                         {\sum_{c \in \mathcal{C}} \exp(s\, \hat w_c^\top x)}

    and the loss is the mean over all labelled RoIs of the batch.
    Unlabelled RoIs are ignored. Without labelled RoIs the loss is a zero
    connected to ``reid_feats`` and ``weight``. HEP keeps no memory; the
    pair of a RoI is ``image_index // 2`` (plain batches work too).

    Args:
        num_person_ids (int): Number of identity classes.
        num_hard (int): K, hard negative classes per pair. Defaults to 20.
        pool_size (int): M, classes per pool. Defaults to 100 (project
            choice; not given by the sources).
        scale (float): Logit scale s. Defaults to 30.
        feat_dim (int): Feature dimension D. Defaults to 256.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_name (str): Loss key. Defaults to 'loss_hep'.
    """

    def __init__(self,
                 num_person_ids: int,
                 num_hard: int = 20,
                 pool_size: int = 100,
                 scale: float = 30.0,
                 feat_dim: int = 256,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_hep') -> None:
        super().__init__(feat_dim, num_person_ids, loss_weight, loss_name)
        if num_hard < 0 or pool_size <= 0:
            raise ValueError('HEPLoss: num_hard must be >= 0 and pool_size '
                             f'> 0, got {num_hard} and {pool_size}')
        self.num_hard = num_hard
        self.pool_size = pool_size
        self.scale = scale
        self.weight = nn.Parameter(torch.empty(num_person_ids, feat_dim))
        nn.init.normal_(self.weight, std=0.01)

    def compute_loss(self, reid_feats: Tensor, person_ids: Tensor,
                     image_indices: Tensor) -> Tensor:
        """Mean cross-entropy of labelled RoIs over their pair's pool."""
        labelled = person_ids >= 0
        if not bool(labelled.any()):
            return self.zero_loss(reid_feats)
        weights = F.normalize(self.weight.float(), dim=1)
        feats, ids = reid_feats[labelled], person_ids[labelled]
        pair_indices = image_indices[labelled] // 2
        total = reid_feats.new_zeros(())
        for pair in torch.unique(pair_indices):
            in_pair = pair_indices == pair
            pair_feats, pair_ids = feats[in_pair], ids[in_pair]
            pair_labels = torch.unique(pair_ids)
            with torch.no_grad():
                class_scores = (weights @ pair_feats.t()).max(dim=1).values
            pool = build_hep_pool(pair_labels, class_scores, self.num_hard,
                                  self.pool_size)
            logits = self.scale * pair_feats @ weights[pool].t()
            targets = torch.searchsorted(pair_labels, pair_ids)
            total = total + F.cross_entropy(logits, targets, reduction='sum')
        return total / ids.numel()
