"""Base class of the re-ID losses: input checks, fp32 maths, memory updates."""
from abc import ABCMeta, abstractmethod
from typing import Optional

import torch
from torch import Tensor, nn


class BaseReIDLoss(nn.Module, metaclass=ABCMeta):
    """Common frame of OIM, OLP, HEP and C2HEP.

    ``forward(reid_feats, person_ids, image_indices)``, called by the RoI head:

    1. checks the inputs and raises a ``ValueError`` naming the argument;
    2. computes :meth:`compute_loss` in fp32 with autocast disabled
       (``reid_feats`` is cast to fp32, so bf16/fp16 features from an
       autocast region are fine and receive gradients in their own dtype);
    3. in training mode, calls :meth:`update_memories` with the detached
       fp32 features AFTER the loss is computed. It is called on every
       step, even with zero RoIs, because memory updates are collective
       across ranks;
    4. returns ``loss_weight * loss``, a scalar.

    A step without any usable RoI returns a zero that keeps a ``grad_fn``
    connected to ``reid_feats`` (and to learnable weights, if any), so DDP
    never waits for an unused gradient.

    Args:
        feat_dim (int): Feature dimension D.
        num_person_ids (int, optional): Number of labelled identities; ids
            must lie in [-1, num_person_ids). None: only ``>= -1`` checked.
        loss_weight (float): Multiplier of the loss.
        loss_name (str): Key of the loss in the losses dict.
    """

    def __init__(self, feat_dim: int, num_person_ids: Optional[int],
                 loss_weight: float, loss_name: str) -> None:
        super().__init__()
        if feat_dim <= 0:
            raise ValueError(f'{type(self).__name__}: feat_dim must be '
                             f'positive, got {feat_dim}')
        if num_person_ids is not None and num_person_ids <= 0:
            raise ValueError(f'{type(self).__name__}: num_person_ids must be '
                             f'positive, got {num_person_ids}')
        self.feat_dim = feat_dim
        self.num_person_ids = num_person_ids
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """str: Name of the loss, e.g. ``'loss_oim'``."""
        return self._loss_name

    def forward(self, reid_feats: Tensor, person_ids: Tensor,
                image_indices: Tensor) -> Tensor:
        """Compute the weighted loss, then update the memories.

        Args:
            reid_feats (Tensor): L2-normalised features of positive RoIs,
                shape (N, D), any float dtype.
            person_ids (LongTensor): Shape (N,); >= 0 labelled identity,
                -1 unlabelled person.
            image_indices (LongTensor): Shape (N,); index of each RoI's image
                in the batch. The partner of image i is image i ^ 1.

        Returns:
            Tensor: Scalar fp32 loss, already multiplied by ``loss_weight``.
        """
        self._check_inputs(reid_feats, person_ids, image_indices)
        person_ids = person_ids.long()
        image_indices = image_indices.long()
        with torch.autocast(device_type=reid_feats.device.type, enabled=False):
            feats = reid_feats.float()
            loss = self.compute_loss(feats, person_ids, image_indices)
            if self.training:
                self.update_memories(feats.detach(), person_ids)
        return loss * self.loss_weight

    @abstractmethod
    def compute_loss(self, reid_feats: Tensor, person_ids: Tensor,
                     image_indices: Tensor) -> Tensor:
        """Unweighted scalar loss from fp32 features (shapes as forward)."""

    def update_memories(self, reid_feats: Tensor, person_ids: Tensor) -> None:
        """Update the memories (none by default) from detached features.

        Args:
            reid_feats (Tensor): Detached fp32 features, shape (N, D).
            person_ids (LongTensor): Shape (N,), -1 for unlabelled persons.
        """

    def zero_loss(self, reid_feats: Tensor) -> Tensor:
        """A zero connected to ``reid_feats`` and every learnable weight."""
        zero = reid_feats.sum() * 0.0
        for param in self.parameters():
            zero = zero + param.sum() * 0.0
        return zero

    def _check_inputs(self, reid_feats: Tensor, person_ids: Tensor,
                      image_indices: Tensor) -> None:
        """Raise ``ValueError`` on wrong shapes, dtypes or identities."""
        name = type(self).__name__
        if (reid_feats.dim() != 2 or reid_feats.shape[1] != self.feat_dim
                or not reid_feats.is_floating_point()):
            raise ValueError(
                f'{name}: reid_feats must be a float tensor of shape '
                f'(N, {self.feat_dim}), got {reid_feats.dtype} '
                f'{tuple(reid_feats.shape)}')
        num_rois = reid_feats.shape[0]
        index_args = dict(person_ids=person_ids, image_indices=image_indices)
        for arg_name, value in index_args.items():
            if (value.shape != (num_rois, ) or value.is_floating_point()
                    or value.dtype == torch.bool):
                raise ValueError(
                    f'{name}: {arg_name} must be an integer tensor of shape '
                    f'({num_rois},), got {value.dtype} {tuple(value.shape)}')
        if num_rois == 0:
            return
        # one device-to-host copy for the three range checks
        min_id, max_id, min_index = torch.stack([
            person_ids.min().long(),
            person_ids.max().long(),
            image_indices.min().long()
        ]).tolist()
        if min_id < -1:
            raise ValueError(f'{name}: person_ids must be >= -1 (-1 = '
                             f'unlabelled), got {min_id}')
        if self.num_person_ids is not None and max_id >= self.num_person_ids:
            raise ValueError(f'{name}: person_ids must be < num_person_ids='
                             f'{self.num_person_ids}, got {max_id}')
        if min_index < 0:
            raise ValueError(f'{name}: image_indices must be >= 0, got '
                             f'{min_index}')
