"""Base class of the re-ID memories: fp32 buffers that never change dtype."""
from typing import Callable

import torch
from torch import nn


class BaseMemory(nn.Module):
    """A module whose floating-point buffers always stay ``torch.float32``.

    Re-ID memories (lookup tables, feature queues, class centres) accumulate
    many small momentum updates; in half precision these would be rounded
    away. Their buffers are therefore kept in fp32 whatever happens to the
    rest of the model:

    * ``module.half()`` / ``module.to(torch.bfloat16)``: :meth:`_apply` is
      overridden to cast every floating-point buffer back to fp32 after
      ``nn.Module`` has applied ``fn`` (device moves still apply).
    * autocast: subclasses cast incoming features to fp32 and update under
      ``torch.no_grad()`` with autocast disabled.

    Buffers are registered persistent, so they are saved in checkpoints.
    """

    def _apply(self, fn: Callable, recurse: bool = True) -> 'BaseMemory':
        """Apply ``fn`` like ``nn.Module`` does, then restore fp32 buffers."""
        super()._apply(fn, recurse)
        for name, buffer in self._buffers.items():
            if (buffer is not None and buffer.is_floating_point()
                    and buffer.dtype != torch.float32):
                self._buffers[name] = buffer.float()
        return self

    @staticmethod
    def _check_update_inputs(feats: torch.Tensor, labels: torch.Tensor,
                             feat_dim: int, owner: str) -> None:
        """Raise a clear error if ``feats``/``labels`` have the wrong shape.

        Args:
            feats (Tensor): Features, shape (N, D).
            labels (Tensor): Integer labels, shape (N,).
            feat_dim (int): Expected D.
            owner (str): Class name used in the error message.
        """
        if feats.dim() != 2 or feats.shape[1] != feat_dim:
            raise ValueError(
                f'{owner}.update: feats must have shape (N, {feat_dim}), '
                f'got {tuple(feats.shape)}')
        if labels.dim() != 1 or labels.shape[0] != feats.shape[0]:
            raise ValueError(
                f'{owner}.update: labels must have shape ({feats.shape[0]},) '
                f'to match feats, got {tuple(labels.shape)}')
