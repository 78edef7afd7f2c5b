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


def _head_with_random_bn(seed):
    """A small head whose BN affine and running statistics are not 1/0."""
    torch.manual_seed(seed)
    head = ReIDEmbeddingHead(in_channels=4, embed_dim=3)
    head.init_weights()
    with torch.no_grad():
        head.bn.weight.uniform_(0.5, 2.0)
        head.bn.bias.uniform_(-1.0, 1.0)
        head.bn.running_mean.uniform_(-1.0, 1.0)
        head.bn.running_var.uniform_(0.5, 2.0)
    return head


def _reference_bn_embeddings(head, roi_feats, running_mean, running_var):
    """avg+max pool -> linear -> BN with batch stats -> L2, and the new
    running statistics, computed by hand (momentum 0.1, unbiased var)."""
    pooled = roi_feats.mean(dim=(2, 3)) + roi_feats.amax(dim=(2, 3))
    projected = pooled @ head.projection.weight.t() + head.projection.bias
    mean, var = projected.mean(0), projected.var(0, unbiased=False)
    normed = (projected - mean) / torch.sqrt(var + head.bn.eps)
    embeds = torch.nn.functional.normalize(
        normed * head.bn.weight + head.bn.bias, dim=1)
    momentum = head.bn.momentum
    new_mean = (1 - momentum) * running_mean + momentum * mean
    new_var = ((1 - momentum) * running_var +
               momentum * projected.var(0, unbiased=True))
    return embeds, new_mean, new_var


@pytest.mark.parametrize('convert', ['torch', 'mmengine'])
def test_sync_bn_conversion_takes_effect(convert):
    """After a SyncBatchNorm conversion the BN module's forward is used."""
    from mmengine.model import convert_sync_batchnorm
    head = _head_with_random_bn(0)
    if convert == 'torch':
        head = torch.nn.SyncBatchNorm.convert_sync_batchnorm(head)
    else:
        head = convert_sync_batchnorm(head)
    assert isinstance(head.bn, torch.nn.SyncBatchNorm)
    calls = []
    head.bn.register_forward_hook(lambda *args: calls.append(args))
    head.eval()  # SyncBatchNorm runs without a process group in eval
    roi_feats = torch.randn(5, 4, 3, 3)
    embeds = head(roi_feats)
    assert len(calls) == 1
    # the embeddings are the normalised output of the BN module
    torch.testing.assert_close(
        torch.nn.functional.normalize(calls[0][2], dim=1), embeds)
    pooled = roi_feats.mean(dim=(2, 3)) + roi_feats.amax(dim=(2, 3))
    projected = head.projection(pooled)
    expected = torch.nn.functional.normalize(
        (projected - head.bn.running_mean) /
        torch.sqrt(head.bn.running_var + head.bn.eps) * head.bn.weight +
        head.bn.bias,
        dim=1)
    torch.testing.assert_close(embeds, expected, atol=1e-6, rtol=1e-5)


def test_batch_norm_module_outputs_and_statistics_unchanged():
    """A BatchNorm1d gives the hand-computed output and running stats."""
    head = _head_with_random_bn(1)
    calls = []
    head.bn.register_forward_hook(lambda *args: calls.append(args))
    head.train()
    roi_feats = torch.randn(6, 4, 3, 3)
    expected, new_mean, new_var = _reference_bn_embeddings(
        head, roi_feats, head.bn.running_mean.clone(),
        head.bn.running_var.clone())
    embeds = head(roi_feats)
    assert len(calls) == 1
    torch.testing.assert_close(embeds, expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(head.bn.running_mean, new_mean)
    torch.testing.assert_close(head.bn.running_var, new_var)
