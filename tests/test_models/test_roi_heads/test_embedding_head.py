import pytest
import torch

from mmsearch.models.roi_heads import ReIDEmbeddingHead
from mmsearch.models.roi_heads.embedding_head import global_pool


def test_global_pool_hand_worked():
    # one 2x2 map per channel: channel 0 = [[1, 2], [3, 6]], channel 1 = -1
    feats = torch.tensor([[[[1., 2.], [3., 6.]], [[-1., -1.], [-1., -1.]]]])
    assert torch.equal(global_pool(feats, 'avg'), torch.tensor([[3., -1.]]))
    assert torch.equal(global_pool(feats, 'max'), torch.tensor([[6., -1.]]))
    assert torch.equal(
        global_pool(feats, 'avg+max'), torch.tensor([[9., -2.]]))
    with pytest.raises(ValueError, match='pool_type'):
        global_pool(feats, 'sum')


def test_embeddings_are_unit_norm_and_projected():
    torch.manual_seed(0)
    head = ReIDEmbeddingHead(in_channels=8, embed_dim=5, pool_type='avg')
    head.init_weights()
    roi_feats = torch.randn(6, 8, 7, 7)
    head.train()
    embeds = head(roi_feats)
    assert embeds.shape == (6, 5)
    assert torch.allclose(embeds.norm(dim=1), torch.ones(6), atol=1e-5)

    # independent computation: mean pool -> linear -> BN (batch stats) -> L2
    pooled = roi_feats.mean(dim=(2, 3))
    projected = pooled @ head.projection.weight.t() + head.projection.bias
    normed = (projected - projected.mean(0)
              ) / torch.sqrt(projected.var(0, unbiased=False) + head.bn.eps)
    expected = torch.nn.functional.normalize(
        normed * head.bn.weight + head.bn.bias, dim=1)
    assert torch.allclose(embeds, expected, atol=1e-5)
    # batch statistics were accumulated into the running mean
    assert not torch.allclose(head.bn.running_mean, torch.zeros(5))


def test_single_roi_in_training_uses_running_stats():
    head = ReIDEmbeddingHead(in_channels=4, embed_dim=3)
    head.train()
    running_mean = head.bn.running_mean.clone()
    embeds = head(torch.randn(1, 4, 7, 7))
    assert embeds.shape == (1, 3)
    assert torch.allclose(embeds.norm(dim=1), torch.ones(1), atol=1e-5)
    assert torch.equal(head.bn.running_mean, running_mean)


def test_bad_input_is_named():
    head = ReIDEmbeddingHead(in_channels=4, embed_dim=3)
    with pytest.raises(ValueError, match=r'\(N, 4, H, W\)'):
        head(torch.randn(2, 5, 7, 7))
    with pytest.raises(ValueError, match='pool_type'):
        ReIDEmbeddingHead(in_channels=4, pool_type='median')
