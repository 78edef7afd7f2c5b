"""CUDA checks: fp16 autocast keeps fp32 memories; CUDA equals CPU."""
import pytest
import torch
import torch.nn.functional as F

from mmsearch.registry import MODELS

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(), reason='needs a CUDA device')
]

FEAT_DIM = 8
# Deterministic configs: HEP's pool holds every class, so no random fill.
LOSS_CFGS = [
    dict(type='OIMLoss', num_person_ids=4, queue_size=6, feat_dim=FEAT_DIM),
    dict(type='OLPLoss', queue_size=8, feat_dim=FEAT_DIM),
    dict(
        type='HEPLoss',
        num_person_ids=4,
        num_hard=1,
        pool_size=4,
        feat_dim=FEAT_DIM),
    dict(type='C2HEPLoss', num_person_ids=4, num_hard=3, feat_dim=FEAT_DIM),
]


def _steps():
    generator = torch.Generator().manual_seed(0)
    person_ids = torch.tensor([0, 1, -1, 0, 1, 3])
    image_indices = torch.tensor([0, 0, 0, 1, 1, 1])
    return [(F.normalize(torch.randn(6, FEAT_DIM, generator=generator),
                         dim=1), person_ids, image_indices) for _ in range(3)]


@pytest.mark.parametrize('cfg', LOSS_CFGS)
def test_cuda_matches_cpu_and_fp16_autocast(cfg):
    cpu_loss = MODELS.build(cfg)
    cuda_loss = MODELS.build(cfg).cuda()
    cuda_loss.load_state_dict(cpu_loss.state_dict())
    for feats, person_ids, image_indices in _steps():
        expected = cpu_loss(feats, person_ids, image_indices)
        result = cuda_loss(feats.cuda(), person_ids.cuda(),
                           image_indices.cuda())
        torch.testing.assert_close(
            result.cpu(), expected, atol=1e-4, rtol=1e-4)
    for name, buffer in cuda_loss.state_dict().items():
        torch.testing.assert_close(
            buffer.cpu(), cpu_loss.state_dict()[name], atol=1e-5, rtol=1e-5)

    twin_loss = MODELS.build(cfg).cuda()
    embed = torch.nn.Linear(FEAT_DIM, FEAT_DIM).cuda()
    for feats, person_ids, image_indices in _steps():
        twin_loss.load_state_dict(cuda_loss.state_dict())
        with torch.autocast('cuda', dtype=torch.float16):
            projected = embed(feats.cuda())
            # autocast runs the linear layer in fp16 but the norm inside
            # F.normalize in fp32, so normalised features come out fp32
            assert projected.dtype == torch.float16
            assert F.normalize(projected, dim=1).dtype == torch.float32
            # fp16 features (e.g. from a model cast to half) are accepted
            half_feats = F.normalize(projected, dim=1).half()
            assert half_feats.dtype == torch.float16
            loss = cuda_loss(half_feats, person_ids.cuda(),
                             image_indices.cuda())
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        # the same as the fp32 computation on the fp16 values
        expected = twin_loss(half_feats.detach().float(), person_ids.cuda(),
                             image_indices.cuda())
        torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)
        loss.backward()
    assert embed.weight.grad is not None
    assert torch.isfinite(embed.weight.grad).all()
    assert embed.weight.grad.abs().sum() > 0
    for name, buffer in cuda_loss.named_buffers():
        if buffer.is_floating_point():
            assert buffer.dtype == torch.float32, name
            assert buffer.is_cuda, name
    torch.testing.assert_close(
        dict(cuda_loss.named_buffers()), dict(twin_loss.named_buffers()))
