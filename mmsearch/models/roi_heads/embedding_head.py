"""The re-ID embedding head: RoI feature maps to unit-norm embeddings."""
import torch.nn.functional as F
from mmdet.utils import OptMultiConfig
from mmengine.dist import get_world_size
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmsearch.registry import MODELS

POOL_TYPES = ('avg', 'max', 'avg+max')
DEFAULT_INIT_CFG = dict(type='Normal', layer='Linear', std=0.01, bias=0)


def global_pool(feats: Tensor, pool_type: str) -> Tensor:
    """Pool a batch of feature maps to vectors.

    ``'avg+max'`` adds the two: ``v = mean_hw(f) + max_hw(f)``.

    Args:
        feats (Tensor): Feature maps, shape (N, C, H, W).
        pool_type (str): One of ``'avg'``, ``'max'``, ``'avg+max'``.

    Returns:
        Tensor: Pooled vectors, shape (N, C).
    """
    if pool_type not in POOL_TYPES:
        raise ValueError(f'pool_type must be one of {POOL_TYPES}, '
                         f'got {pool_type!r}.')
    pooled = 0
    if 'avg' in pool_type:
        pooled = pooled + feats.mean(dim=(2, 3))
    if 'max' in pool_type:
        pooled = pooled + feats.amax(dim=(2, 3))
    return pooled


@MODELS.register_module()
class ReIDEmbeddingHead(BaseModule):
    """Embeds RoI features for retrieval.

    ``e = normalize(BN1d(W . pool(f)))``: global pooling of the RoI feature
    map (the output of a res5 stage), a linear projection to ``embed_dim``,
    batch normalisation (affine), and L2 normalisation, so that the cosine
    similarity of two embeddings is their dot product.

    The BN is called as a module (``self.bn(...)``), so converting it to
    ``SyncBatchNorm`` (``sync_bn`` in the config) takes effect. With fewer
    than two RoIs in training, batch statistics are undefined: a plain BN
    then normalises with its running statistics (without updating them); a
    ``SyncBatchNorm`` in a multi-process group is always called, because it
    is a collective operation and its statistics cover all ranks' RoIs.

    Args:
        in_channels (int): Channels of the RoI feature map (2048 for a
            ResNet-50 res5, 512 for ResNet-18).
        embed_dim (int): Embedding dimension D. Defaults to 256.
        pool_type (str): ``'avg'``, ``'max'`` or ``'avg+max'`` (sum of global
            average and global max pooling). Defaults to ``'avg+max'``.
        init_cfg (dict, optional): Initialisation config. Defaults to a
            normal(std=0.01) linear layer with zero bias.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dim: int = 256,
                 pool_type: str = 'avg+max',
                 init_cfg: OptMultiConfig = DEFAULT_INIT_CFG) -> None:
        super().__init__(init_cfg=init_cfg)
        if pool_type not in POOL_TYPES:
            raise ValueError(f'ReIDEmbeddingHead: pool_type must be one of '
                             f'{POOL_TYPES}, got {pool_type!r}.')
        self.in_channels = in_channels
        self.embed_dim = embed_dim
        self.pool_type = pool_type
        self.projection = nn.Linear(in_channels, embed_dim)
        self.bn = nn.BatchNorm1d(embed_dim)

    def forward(self, roi_feats: Tensor) -> Tensor:
        """Embed RoI feature maps.

        Args:
            roi_feats (Tensor): Shape (N, C, H, W) with C = ``in_channels``.

        Returns:
            Tensor: Unit-norm fp32 embeddings, shape (N, embed_dim).
        """
        if roi_feats.dim() != 4 or roi_feats.size(1) != self.in_channels:
            raise ValueError('ReIDEmbeddingHead expects RoI features of '
                             f'shape (N, {self.in_channels}, H, W), got '
                             f'{tuple(roi_feats.shape)}.')
        # BN and L2 norm in fp32 whatever the autocast dtype: unit norm
        # holds to fp32 precision and the batch statistics are exact
        embeds = self.projection(global_pool(roi_feats,
                                             self.pool_type)).float()
        if self.training and embeds.size(0) < 2 and not self._bn_is_synced():
            embeds = F.batch_norm(
                embeds,
                self.bn.running_mean,
                self.bn.running_var,
                self.bn.weight,
                self.bn.bias,
                training=False,
                eps=self.bn.eps)
        else:
            embeds = self.bn(embeds)
        return F.normalize(embeds, dim=1)

    def _bn_is_synced(self) -> bool:
        """Whether ``self.bn`` synchronises statistics across processes."""
        return isinstance(self.bn, nn.SyncBatchNorm) and get_world_size() > 1
