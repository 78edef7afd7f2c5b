"""Class-centre guided HEP (C2HEP) loss of DC-I-Net."""
import torch
import torch.nn.functional as F
from torch import Tensor

from mmsearch.registry import MODELS
from ..memories import MomentumLookupTable
from .base_reid_loss import BaseReIDLoss


def nearest_centre_classes(query_centres: Tensor, centres: Tensor,
                           own_ids: Tensor, initialised: Tensor,
                           num_hard: int) -> Tensor:
    """For each query, the K classes whose centres are most similar to it.

    Candidates are all classes but the query's own. Initialised centres
    rank by cosine with the query centre; never-updated (zero) centres come
    after every initialised one, in random order, so they only fill the K
    slots when fewer than K other centres are initialised.

    Args:
        query_centres (Tensor): Unit centres of the queries' classes, (R, D).
        centres (Tensor): All class centres, (C, D).
        own_ids (LongTensor): Class of each query, (R,).
        initialised (BoolTensor): Which centres were ever updated, (C,).
        num_hard (int): K, at most C - 1.

    Returns:
        LongTensor: Hard classes of each query, most similar first, (R, K).
    """
    similarity = query_centres @ centres.t()
    random_fill = -3.0 + torch.rand_like(similarity)
    similarity = torch.where(initialised[None, :], similarity, random_fill)
    rows = torch.arange(own_ids.numel(), device=own_ids.device)
    similarity[rows, own_ids] = float('-inf')
    return similarity.topk(num_hard, dim=1).indices


@MODELS.register_module()
class C2HEPLoss(BaseReIDLoss):
    r"""HEP softmax whose hard classes are chosen by stored class centres.

    A class-centre memory :math:`c_1..c_C` (fp32, unit rows, see
    :class:`MomentumLookupTable`) gives, for a labelled RoI :math:`x` of
    identity :math:`y`, its hard classes :math:`H_y`: the K classes whose
    centres have the highest cosine with :math:`c_y`
    (:func:`nearest_centre_classes`). Then

    .. math::
        L_x = -\log \frac{\exp(s\, c_y^\top x)}
                         {\exp(s\, c_y^\top x) +
                          \sum_{k \in H_y} \exp(s\, c_k^\top x)}

    averaged over the labelled RoIs; centres are constants (no gradient).
    After the loss the centres of the batch's labelled RoIs (all ranks)
    are updated, :math:`c_y \leftarrow \mathrm{normalize}(m c_y + (1-m)x)`.

    Classes never seen: centres start at zero and the first update stores
    the feature itself. Hard classes are chosen among initialised centres;
    when fewer than K exist the rest are random uninitialised classes
    (zero centre, logit 0). A RoI whose own centre is not yet initialised
    uses its detached feature as a stand-in for :math:`c_y` (the value the
    update will write) to choose hard classes and for the target logit.
    Without labelled RoIs the loss is a zero connected to ``reid_feats``.

    Args:
        num_person_ids (int): Number of identity classes C.
        num_hard (int): K, hard classes per RoI (capped at C - 1).
            Defaults to 20.
        scale (float): Logit scale s. Defaults to 30.
        momentum (float): Centre momentum m. Defaults to 0.5.
        feat_dim (int): Feature dimension D. Defaults to 256.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_name (str): Loss key. Defaults to 'loss_c2hep'.
    """

    def __init__(self,
                 num_person_ids: int,
                 num_hard: int = 20,
                 scale: float = 30.0,
                 momentum: float = 0.5,
                 feat_dim: int = 256,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_c2hep') -> None:
        super().__init__(feat_dim, num_person_ids, loss_weight, loss_name)
        if num_hard <= 0:
            raise ValueError(f'C2HEPLoss: num_hard must be positive, got '
                             f'{num_hard}')
        if num_person_ids < 2:
            raise ValueError('C2HEPLoss: num_person_ids must be >= 2, got '
                             f'{num_person_ids}')
        self.num_hard = min(num_hard, num_person_ids - 1)
        self.scale = scale
        self.centres = MomentumLookupTable(num_person_ids, feat_dim, momentum)

    def compute_loss(self, reid_feats: Tensor, person_ids: Tensor,
                     image_indices: Tensor) -> Tensor:
        """Mean cross-entropy of labelled RoIs over own + hard classes."""
        labelled = person_ids >= 0
        if not bool(labelled.any()):
            return self.zero_loss(reid_feats)
        feats, ids = reid_feats[labelled], person_ids[labelled]
        centres, initialised = self.centres.table, self.centres.initialised
        own_centres = torch.where(initialised[ids][:, None], centres[ids],
                                  F.normalize(feats.detach(), dim=1))
        hard = nearest_centre_classes(own_centres, centres, ids, initialised,
                                      self.num_hard)
        class_centres = torch.cat([own_centres[:, None], centres[hard]], dim=1)
        logits = self.scale * torch.einsum('rd,rkd->rk', feats, class_centres)
        targets = torch.zeros_like(ids)
        return F.cross_entropy(logits, targets)

    def update_memories(self, reid_feats: Tensor, person_ids: Tensor) -> None:
        """Move the centres of the labelled RoIs' classes towards them."""
        labelled = person_ids >= 0
        self.centres.update(reid_feats[labelled], person_ids[labelled])
