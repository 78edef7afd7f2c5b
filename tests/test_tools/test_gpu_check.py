"""tools/gpu_check.sh: its help, its checks, and a toy run on the CPU.

The script is meant for a CUDA machine; ``--device cpu --tiny`` runs every
step (tests, data generation, training through tools/train.py, checks,
inference through benchmark.py, the JSON summary) at toy sizes so none of
it is untested here.
"""
import json
import os
import os.path as osp
import subprocess

import pytest
import torch
from tool_helpers import ROOT, tool_env

from mmsearch.testing import load_tool_module

gpu_check = load_tool_module('tools/misc/gpu_check.py')


def test_help_says_what_runs_and_how_long():
    result = subprocess.run(['bash', 'tools/gpu_check.sh', '--help'],
                            cwd=ROOT,
                            env=tool_env(),
                            capture_output=True,
                            text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert 'minutes' in text and '900x1500' in text
    for part in ('CUDA-only tests', 'fp16 AMP', 'bf16 AMP', 'dist_train.sh',
                 'benchmark.py', 'summary.json', 'gpu-wheels'):
        assert part in text, part
    assert '--work-dir' in text  # gpu_check.py's options follow


def test_cuda_mode_without_cuda_stops_clearly(tmp_path):
    if torch.cuda.is_available():
        pytest.skip('checks the message without CUDA')
    assert gpu_check.main(['--work-dir', str(tmp_path)]) == 2
    assert not os.listdir(tmp_path)


def _write_run(work_dir, losses, memory_dtype=torch.float32, scale=None):
    """A work dir as tools/train.py leaves it: scalars.json, checkpoint."""
    vis = osp.join(work_dir, '20260101_000000', 'vis_data')
    os.makedirs(vis)
    with open(osp.join(vis, 'scalars.json'), 'w') as f:
        for it, loss in enumerate(losses, 1):
            f.write(
                json.dumps(dict(loss=loss, loss_cls=0.5, iter=it, time=0.2)) +
                '\n')
    optimizer = {} if scale is None else dict(
        loss_scaler=dict(scale=scale))
    torch.save(
        dict(
            state_dict={
                'roi_head.reid_losses.0.queue.feats':
                torch.ones(2, 2, dtype=memory_dtype),
                'backbone.conv1.weight': torch.ones(1)
            },
            optimizer=optimizer),
        osp.join(work_dir, f'iter_{len(losses)}.pth'))


def test_check_training_accepts_a_sound_run(tmp_path):
    _write_run(str(tmp_path), [1.5, 1.2], scale=512.0)
    result = gpu_check.check_training(str(tmp_path), 2, amp=True)
    assert result['ok'], result['problems']
    assert result['memory_dtypes'] == ['torch.float32']
    assert result['loss_scale'] == 512.0 and result['final_loss'] == 1.2


@pytest.mark.parametrize(
    'losses,dtype,scale,problem',
    [([1.0, float('nan')], torch.float32, 512.0, 'non-finite losses'),
     ([1.0, 0.9], torch.float16, 512.0, 'is torch.float16'),
     ([1.0, 0.9], torch.float32, float('inf'), 'loss scale'),
     ([1.0, 0.9], torch.float32, 0.5, 'loss scale'),
     ([1.0], torch.float32, 512.0, '1 logged iterations')])
def test_check_training_names_each_problem(tmp_path, losses, dtype, scale,
                                           problem):
    _write_run(str(tmp_path), losses, dtype, scale)
    result = gpu_check.check_training(str(tmp_path), 2, amp=True)
    assert not result['ok']
    assert any(problem in p for p in result['problems']), result['problems']


def test_full_size_config_is_r50_dcinet_at_900x1500(tmp_path):
    from mmengine.config import Config
    path = gpu_check.write_config(
        gpu_check.SIZES['full']['config'], str(tmp_path) + '/', (1500, 900),
        20, 8, str(tmp_path / 'cfg.py'))
    cfg = Config.fromfile(path)
    assert cfg.model.backbone.depth == 50 and cfg.model.backbone.init_cfg \
        is None
    assert cfg.model.roi_head.reid_shared_head.init_cfg is None
    assert cfg.model.roi_head.num_person_ids == 8
    resize = cfg.train_dataloader.dataset.dataset.pipeline[2]
    assert resize.type == 'Resize' and tuple(resize.scale) == (1500, 900)
    assert cfg.train_dataloader.batch_size == 2  # pairs: 4 images
    assert cfg.train_cfg.max_iters == 20


@pytest.mark.slow
def test_tiny_cpu_run_passes_every_step(tmp_path):
    work_dir = tmp_path / 'gc'
    env = tool_env()
    env['OMP_NUM_THREADS'] = '1'
    result = subprocess.run([
        'bash', 'tools/gpu_check.sh', '--device', 'cpu', '--tiny',
        '--work-dir',
        str(work_dir), '--tests',
        'tests/test_models/test_losses/test_reid_loss_cuda.py'
    ],
                            cwd=ROOT,
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    with open(work_dir / 'summary.json') as f:
        summary = json.load(f)
    assert summary['ok'] is True
    assert summary['environment']['device'] == 'cpu'
    assert 'skipped' in summary['tests']['cuda']['summary']
    assert 'needs 2' in summary['tests']['dist_2_gpus']['skipped']
    train = summary['train']['fp32']
    assert train['ok'] and train['memory_dtypes'] == ['torch.float32']
    assert train['final_loss'] > 0
    assert 'needs CUDA' in summary['train']['amp']['skipped']
    for name in ('fp32', 'amp'):
        assert summary['inference'][name]['images_per_second'] > 0
    assert summary['inference']['amp']['amp_dtype'] == 'bfloat16'
    assert summary == json.loads(
        result.stdout[result.stdout.index('{'):result.stdout.rindex('}') + 1])
