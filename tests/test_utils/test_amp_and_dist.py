"""The --amp switch, the CPU distributed set-up and the GPU count check."""
import os
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from mmsearch.testing import multiprocess_env
from mmsearch.utils import enable_amp, setup_cpu_distributed
from mmsearch.utils.dist import check_processes_fit_gpus


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


@pytest.mark.cuda
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


def test_more_processes_than_gpus_is_refused_clearly():
    check_processes_fit_gpus(2, 2)
    check_processes_fit_gpus(8, 8)
    check_processes_fit_gpus(4, 0)  # no GPU: CPU processes (gloo)
    with pytest.raises(RuntimeError) as error:
        check_processes_fit_gpus(2, 1)
    message = str(error.value)
    assert '2 processes' in message and 'only 1 CUDA device' in message
    assert 'tools/dist_train.sh CONFIG 1' in message
    assert 'CUDA_VISIBLE_DEVICES=' in message


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_setup_refuses_more_local_processes_than_gpus(monkeypatch):
    num_gpus = torch.cuda.device_count()
    monkeypatch.setenv('LOCAL_WORLD_SIZE', str(num_gpus + 1))
    with pytest.raises(RuntimeError, match='CUDA device'):
        setup_cpu_distributed(_cfg(launcher='pytorch'))
    monkeypatch.setenv('LOCAL_WORLD_SIZE', str(num_gpus))
    assert setup_cpu_distributed(_cfg(launcher='pytorch')) is False


def test_multiprocess_env_hides_gpus_when_too_few():
    """Tests that start N ranks run on the CPU unless N GPUs exist."""
    num_gpus = torch.cuda.device_count()
    base = dict(PATH=os.environ.get('PATH', ''), KEEP='1')
    env = multiprocess_env(num_gpus + 1, base)
    assert env['CUDA_VISIBLE_DEVICES'] == '' and env['KEEP'] == '1'
    assert 'CUDA_VISIBLE_DEVICES' not in base
    probe = 'import torch; print(torch.cuda.device_count())'
    seen = subprocess.run([sys.executable, '-c', probe],
                          env=env,
                          capture_output=True,
                          text=True,
                          check=True).stdout.strip()
    assert seen == '0'
    if num_gpus >= 1:
        assert multiprocess_env(num_gpus, base) == base
