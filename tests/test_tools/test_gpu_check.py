"""tools/gpu_check.sh: its help, budgets, checks, estimate, and what a
timed-out step or a killed run leaves in summary.json.

The script is meant for a CUDA machine; its CPU mode (``--device cpu
--tiny``) runs the same steps at toy sizes. These tests stay fast: the
whole CPU run is in test_gpu_check_cpu_run.py (slow) and in
tools/misc/rehearse_gpu_check.sh.
"""
import json
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from tool_helpers import ROOT, tool_env

from mmsearch.testing import load_tool_module

gpu_check = load_tool_module('tools/misc/gpu_check.py')
SHELL = osp.join(ROOT, 'tools', 'gpu_check.sh')
# a test marked cuda, as the tests step selects them (-m cuda)
QUICK_TEST = """
import pytest


@pytest.mark.cuda
def test_quick():
    assert True
"""
# a test that hangs, with a grandchild the timeout must also end
HANGING_TEST = """
import subprocess
import time

import pytest


@pytest.mark.cuda
def test_hangs():
    child = subprocess.Popen(['sleep', '120'])
    with open({pid_file!r}, 'w') as f:
        f.write(str(child.pid))
    time.sleep(120)
"""


def _shell_setting(name):
    """An integer setting of gpu_check.sh for the CUDA mode."""
    with open(SHELL) as f:
        text = f.read()
    block = text[text.index('if [[ "$DEVICE" == cuda ]]'):]
    return int(re.search(rf'{name}=(\d+)', block).group(1))


def _test_dir(tmp_path, source):
    """A folder with one cuda-marked test file (and its pytest.ini)."""
    folder = tmp_path / 'fake_tests'
    folder.mkdir()
    (folder / 'pytest.ini').write_text('[pytest]\nmarkers =\n    cuda: test\n')
    (folder / 'test_fake.py').write_text(source)
    return str(folder / 'test_fake.py')


def _alive(pid):
    """Whether ``pid`` runs (a zombie counts as ended)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().split(') ')[-1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


def test_help_says_what_runs_and_how_long():
    result = subprocess.run(['bash', SHELL, '--help'],
                            cwd=ROOT,
                            env=tool_env(),
                            capture_output=True,
                            text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert '8 minutes' in text and '900x1500' in text
    for part in ('CUDA-only tests', 'fp16 AMP', 'bf16 AMP', 'dist_train.sh',
                 'detections per image', 'ESTIMATE', 'summary.json', '.whl/',
                 '/opt/torch/.venv/bin/python3', 'zipfile -e',
                 'Nothing is downloaded'):
        assert part in text, part
    # the help's budget table is the one the script uses
    budgets = gpu_check.BUDGETS['cuda']
    for step, seconds in budgets.items():
        assert re.search(rf'^  {step} +{seconds} s ', text, re.M), step
    setup = _shell_setting('SETUP_BUDGET')
    assert re.search(rf'^  setup +{setup} s ', text, re.M)
    total = setup + sum(budgets.values())
    assert f'add\nup to {total} s' in text or f'up to {total} s' in text
    assert '--work-dir' in text  # gpu_check.py's options follow


def test_budgets_add_up_to_at_most_nine_minutes():
    budgets = gpu_check.BUDGETS['cuda']
    # every step but the arithmetic estimate has a timeout
    assert set(budgets) == set(gpu_check.STEPS) - {'estimate'}
    assert set(gpu_check.BUDGETS['cpu']) == set(budgets)
    setup = _shell_setting('SETUP_BUDGET')
    max_total = _shell_setting('MAX_TOTAL')
    assert setup + sum(budgets.values()) <= max_total <= 540
    assert max_total == gpu_check.MAX_TOTAL_SECONDS


def test_budget_overrides_and_their_errors():
    budgets = gpu_check.step_budgets('cuda', ['tests=200', 'data=1.5'])
    assert budgets['tests'] == 200 and budgets['data'] == 1.5
    assert budgets['inference'] == gpu_check.BUDGETS['cuda']['inference']
    for bad in ('tests', 'tests=0', 'test=10', 'tests=soon'):
        with pytest.raises(ValueError, match='STEP=SECONDS'):
            gpu_check.step_budgets('cuda', [bad])


def test_cuda_mode_without_cuda_stops_clearly(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip('checks the message without CUDA')
    assert gpu_check.main(['--work-dir', str(tmp_path)]) == 2
    assert 'no CUDA device is visible' in capsys.readouterr().err
    assert not os.listdir(tmp_path)


def test_cuda_test_files_hold_every_cuda_only_test():
    """Each test skipped without CUDA is marked cuda, in a listed file."""
    needs_cuda = re.compile(r'skipif\(\s*not torch\.cuda\.is_available\(\)',
                            re.S)
    found = set()
    for folder, _, files in os.walk(osp.join(ROOT, 'tests')):
        for name in files:
            if not name.endswith('.py'):
                continue
            path = osp.join(folder, name)
            with open(path) as f:
                text = f.read()
            count = len(needs_cuda.findall(text))
            if count:
                found.add(osp.relpath(path, ROOT))
                assert text.count('pytest.mark.cuda') >= count, path
    assert found == set(gpu_check.CUDA_TEST_FILES)


def _write_run(work_dir, losses, memory_dtype=torch.float32, scale=None):
    """A work dir as tools/train.py leaves it: scalars.json, checkpoint."""
    vis = osp.join(work_dir, '20260101_000000', 'vis_data')
    os.makedirs(vis)
    with open(osp.join(vis, 'scalars.json'), 'w') as f:
        for it, loss in enumerate(losses, 1):
            f.write(
                json.dumps(
                    dict(
                        loss=loss,
                        loss_cls=0.5,
                        iter=it,
                        time=1.0 if it == 1 else 0.25,
                        data_time=0.01,
                        memory=1000 + it)) + '\n')
    optimizer = {} if scale is None else dict(loss_scaler=dict(scale=scale))
    torch.save(
        dict(
            state_dict={
                'roi_head.reid_losses.0.queue.feats':
                torch.ones(2, 2, dtype=memory_dtype),
                'backbone.conv1.weight':
                torch.ones(1)
            },
            optimizer=optimizer), osp.join(work_dir,
                                           f'iter_{len(losses)}.pth'))


def test_check_training_accepts_a_sound_run(tmp_path):
    _write_run(str(tmp_path), [1.5, 1.2, 1.1], scale=512.0)
    result = gpu_check.check_training(str(tmp_path), 3, amp=True, warmup=1)
    assert result['ok'], result['problems']
    assert result['memory_dtypes'] == ['torch.float32']
    assert result['loss_scale'] == 512.0 and result['final_loss'] == 1.1
    # the warm-up iteration (1 s) is left out of the speed
    assert result['timed_iters'] == 2
    assert result['seconds_per_iter'] == pytest.approx(0.25)
    assert result['iters_per_second'] == pytest.approx(4.0)
    assert result['peak_memory_mib'] == 1003


def test_check_training_of_a_killed_run_keeps_its_speed(tmp_path):
    _write_run(str(tmp_path), [1.5, 1.2, 1.1])
    os.remove(tmp_path / 'iter_3.pth')  # killed before its checkpoint
    result = gpu_check.check_training(str(tmp_path), 20, amp=False)
    assert not result['ok']
    assert '3 logged iterations, expected 20' in result['problems']
    assert any('no checkpoint' in p for p in result['problems'])
    assert result['timed_iters'] == 2
    assert result['iters_per_second'] == pytest.approx(4.0)


@pytest.mark.parametrize(
    'losses,dtype,scale,problem',
    [([1.0, float('nan')], torch.float32, 512.0, 'non-finite losses'),
     ([1.0, 0.9], torch.float16, 512.0, 'is torch.float16'),
     ([1.0, 0.9], torch.float32, float('inf'), 'loss scale'),
     ([1.0, 0.9], torch.float32, 0.5, 'loss scale'),
     ([1.0, 0.9], torch.float32, None, 'loss scale None'),
     ([1.0], torch.float32, 512.0, '1 logged iterations')])
def test_check_training_names_each_problem(tmp_path, losses, dtype, scale,
                                           problem):
    _write_run(str(tmp_path), losses, dtype, scale)
    result = gpu_check.check_training(str(tmp_path), 2, amp=True)
    assert not result['ok']
    assert any(problem in p for p in result['problems']), result['problems']


def test_full_size_config_is_the_reference_batch(tmp_path):
    from mmengine.config import Config
    path = gpu_check.write_config(gpu_check.SIZES['full']['config'],
                                  str(tmp_path) + '/', (1500, 900), 30, 8,
                                  str(tmp_path / 'cfg.py'))
    cfg = Config.fromfile(path)
    reference = Config.fromfile(osp.join(ROOT, gpu_check.REFERENCE_CONFIG))
    model = cfg.model
    assert model.backbone.depth == 50 and model.backbone.init_cfg is None
    assert model.roi_head.reid_shared_head.init_cfg is None
    assert model.roi_head.num_person_ids == 8
    # the recipe's per-GPU batch and multi-scale resizing, frozen layers
    assert cfg.train_dataloader.batch_size == 2  # pairs: 4 images
    assert cfg.train_dataloader.dataset.dataset.pipeline == \
        reference.train_dataloader.dataset.dataset.pipeline
    assert cfg.train_dataloader.dataset.dataset.pipeline[2].type == \
        'RandomChoiceResize'
    assert model.backbone.frozen_stages == \
        reference.model.backbone.frozen_stages
    assert model.backbone.norm_cfg.requires_grad is False
    assert model.backbone.norm_eval is False  # batch statistics
    assert cfg.train_cfg.max_iters == 30
    resize = cfg.test_dataloader.dataset.pipeline[1]
    assert tuple(resize.scale) == (1500, 900)


def test_estimate_follows_the_reference_schedule():
    from mmengine.config import Config
    reference = Config.fromfile(osp.join(ROOT, gpu_check.REFERENCE_CONFIG))
    train = dict(
        train_fp32=dict(seconds_per_iter=0.5),
        train_fp16_amp=dict(seconds_per_iter=0.25))
    inference = dict(fp32=dict(images_per_second=10.0))
    result = gpu_check.estimate_training(train, inference)
    assert result['kind'] == 'estimate' and 'not measured' in \
        result['assumptions']
    assert result['command'] == ('bash tools/dist_train.sh '
                                 'configs/dcinet/dcinet_r50_cuhk.py 8')
    epochs = reference.train_cfg.max_epochs
    assert result['max_epochs'] == epochs
    # 11,206 anchors over 8 GPUs (1,401 each), 2 pairs per GPU
    assert result['iters_per_epoch'] == 701
    assert result['total_iters'] == 701 * epochs
    validations = epochs // reference.train_cfg.val_interval
    assert result['validations'] == validations
    val_hours = validations * (873 + 363) / 10.0 / 3600
    assert result['validation_hours'] == pytest.approx(val_hours)
    assert result['fp32']['hours'] == pytest.approx(701 * epochs * 0.5 / 3600 +
                                                    val_hours)
    assert result['amp']['train_hours'] == pytest.approx(
        result['fp32']['train_hours'] / 2)
    assert result['amp']['command'].endswith(' 8 --amp')
    # without AMP figures (a CPU run) only fp32 is estimated
    partial = gpu_check.estimate_training(
        dict(train_fp32=train['train_fp32'], train_fp16_amp=None), None)
    assert 'no train_fp16_amp figures' in partial['amp']['skipped']
    assert partial['validation_hours'] is None
    assert partial['fp32']['hours'] == partial['fp32']['train_hours']


def test_summary_is_written_atomically(tmp_path):
    path = str(tmp_path / 'summary.json')
    gpu_check.write_json(path, dict(a=1))
    gpu_check.write_json(path, dict(a=2, b=[1, 2]))
    with open(path) as f:
        assert json.load(f) == dict(a=2, b=[1, 2])
    assert os.listdir(tmp_path) == ['summary.json']  # no temporary left


def test_a_step_past_its_budget_is_killed_and_the_run_goes_on(tmp_path):
    """The tests step hangs (and starts a grandchild); with a 3 s budget it
    is killed as a whole, recorded, and the next step still runs."""
    pid_file = str(tmp_path / 'grandchild.pid')
    test_file = _test_dir(tmp_path, HANGING_TEST.format(pid_file=pid_file))
    work_dir = tmp_path / 'gc'
    start = time.perf_counter()
    result = subprocess.run([
        'bash', SHELL, '--device', 'cpu', '--tiny', '--work-dir',
        str(work_dir), '--steps', 'tests', 'estimate', '--tests', test_file,
        '--budget', 'tests=3'
    ],
                            cwd=ROOT,
                            env=tool_env(),
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    out = result.stdout
    # every budget is printed before its step starts
    assert out.index('[setup] (budget 300 s)') < out.index('[setup] done')
    assert out.index('[1/2] tests (budget 3 s)') < out.index(
        '[1/2] tests: FAILED')
    assert out.index('[1/2] tests: FAILED') < out.index('[2/2] estimate')
    with open(work_dir / 'summary.json') as f:
        summary = json.load(f)
    tests = summary['tests']
    assert tests['cuda']['returncode'] == 'timeout'
    assert 'killed after its budget of 3 s' in tests['cuda']['error']
    assert tests['ok'] is False and tests['budget_s'] == 3
    assert tests['cuda']['seconds'] < 60
    assert summary['estimate']['kind'] == 'estimate'
    assert summary['steps_done'] == ['tests', 'estimate']
    assert summary['running'] is None and summary['ok'] is False
    assert summary['setup']['how'].startswith('the installed packages')
    # the step's whole process group went: the test's own child too
    with open(pid_file) as f:
        grandchild = int(f.read())
    deadline = time.time() + 10
    while _alive(grandchild) and time.time() < deadline:
        time.sleep(0.2)
    assert not _alive(grandchild)
    assert time.perf_counter() - start < 100


def test_a_killed_run_keeps_the_finished_steps(tmp_path):
    """summary.json names the running step before it starts; SIGTERM (as
    from ``timeout``) ends the step's processes and records it."""
    test_file = _test_dir(tmp_path, QUICK_TEST)
    work_dir = tmp_path / 'gc'
    summary_path = work_dir / 'summary.json'
    env = tool_env()
    env['CUDA_VISIBLE_DEVICES'] = ''
    proc = subprocess.Popen([
        sys.executable, 'tools/misc/gpu_check.py', '--device', 'cpu', '--tiny',
        '--work-dir',
        str(work_dir), '--steps', 'tests', 'inference', '--tests', test_file
    ],
                            cwd=ROOT,
                            env=env,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            text=True,
                            start_new_session=True)
    try:
        snapshot = None
        deadline = time.time() + 90
        while time.time() < deadline and proc.poll() is None:
            if summary_path.exists():
                with open(summary_path) as f:
                    snapshot = json.load(f)  # never a partial file
                if snapshot['running'] == 'inference':
                    break
            time.sleep(0.1)
        assert snapshot and snapshot['running'] == 'inference', snapshot
        # what a SIGKILL now would leave: the finished step, the running one
        assert snapshot['steps_done'] == ['tests']
        assert snapshot['tests']['ok'] is True
        assert '1 passed' in snapshot['tests']['cuda']['summary']
        assert snapshot['ok'] is False
        os.kill(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 143, output
    assert 'interrupted' in output
    with open(summary_path) as f:
        summary = json.load(f)
    assert summary['tests'] == snapshot['tests']
    assert 'signal 15' in summary['inference']['interrupted']
    assert summary['steps_done'] == ['tests', 'inference']
    assert summary['running'] is None and summary['ok'] is False
    # the inference worker was ended with the step
    workers = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmdline = f.read().decode(errors='replace')
        except OSError:
            continue
        if str(work_dir) in cmdline and '--worker' in cmdline and _alive(
                int(pid)):
            workers.append(pid)
    assert not workers
