"""The --amp switch and the CPU distributed set-up."""
import pytest
import torch
from mmengine.config import Config

from mmsearch.utils import enable_amp, setup_cpu_distributed


def _cfg(**kwargs) -> Config:
    return Config(
        dict(
            optim_wrapper=dict(
                type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1)),
            **kwargs))


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='checks the message without CUDA')
def test_amp_without_cuda_stops_with_a_clear_message():
    cfg = _cfg()
    with pytest.raises(RuntimeError, match='--amp needs a CUDA GPU'):
        enable_amp(cfg)
    assert cfg.optim_wrapper.type == 'OptimWrapper'


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_amp_switches_to_amp_optim_wrapper_keeping_dtype():
    cfg = _cfg()
    cfg.optim_wrapper.dtype = 'bfloat16'
    enable_amp(cfg)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.dtype == 'bfloat16'


def test_no_launcher_changes_nothing():
    cfg = _cfg(launcher='none')
    assert setup_cpu_distributed(cfg) is False
    assert 'model_wrapper_cfg' not in cfg


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='the CPU path only runs without CUDA')
def test_cpu_launchers_need_torchrun_environment(monkeypatch):
    with pytest.raises(RuntimeError, match='needs CUDA'):
        setup_cpu_distributed(_cfg(launcher='slurm'))
    for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match='MASTER_ADDR'):
        setup_cpu_distributed(_cfg(launcher='pytorch'))


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='the CPU path only runs without CUDA')
def test_cpu_launcher_uses_gloo_and_no_device_ids(monkeypatch):
    monkeypatch.setattr(torch.distributed, 'is_initialized', lambda: True)
    for name, value in (('RANK', '0'), ('WORLD_SIZE', '1'),
                        ('MASTER_ADDR', '127.0.0.1'), ('MASTER_PORT', '1')):
        monkeypatch.setenv(name, value)
    cfg = _cfg(launcher='pytorch', find_unused_parameters=True)
    setup_cpu_distributed(cfg)
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=True,
        device_ids=None)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
