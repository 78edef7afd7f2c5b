"""tools/train.py: checkpoints, memories, resume, the --amp guard and
2-process CPU training (tools/dist_train.sh)."""
import os
import os.path as osp
import shutil
import socket
import subprocess

import pytest
import torch
from tool_helpers import ROOT, TRAIN_ITERS, run_tool, tool_env

from mmsearch.testing import multiprocess_env

MEMORY_KEYWORDS = ('memory', 'memories', 'lookup', 'queue', 'centre', 'center',
                   'table')


def _memory_buffers(buffers: dict) -> dict:
    """The re-ID memory buffers among a model's buffers."""
    found = {
        name: value
        for name, value in buffers.items()
        if 'reid_losses' in name or any(k in name for k in MEMORY_KEYWORDS)
    }
    assert found, f'no re-ID memory buffer among {sorted(buffers)}'
    return found


def _assert_same(first: dict, second: dict) -> None:
    assert sorted(first) == sorted(second)
    for name in first:
        assert torch.equal(first[name], second[name]), name


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def test_training_saves_checkpoints_with_fp32_memories(trained_work_dir):
    for it in range(1, TRAIN_ITERS + 1):
        assert osp.isfile(osp.join(trained_work_dir, f'iter_{it}.pth'))
    checkpoint = _load(osp.join(trained_work_dir, f'iter_{TRAIN_ITERS}.pth'))
    assert checkpoint['meta']['iter'] == TRAIN_ITERS
    assert {'optimizer', 'message_hub', 'state_dict'} <= set(checkpoint)
    held = _load(osp.join(trained_work_dir, 'state_after_train_rank0.pth'))
    memories = _memory_buffers(held['buffers'])
    for name, value in memories.items():
        assert torch.equal(checkpoint['state_dict'][name], value), name
        if value.is_floating_point():
            assert value.dtype == torch.float32, name
    assert any(v.is_floating_point() and v.abs().sum() > 0
               for v in memories.values()), 'memories never updated'


def test_resume_restores_iteration_optimizer_and_memories(
        trained_work_dir, tiny_config, tmp_path):
    """A run stopped after iteration 1 resumes (--resume, auto) from it."""
    work_dir = str(tmp_path / 'resumed')
    os.makedirs(work_dir)
    stopped = osp.join(work_dir, 'iter_1.pth')
    shutil.copy(osp.join(trained_work_dir, 'iter_1.pth'), stopped)
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(stopped)
    result = run_tool(
        ['tools/train.py', tiny_config, '--work-dir', work_dir, '--resume'])
    assert 'resumed epoch: 0, iter: 1' in result.stdout + result.stderr
    saved = _load(stopped)
    resumed = _load(osp.join(work_dir, 'state_before_train_rank0.pth'))
    assert resumed['iter'] == 1
    _assert_same(
        _memory_buffers(resumed['buffers']),
        _memory_buffers(saved['state_dict']))
    saved_state = saved['optimizer']['state']
    resumed_state = resumed['optimizer']['state']
    assert saved_state and sorted(saved_state) == sorted(resumed_state)
    for key in saved_state:
        _assert_same(saved_state[key], resumed_state[key])
    assert osp.isfile(osp.join(work_dir, f'iter_{TRAIN_ITERS}.pth'))


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='checks the message without CUDA')
def test_amp_without_cuda_stops_clearly(tiny_config, tmp_path):
    result = run_tool(
        ['tools/train.py', tiny_config, '--amp', '--work-dir',
         str(tmp_path)],
        check=False,
        timeout=120)
    assert result.returncode != 0
    assert '--amp needs a CUDA GPU' in result.stderr
    assert not any(n.endswith('.pth') for n in os.listdir(tmp_path))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('dtype', ['float16', 'bfloat16'])
def test_amp_training_keeps_fp32_memories(tiny_config, tmp_path, dtype):
    run_tool([
        'tools/train.py', tiny_config, '--amp', '--work-dir',
        str(tmp_path), '--cfg-options', f'optim_wrapper.dtype={dtype}'
    ])
    checkpoint = _load(tmp_path / f'iter_{TRAIN_ITERS}.pth')
    memories = _memory_buffers(checkpoint['state_dict'])
    assert all(v.dtype == torch.float32 for v in memories.values()
               if v.is_floating_point())
    held = _load(tmp_path / 'state_after_train_rank0.pth')
    assert held['optimizer'].get('loss_scaler') is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_dist_train_two_processes_share_memories(tiny_config, tmp_path):
    work_dir = str(tmp_path / 'dist')
    env = multiprocess_env(2, tool_env())
    env['PORT'] = str(_free_port())
    env['OMP_NUM_THREADS'] = '1'
    result = subprocess.run([
        'bash', 'tools/dist_train.sh', tiny_config, '2', '--work-dir', work_dir
    ],
                            cwd=ROOT,
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, (
        result.stdout[-3000:] + result.stderr[-5000:])
    checkpoint = _load(osp.join(work_dir, f'iter_{TRAIN_ITERS}.pth'))
    rank0 = _load(osp.join(work_dir, 'state_after_train_rank0.pth'))
    rank1 = _load(osp.join(work_dir, 'state_after_train_rank1.pth'))
    assert rank0['iter'] == rank1['iter'] == TRAIN_ITERS
    memories = _memory_buffers(rank0['buffers'])
    _assert_same(memories, _memory_buffers(rank1['buffers']))
    _assert_same(memories, _memory_buffers(checkpoint['state_dict']))


def test_dist_train_refuses_a_bad_process_count(tiny_config):
    for count in ('0', 'two'):
        result = subprocess.run(
            ['bash', 'tools/dist_train.sh', tiny_config, count],
            cwd=ROOT,
            env=tool_env(),
            capture_output=True,
            text=True,
            timeout=60)
        assert result.returncode == 2
        assert 'GPUS must be a positive number of processes' in result.stderr
        assert f"got '{count}'" in result.stderr
