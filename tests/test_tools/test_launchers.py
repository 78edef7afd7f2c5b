"""The one torchrun launcher (tools/dist_launch.sh) and the one Slurm
launcher (tools/slurm_launch.sh), and the wrappers users call: each wrapper
launches its tool with its arguments, bad counts and missing arguments are
one-line errors (exit 2), and the GPU-count check runs before torchrun.

A recording ``python`` (``$PYTHON``) and ``srun`` (on ``PATH``) stand in
for the real ones, so nothing is trained here."""
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECORDER = '''#!/usr/bin/env bash
# records one call: its arguments, each ended by US, then RS
printf '%s\\037' "$@" >> "{log}"
printf '\\036' >> "{log}"
'''


def make_recorder(folder: Path, name: str) -> Path:
    """An executable ``folder/name`` that appends its arguments to
    ``folder/name.log``."""
    path = folder / name
    path.write_text(RECORDER.format(log=folder / f'{name}.log'))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def calls(log: Path) -> list:
    """The recorded calls, each a list of arguments."""
    if not log.exists():
        return []
    return [
        call.split('\x1f')[:-1] for call in log.read_text().split('\x1e')[:-1]
    ]


def run(args, env=None):
    return subprocess.run(
        ['bash'] + [str(a) for a in args],
        cwd=ROOT,
        env=dict(os.environ, **(env or {})),
        capture_output=True,
        text=True,
        timeout=120)


def torchrun_call(tmp_path, args):
    """The torchrun command a dist wrapper starts (after its GPU check)."""
    python = make_recorder(tmp_path, 'python')
    result = run(args, dict(PYTHON=str(python), PORT='29999'))
    assert result.returncode == 0, result.stderr
    check, torchrun = calls(tmp_path / 'python.log')
    assert check[0] == '-c' and 'check_processes_fit_gpus' in check[1]
    assert torchrun[:3] == ['-m', 'torch.distributed.run', '--nnodes=1']
    assert '--master_port=29999' in torchrun
    return torchrun


@pytest.mark.parametrize('args, nproc, script, tool_args', [
    (['tools/dist_train.sh', 'c.py', '2', '--amp'
      ], 2, 'tools/train.py', ['c.py', '--amp']),
    (['tools/dist_test.sh', 'c.py', 'w.pth', '3', '--out', 'r.pkl'
      ], 3, 'tools/test.py', ['c.py', 'w.pth', '--out', 'r.pkl']),
    ([
        'tools/index/dist_build_index.sh', 'c.py', 'w.pth', '2', 'g.idx',
        '--images', 'photos/'
    ], 2, 'tools/index/build_index.py',
     ['c.py', 'w.pth', 'g.idx', '--images', 'photos/']),
    (['tools/dist_launch.sh', '4', 'tools/train.py', 'c.py'
      ], 4, 'tools/train.py', ['c.py']),
])
def test_dist_wrappers_launch_their_tool(tmp_path, args, nproc, script,
                                         tool_args):
    torchrun = torchrun_call(tmp_path, args)
    assert f'--nproc_per_node={nproc}' in torchrun
    at = next(i for i, a in enumerate(torchrun) if a.endswith('.py'))
    assert Path(torchrun[at]).resolve() == ROOT / script
    assert torchrun[at + 1:at + 3] == ['--launcher', 'pytorch']
    assert torchrun[at + 3:] == tool_args


@pytest.mark.parametrize('args, usage, count', [
    (['tools/dist_train.sh', 'c.py', 'two'], 'CONFIG GPUS', 'two'),
    (['tools/dist_test.sh', 'c.py', 'w.pth', '0'
      ], 'CONFIG CHECKPOINT GPUS', '0'),
    (['tools/index/dist_build_index.sh', 'c.py', 'w.pth', '-1', 'g.idx'
      ], 'CONFIG CHECKPOINT GPUS INDEX', '-1'),
    (['tools/dist_launch.sh', 'x', 'tools/train.py'], 'GPUS SCRIPT', 'x'),
])
def test_dist_wrappers_refuse_a_bad_count(tmp_path, args, usage, count):
    python = make_recorder(tmp_path, 'python')
    result = run(args, dict(PYTHON=str(python)))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('usage: ')
    assert usage in lines[0]
    assert lines[0].endswith('GPUS must be a positive number of processes '
                             f"per node, got '{count}'")
    assert calls(tmp_path / 'python.log') == []  # nothing started


@pytest.mark.parametrize('args, usage', [
    (['tools/dist_train.sh', 'c.py'], 'CONFIG GPUS'),
    (['tools/dist_test.sh', 'c.py', '2'], 'CONFIG CHECKPOINT GPUS'),
    (['tools/index/dist_build_index.sh', 'c.py', 'w.pth', '2'
      ], 'CONFIG CHECKPOINT GPUS INDEX'),
    (['tools/slurm_train.sh', 'p', 'job', 'c.py'
      ], 'PARTITION JOB_NAME CONFIG WORK_DIR'),
    (['tools/slurm_test.sh', 'p', 'job', 'c.py'
      ], 'PARTITION JOB_NAME CONFIG CHECKPOINT'),
    (['tools/index/slurm_build_index.sh', 'p', 'job', 'c.py', 'w.pth'
      ], 'PARTITION JOB_NAME CONFIG CHECKPOINT INDEX'),
])
def test_wrappers_name_their_usage_when_arguments_are_missing(args, usage):
    result = run(args)
    assert result.returncode == 2
    assert result.stderr.startswith('usage: ') and usage in result.stderr


def test_dist_launch_checks_the_gpu_count_before_torchrun(tmp_path):
    """2 processes on a node that shows 1 GPU: one line, exit 2, and
    torchrun never starts (the real check, with a faked device count)."""
    site = tmp_path / 'site'
    site.mkdir()
    (site / 'sitecustomize.py'
     ).write_text('import torch\ntorch.cuda.device_count = lambda: 1\n')
    result = run(['tools/dist_train.sh', 'c.py', '2'],
                 dict(PYTHON=sys.executable, PYTHONPATH=str(site)))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith('error: 2 processes were started on this '
                               'node but only 1 CUDA device(s) are visible')
    assert 'torch.distributed' not in result.stderr


@pytest.mark.parametrize('args, script, tool_args', [
    (['tools/slurm_train.sh', 'gpu', 'job', 'c.py', 'work'
      ], 'tools/train.py', ['c.py', '--work-dir=work', '--amp']),
    (['tools/slurm_test.sh', 'gpu', 'job', 'c.py', 'w.pth'
      ], 'tools/test.py', ['c.py', 'w.pth', '--amp']),
    ([
        'tools/index/slurm_build_index.sh', 'gpu', 'job', 'c.py', 'w.pth',
        'g.idx'
    ], 'tools/index/build_index.py', ['c.py', 'w.pth', 'g.idx', '--amp']),
])
def test_slurm_wrappers_launch_their_tool(tmp_path, args, script, tool_args):
    make_recorder(tmp_path, 'srun')
    env = dict(
        PATH=f'{tmp_path}{os.pathsep}{os.environ["PATH"]}',
        GPUS='16',
        SRUN_ARGS='--time=1:00 --qos=high')
    result = run(args + ['--amp'], env)
    assert result.returncode == 0, result.stderr
    (srun, ) = calls(tmp_path / 'srun.log')
    assert srun[:2] == ['-p', 'gpu'] and '--job-name=job' in srun
    assert '--ntasks=16' in srun and '--gres=gpu:8' in srun
    assert '--time=1:00' in srun and '--qos=high' in srun
    at = srun.index('-u')
    assert Path(srun[at + 1]).resolve() == ROOT / script
    assert srun[at + 2] == '--launcher=slurm'
    assert srun[at + 3:] == tool_args


def test_slurm_launch_refuses_a_bad_count(tmp_path):
    make_recorder(tmp_path, 'srun')
    env = dict(PATH=f'{tmp_path}{os.pathsep}{os.environ["PATH"]}', GPUS='x')
    result = run(['tools/slurm_test.sh', 'gpu', 'job', 'c.py', 'w.pth'], env)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: GPUS must be a positive " \
                                    "number, got 'x'"
    assert calls(tmp_path / 'srun.log') == []
