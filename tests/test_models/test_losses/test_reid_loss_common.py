"""Behaviour shared by every re-ID loss: config, inputs, precision."""
import pytest
import torch
import torch.nn.functional as F

from mmsearch.registry import MODELS

FEAT_DIM = 8
LOSS_CFGS = [
    dict(type='OIMLoss', num_person_ids=4, queue_size=6, feat_dim=FEAT_DIM),
    dict(type='OLPLoss', feat_dim=FEAT_DIM),
    dict(
        type='HEPLoss',
        num_person_ids=4,
        num_hard=1,
        pool_size=3,
        feat_dim=FEAT_DIM),
    dict(type='C2HEPLoss', num_person_ids=4, num_hard=2, feat_dim=FEAT_DIM),
]
LOSS_NAMES = ['loss_oim', 'loss_olp', 'loss_hep', 'loss_c2hep']


def _memory_buffers(loss):
    return {n: b for n, b in loss.named_buffers() if b.is_floating_point()}


def _batch(dtype=torch.float32):
    torch.manual_seed(0)
    feats = F.normalize(torch.randn(6, FEAT_DIM), dim=1).to(dtype)
    person_ids = torch.tensor([0, 1, -1, 0, 1, 3])
    image_indices = torch.tensor([0, 0, 0, 1, 1, 1])
    return feats, person_ids, image_indices


@pytest.mark.parametrize('cfg,name', list(zip(LOSS_CFGS, LOSS_NAMES)))
def test_build_and_name(cfg, name):
    loss = MODELS.build(cfg)
    assert type(loss).__name__ == cfg['type']
    assert loss.loss_name == name
    renamed = MODELS.build(dict(cfg, loss_name='loss_custom'))
    assert renamed.loss_name == 'loss_custom'


@pytest.mark.parametrize('cfg', LOSS_CFGS)
def test_bad_inputs_name_the_argument(cfg):
    loss = MODELS.build(cfg)
    feats, person_ids, image_indices = _batch()
    with pytest.raises(ValueError, match=r'reid_feats .*\(N, 8\)'):
        loss(feats[:, :5], person_ids, image_indices)
    with pytest.raises(ValueError, match='person_ids must be an integer'):
        loss(feats, person_ids.float(), image_indices)
    with pytest.raises(ValueError, match='image_indices must be'):
        loss(feats, person_ids, image_indices[:3])
    with pytest.raises(ValueError, match='person_ids must be >= -1'):
        loss(feats, person_ids - 3, image_indices)
    if 'num_person_ids' in cfg:
        with pytest.raises(ValueError, match='num_person_ids=4'):
            loss(feats, person_ids + 4, image_indices)


@pytest.mark.parametrize('cfg', LOSS_CFGS)
def test_bfloat16_autocast_keeps_fp32_memories(cfg):
    loss_module = MODELS.build(cfg)
    embed = torch.nn.Linear(4, FEAT_DIM)
    torch.manual_seed(1)
    inputs = torch.randn(6, 4)
    _, person_ids, image_indices = _batch()
    for _ in range(3):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            feats = F.normalize(embed(inputs), dim=1)
            assert feats.dtype == torch.bfloat16
            loss = loss_module(feats, person_ids, image_indices)
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        loss.backward()
    assert embed.weight.grad is not None
    assert torch.isfinite(embed.weight.grad).all()
    for name, buffer in _memory_buffers(loss_module).items():
        assert buffer.dtype == torch.float32, name
        assert not buffer.requires_grad, name


@pytest.mark.parametrize('cfg', LOSS_CFGS)
def test_half_module_keeps_fp32_memories(cfg):
    loss_module = MODELS.build(cfg).half()
    feats, person_ids, image_indices = _batch(torch.float16)
    loss = loss_module(feats.requires_grad_(), person_ids, image_indices)
    assert torch.isfinite(loss)
    memories = _memory_buffers(loss_module)
    assert all(b.dtype == torch.float32 for b in memories.values())
    if cfg['type'] != 'HEPLoss':
        assert memories and any(
            torch.count_nonzero(b) for b in memories.values())


@pytest.mark.parametrize('cfg', LOSS_CFGS)
def test_empty_batch_gives_connected_zero(cfg):
    loss_module = MODELS.build(cfg)
    feats = torch.zeros(0, FEAT_DIM, requires_grad=True)
    empty = torch.zeros(0, dtype=torch.long)
    loss = loss_module(feats, empty, empty)
    assert loss.item() == 0.0
    loss.backward()
    assert feats.grad is not None and feats.grad.shape == (0, FEAT_DIM)


def _host_reads(fn) -> int:
    """Device-to-host scalar reads (``.item()``, ``int(t)``) done by fn."""
    with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return sum(event.count for event in prof.key_averages()
               if event.key == 'aten::_local_scalar_dense')


@pytest.mark.parametrize('cfg', LOSS_CFGS)
def test_input_checks_read_the_device_once(cfg):
    """The range checks of every step cost one copy, not one per check."""
    loss = MODELS.build(cfg)
    feats, person_ids, image_indices = _batch()
    assert _host_reads(lambda: loss._check_inputs(
        feats, person_ids, image_indices)) == 0  # one .tolist()
    with pytest.raises(ValueError, match='got -2'):
        loss(feats, torch.full_like(person_ids, -2), image_indices)
    with pytest.raises(ValueError, match='image_indices must be >= 0'):
        loss(feats, person_ids, image_indices - 1)
