"""tools/gpu_check.sh --device cpu --tiny: every step, end to end.

Tests, data generation, the inference benchmark of a model made to detect,
training through tools/train.py with its checks, the estimate and the JSON
summary all run at toy sizes, so none of the script is untested here (the
CUDA-only paths excepted: they are skipped without CUDA, and recorded as
such). A few minutes on a small CPU machine.
"""
import json
import subprocess

import pytest
from tool_helpers import ROOT, tool_env


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
                            timeout=900)
    assert result.returncode == 0, (
        result.stdout[-4000:] + result.stderr[-3000:])
    with open(work_dir / 'summary.json') as f:
        summary = json.load(f)
    assert summary['ok'] is True and summary['running'] is None
    assert summary['steps_done'] == [
        'tests', 'inference', 'data', 'train_fp32', 'train_fp16_amp',
        'train_bf16_amp', 'estimate'
    ]
    assert summary['environment']['device'] == 'cpu'
    # the CUDA tests are skipped here, never run on the CPU
    cuda_tests = summary['tests']['cuda']['summary']
    assert 'skipped' in cuda_tests and 'passed' not in cuda_tests
    assert 'needs 2' in summary['tests']['dist_2_gpus']['skipped']
    inference = summary['inference']
    assert set(inference) >= {'fp32', 'bf16_amp'}
    for name in ('fp32', 'bf16_amp'):
        assert inference[name]['images_per_second'] > 0
    # a model that detects: the figures include the per-person work
    assert inference['fp32']['detections_per_image'] > 0
    assert inference['bf16_amp']['amp_dtype'] == 'bfloat16'
    train = summary['train_fp32']
    assert train['ok'] and train['memory_dtypes'] == ['torch.float32']
    assert train['final_loss'] > 0 and train['iters_per_second'] > 0
    assert train['images_per_iter'] == 4
    for name in ('train_fp16_amp', 'train_bf16_amp'):
        assert 'needs CUDA' in summary[name]['skipped']
    estimate = summary['estimate']
    assert estimate['kind'] == 'estimate' and 'toy sizes' in estimate['note']
    assert estimate['fp32']['hours'] > 0
    assert 'no train_fp16_amp figures' in estimate['amp']['skipped']
    printed = result.stdout[result.stdout.index('{\n'):]
    assert summary == json.loads(printed[:printed.index('\n}\n') + 2])
    assert 'ESTIMATE (not measured)' in result.stdout
