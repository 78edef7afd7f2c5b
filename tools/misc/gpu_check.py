"""Check a GPU machine end to end in one call, within a fixed time budget.

Run through ``tools/gpu_check.sh`` (which picks the Python, installs the
wheels of ``.whl/`` when mmcv is missing and runs the ``setup`` step). Every
step runs in its own process group with its own timeout (``BUDGETS``; the
budget is printed before the step starts), and ``WORK_DIR/summary.json`` is
rewritten atomically after every step and before each one starts (the
running step is named), so a killed run keeps what finished. Steps:

1. ``tests``: the CUDA-only tests (``pytest -m cuda`` on ``CUDA_TEST_FILES``:
   CUDA vs CPU re-ID losses, fp16/bf16 autocast training step, prediction
   and query path, the ``--amp`` switch, AMP training through
   tools/train.py); with 2+ GPUs also the 2-process ``tools/dist_train.sh``
   test on 2 GPUs, in the same budget.
2. ``inference``: R-50 DC-I-Net whose classifiers were made to detect
   (``mmsearch.deployment.calibration.make_detecting``, as the ONNX tests do:
   random weights would detect nothing and leave out the per-person work)
   on scenes with persons at 900x1500, batch of one: images/s, detections
   per image and peak GPU memory in fp32, fp16 AMP and bf16 AMP.
3. ``data``: generated synthetic data in the CUHK-SYSU layout, 1500x900.
4. ``train_fp32``, ``train_fp16_amp``, ``train_bf16_amp``: the reference
   recipe's per-GPU batch (2 image pairs, the config's multi-scale
   resizing) through ``tools/train.py``: iterations/s (after warm-up),
   data time, peak GPU memory; every logged loss finite, the re-ID memories
   fp32 and finite, the AMP loss scale finite and in [1, 2**24].
5. ``estimate``: from those figures, an estimate (not a measurement) of the
   wall time of ``bash tools/dist_train.sh configs/dcinet/dcinet_r50_cuhk.py
   8`` on CUHK-SYSU, fp32 and with ``--amp``.

``--tiny`` runs the same steps at toy sizes (R-18 synthetic config, 128x192
images, a few iterations); with ``--device cpu`` the AMP training steps are
skipped (they need CUDA) and inference runs fp32 and bf16 autocast. The
test suite and ``tools/misc/rehearse_gpu_check.sh`` use this mode.

Example::

    python tools/misc/gpu_check.py --work-dir work_dirs/gpu_check
    python tools/misc/gpu_check.py --tiny --device cpu --work-dir /tmp/gc
"""
import argparse
import copy
import glob
import json
import math
import os
import os.path as osp
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

import torch

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
# Files holding the tests marked ``cuda`` (pytest.ini); ``-m cuda`` keeps
# only those (not, e.g., the CPU bf16 cases of test_autocast.py).
CUDA_TEST_FILES = (
    'tests/test_models/test_losses/test_reid_loss_cuda.py',
    'tests/test_models/test_detectors/test_autocast.py',
    'tests/test_utils/test_amp_and_dist.py',
    'tests/test_tools/test_train_tools.py',
)
DIST_TEST = ('tests/test_tools/test_train_tools.py::'
             'test_dist_train_two_processes_share_memories')
REFERENCE_CONFIG = 'configs/dcinet/dcinet_r50_cuhk.py'
# The steps, in order; ``--steps`` names groups of them.
STEPS = ('tests', 'inference', 'data', 'train_fp32', 'train_fp16_amp',
         'train_bf16_amp', 'estimate')
STEP_GROUPS = dict(
    tests=('tests', ),
    inference=('inference', ),
    train=('data', 'train_fp32', 'train_fp16_amp', 'train_bf16_amp'),
    estimate=('estimate', ))
# Timeouts in seconds. ``cuda``: one H100/H200-class GPU; with the setup
# step of gpu_check.sh (SETUP_BUDGET there, 60 s) they add up to 510 s, and
# gpu_check.sh stops the whole run at 540 s. ``cpu``: the toy run on a
# small shared CPU machine. The estimate is arithmetic (no budget).
BUDGETS = dict(
    cuda=dict(
        tests=120,
        inference=75,
        data=30,
        train_fp32=75,
        train_fp16_amp=75,
        train_bf16_amp=75),
    cpu=dict(
        tests=300,
        inference=300,
        data=120,
        train_fp32=420,
        train_fp16_amp=420,
        train_bf16_amp=420))
MAX_TOTAL_SECONDS = 540
AMP_DTYPES = dict(train_fp16_amp='float16', train_bf16_amp='bfloat16')
# config, image (width, height), train iterations (the first ``warmup``
# untimed), benchmark images per precision (after ``num_warmup``)
SIZES = dict(
    full=dict(
        config=REFERENCE_CONFIG,
        image_size=(1500, 900),
        iters=20,
        warmup=4,
        num_images=30,
        num_warmup=5),
    tiny=dict(
        config='configs/dcinet/dcinet_r18_synthetic.py',
        image_size=(192, 128),
        iters=3,
        warmup=1,
        num_images=2,
        num_warmup=1))
# CUHK-SYSU (Xiao et al. 2017): training images, test gallery images and
# test queries; 96,143 person boxes in 18,184 images (5.3 per image).
CUHK_SYSU = dict(
    train_images=11206,
    gallery_images=6978,
    queries=2900,
    persons_per_image=5.3)
MAX_LOSS_SCALE = 2.0**24


class Interrupted(Exception):
    """SIGTERM (e.g. from ``timeout``) arrived while a step ran."""


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 2)[2])
    parser.add_argument(
        '--work-dir',
        default='work_dirs/gpu_check',
        help='data, runs, logs and summary.json go here')
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    parser.add_argument(
        '--tiny',
        action='store_true',
        help='toy sizes: R-18 synthetic config, 128x192, 3 iterations')
    parser.add_argument(
        '--iters', type=int, help='training iterations per precision')
    parser.add_argument(
        '--tests',
        nargs='*',
        default=list(CUDA_TEST_FILES),
        help='pytest targets of the tests step, run with -m cuda '
        '(none: skip the tests)')
    parser.add_argument(
        '--steps',
        nargs='+',
        default=list(STEP_GROUPS),
        choices=list(STEP_GROUPS),
        help='step groups to run (train: data and the training runs)')
    parser.add_argument(
        '--budget',
        nargs='+',
        default=[],
        metavar='STEP=SECONDS',
        help='override step timeouts, e.g. tests=200')
    # internal: one step in a child process
    parser.add_argument(
        '--worker', choices=['inference', 'data'], help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.iters is not None and args.iters < 2:
        parser.error(f'--iters must be >= 2, got {args.iters}')
    return args


def step_budgets(device: str, overrides: Sequence[str]) -> Dict[str, float]:
    """The timeouts of the steps for ``device``, with ``STEP=SECONDS``
    overrides.

    Raises:
        ValueError: For an override that is not ``STEP=SECONDS`` with a
            known step and a positive number.
    """
    budgets = dict(BUDGETS[device])
    for item in overrides:
        name, _, value = item.partition('=')
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if name not in budgets or not seconds > 0:
            raise ValueError(
                f'--budget: expected STEP=SECONDS with STEP one of '
                f'{", ".join(budgets)} and SECONDS > 0, got {item!r}')
        budgets[name] = seconds
    return budgets


def tool_env() -> Dict[str, str]:
    """The environment of the tools: the repository importable."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (ROOT, env.get('PYTHONPATH')) if p)
    return env


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill ``proc`` and everything it started (its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run(args: List[str],
        log_path: str,
        timeout: float,
        env: Optional[Dict[str, str]] = None) -> dict:
    """Run a command from the repository root, its output in ``log_path``.

    The command gets its own process group, killed as a whole when the
    timeout passes (dataloader workers and tools started by tests
    included) or when this process is interrupted.

    Returns:
        dict: ``returncode`` (``'timeout'`` when it was killed), ``seconds``,
        ``log`` (path) and ``tail`` (the last 1,500 characters of the output
        when it failed).
    """
    start = time.perf_counter()
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            returncode = proc.wait(timeout=max(timeout, 0.1))
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            returncode = 'timeout'
        except BaseException:
            _kill_group(proc)
            raise
    result = dict(
        returncode=returncode,
        seconds=round(time.perf_counter() - start, 1),
        log=log_path)
    if returncode == 'timeout':
        result['error'] = f'killed after its budget of {timeout:.0f} s'
    if returncode != 0:
        with open(log_path, errors='replace') as log:
            result['tail'] = log.read()[-1500:]
    return result


def run_tests(targets: List[str], work_dir: str, num_gpus: int,
              budget: float) -> dict:
    """Step 1: the CUDA-only tests and, with 2+ GPUs, the 2-GPU test."""
    deadline = time.perf_counter() + budget
    results = {}
    try:
        import pytest  # noqa: F401
    except ImportError:
        return dict(
            ok=False,
            error='pytest is not importable: the tests did not run (it is '
            'among the wheels of .whl/)')
    groups = dict(cuda=['-m', 'cuda', *targets] if targets else [])
    if num_gpus >= 2:
        groups['dist_2_gpus'] = [DIST_TEST]
    else:
        results['dist_2_gpus'] = dict(
            skipped=f'{num_gpus} GPU(s): the 2-GPU run needs 2')
    for name, group in groups.items():
        if not group:
            results[name] = dict(skipped='no test targets given')
            continue
        result = run([
            sys.executable, '-m', 'pytest', '-q', '-rs', '-p',
            'no:cacheprovider', *group
        ], osp.join(work_dir, f'pytest_{name}.log'),
                     deadline - time.perf_counter(), tool_env())
        with open(result['log'], errors='replace') as log:
            lines = [line for line in log.read().splitlines() if line]
        result['summary'] = lines[-1] if lines else ''
        result['ok'] = result['returncode'] == 0
        results[name] = result
    results['ok'] = all(
        r.get('ok', True) for r in results.values() if isinstance(r, dict))
    return results


def make_data(work_dir: str, image_size) -> dict:
    """Step 3: a synthetic CUHK-SYSU-layout dataset of ``image_size`` (w, h).

    Returns:
        dict: ``data_root`` and ``num_train_images``.
    """
    from mmsearch.datasets.synthetic import (SyntheticConfig,
                                             make_synthetic_dataset)
    root = data_root(work_dir)
    config = SyntheticConfig(
        num_train_ids=8,
        num_test_ids=3,
        num_train_images=16,
        num_test_images=51,
        image_size=tuple(image_size),
        gallery_sizes=(50, ),
        seed=0)
    done = osp.join(root, 'done')
    if not osp.isfile(done):
        make_synthetic_dataset(root, config)
        open(done, 'w').close()
    return dict(
        data_root=root,
        num_train_images=config.num_train_images,
        num_person_ids=config.num_train_ids,
        image_size=list(image_size))


def data_root(work_dir: str) -> str:
    """Where the data step writes the synthetic data (with a final /)."""
    return osp.join(work_dir, 'data') + '/'


def write_config(base: str,
                 data_root: str,
                 image_size,
                 iters: int,
                 num_person_ids: int,
                 path: str,
                 train_scales: Optional[list] = None) -> str:
    """The check's config: ``base`` on the synthetic data, ``iters``
    iterations of the reference per-GPU batch.

    The training keeps the config's batch (2 image pairs), its multi-scale
    train pipeline (unless ``train_scales`` replaces its scales), frozen
    first stage and frozen BN affine parameters. Random initialisation (no
    download): the BN layers normalise with batch statistics
    (``norm_eval=False``; an untrained network's running statistics are
    the identity). The learning rate is 0.003 with gradients clipped at
    norm 10, so the iterations stay finite. Test images are resized to
    ``image_size`` (w, h).

    Args:
        base (str): Config file, relative to the repository root.
        data_root (str): The synthetic data (ending in /).
        image_size (tuple[int, int]): (width, height) of the test resize.
        iters (int): Training iterations.
        num_person_ids (int): Training identities of the data.
        path (str): Where to write the config.
        train_scales (list, optional): (width, height) scales for the
            train pipeline's ``RandomChoiceResize`` (the toy run).

    Returns:
        str: ``path``.
    """
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, base))
    model = cfg.model
    trunks = [model.backbone] + [
        model.roi_head[key] for key in ('shared_head', 'reid_shared_head')
        if model.roi_head.get(key) is not None
    ]
    for trunk in trunks:
        trunk.init_cfg = None
        trunk.norm_eval = False
    cfg.optim_wrapper.optimizer.lr = 0.003
    cfg.optim_wrapper.clip_grad = dict(max_norm=10.0)
    # the re-ID losses take it from the RoI head
    model.roi_head.num_person_ids = num_person_ids
    train_loader = cfg.train_dataloader
    train_loader.update(persistent_workers=True)
    train_loader.dataset.dataset.update(data_root=data_root)
    if train_scales is not None:
        for step in train_loader.dataset.dataset.pipeline:
            if step.type == 'RandomChoiceResize':
                step.scales = [tuple(scale) for scale in train_scales]
    resize = dict(type='Resize', scale=tuple(image_size), keep_ratio=True)
    test_pipeline = [
        dict(type='LoadImageFromFile'), resize,
        dict(type='LoadPersonSearchAnnotations', with_bbox=True),
        dict(type='PackPersonSearchInputs')
    ]
    for loader in (cfg.test_dataloader, cfg.test_cfg.get('query_dataloader')):
        if loader is not None:
            loader.update(num_workers=1, persistent_workers=False)
            loader.dataset.update(
                data_root=data_root, gallery_size=50, pipeline=test_pipeline)
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop', max_iters=iters, val_interval=10**6)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', by_epoch=False, interval=iters)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_processor = dict(by_epoch=False, window_size=1)
    cfg.dump(path)
    return path


def read_scalars(work_dir: str) -> List[dict]:
    """The per-iteration records of mmengine's ``vis_data/scalars.json``."""
    files = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        return []
    with open(files[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def check_training(work_dir: str,
                   iters: int,
                   amp: bool,
                   warmup: int = 1) -> dict:
    """Speed, peak memory, finite losses, fp32 finite memories and a sane
    loss scale of one ``tools/train.py`` run.

    Args:
        work_dir (str): The run's ``--work-dir``.
        iters (int): Iterations it should have logged.
        amp (bool): Check the loss scale of the AMP optimizer wrapper.
        warmup (int): First iterations left out of the timing.

    Returns:
        dict: ``iters_per_second``, ``seconds_per_iter``,
        ``data_seconds_per_iter``, ``peak_memory_mib`` (CUDA only),
        ``final_loss``, ``memory_dtypes``, ``loss_scale`` (AMP),
        ``problems`` and ``ok``.
    """
    problems = []
    records = [r for r in read_scalars(work_dir) if 'loss' in r]
    if len(records) < iters:
        problems.append(f'{len(records)} logged iterations, expected {iters}')
    bad = [(r.get('iter'), k, v) for r in records for k, v in r.items()
           if k.startswith('loss') and not math.isfinite(v)]
    if bad:
        problems.append(f'non-finite losses (iter, name, value): {bad[:5]}')
    timed = records[warmup:] if len(records) > warmup else records[-1:]
    seconds = [r['time'] for r in timed if 'time' in r]
    mean = sum(seconds) / len(seconds) if seconds else None
    data_times = [r['data_time'] for r in timed if 'data_time' in r]
    result = dict(
        final_loss=records[-1]['loss'] if records else None,
        timed_iters=len(seconds),
        seconds_per_iter=mean,
        iters_per_second=1.0 / mean if mean else None,
        data_seconds_per_iter=(sum(data_times) /
                               len(data_times) if data_times else None),
        # mmengine logs the CUDA peak memory (MiB); nothing on the CPU
        peak_memory_mib=max((r['memory'] for r in records if 'memory' in r),
                            default=None))
    path = osp.join(work_dir, f'iter_{iters}.pth')
    if not osp.isfile(path):
        problems.append(f'no checkpoint {path}')
    else:
        checkpoint = torch.load(path, map_location='cpu', weights_only=False)
        memories = {
            name: value
            for name, value in checkpoint['state_dict'].items()
            if '.reid_losses.' in name and value.is_floating_point()
        }
        if not memories:
            problems.append('no re-ID memory buffers in the checkpoint')
        for name, value in memories.items():
            if value.dtype != torch.float32:
                problems.append(f'memory {name} is {value.dtype}')
            elif not torch.isfinite(value).all():
                problems.append(f'memory {name} is not finite')
        result['memory_dtypes'] = sorted(
            {str(v.dtype)
             for v in memories.values()})
        if amp:
            scaler = checkpoint['optimizer'].get('loss_scaler') or {}
            scale = scaler.get('scale')
            scale = float(scale) if scale is not None else None
            result['loss_scale'] = scale
            if scale is None or not (math.isfinite(scale)
                                     and 1.0 <= scale <= MAX_LOSS_SCALE):
                problems.append(f'loss scale {scale} outside [1, 2**24]')
    result['problems'] = problems
    result['ok'] = not problems
    return result


def run_training(name: str, config: str, work_dir: str, iters: int,
                 warmup: int, device: str, budget: float) -> dict:
    """Steps 4: one precision of tools/train.py (``name`` in ``STEPS``)."""
    extra = []
    if name in AMP_DTYPES:
        extra = [
            '--amp', '--cfg-options', f'optim_wrapper.dtype={AMP_DTYPES[name]}'
        ]
    env = tool_env()
    if device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    run_dir = osp.join(work_dir, name)
    result = run([
        sys.executable, 'tools/train.py', config, '--work-dir', run_dir, *extra
    ], osp.join(work_dir, f'{name}.log'), budget, env)
    if result['returncode'] == 0:
        result.update(check_training(run_dir, iters, bool(extra), warmup))
    else:
        # a run past its budget still logged its first iterations
        partial = check_training(run_dir, iters, bool(extra), warmup)
        if partial['timed_iters']:
            result['partial'] = {
                k: v
                for k, v in partial.items() if k not in ('ok', 'problems')
            }
        result['ok'] = False
    result.update(images_per_iter=4, iters=iters, warmup_iters=warmup)
    return result


def precisions(device: str) -> Dict[str, Optional[torch.dtype]]:
    """Inference precisions: name -> autocast dtype (None: fp32)."""
    if device == 'cuda':
        return dict(fp32=None, fp16_amp=torch.float16, bf16_amp=torch.bfloat16)
    return dict(fp32=None, bf16_amp=torch.bfloat16)


def benchmark_inference(config: str,
                        device: str,
                        image_size,
                        num_images: int,
                        num_warmup: int,
                        out: Optional[str] = None) -> dict:
    """Step 2 (in a worker process): images/s, detections per image and
    peak memory of a model made to detect, per precision.

    The model is the config's, its RPN and box classifiers redrawn by
    :func:`mmsearch.deployment.calibration.make_detecting` (on the CPU, on a
    scene of ``image_size``); the images are scenes of upright persons
    (:func:`mmsearch.deployment.calibration.draw_person_scene`) of
    ``image_size`` (w, h), one per batch, as ``tools/test.py`` runs them.

    Args:
        config (str): The check's config file.
        device (str): ``cuda:N`` or ``cpu``.
        image_size (tuple[int, int]): (width, height) of the scenes.
        num_images (int): Timed images per precision.
        num_warmup (int): Untimed images first, per precision.
        out (str, optional): JSON file rewritten after every precision
            (what a killed worker leaves).

    Returns:
        dict: Per precision name (:func:`precisions`): ``images_per_second``,
        ``seconds_per_image``, ``detections_per_image``,
        ``peak_memory_mib`` (CUDA; None on the CPU), ``amp_dtype``; and
        ``ok`` (fp32 detects something; every figure finite).
    """
    from mmsearch.apis import build_test_pipeline, init_searcher
    from mmsearch.deployment.calibration import (draw_person_scene,
                                                 make_detecting)
    from mmsearch.utils import register_all_modules
    register_all_modules()
    width, height = image_size
    torch.manual_seed(0)
    model = init_searcher(config, None, 'cpu')
    make_detecting(model, size=(height, width))
    model.to(device)
    pipeline = build_test_pipeline(model.cfg, from_array=True)
    scenes = []
    for seed in range(num_warmup + num_images):
        data = pipeline(
            dict(
                img=draw_person_scene(height, width, seed + 1),
                img_id=f'scene{seed}'))
        scenes.append(
            dict(inputs=[data['inputs']], data_samples=[data['data_samples']]))
    on_cuda = device.startswith('cuda')

    def sync():
        if on_cuda:
            torch.cuda.synchronize()

    results = {}
    for name, dtype in precisions('cuda' if on_cuda else 'cpu').items():
        if on_cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        seconds, detections = [], 0
        for index, batch in enumerate(scenes):
            batch = copy.deepcopy(batch)
            sync()
            start = time.perf_counter()
            with torch.no_grad(), torch.autocast(
                    'cuda' if on_cuda else 'cpu',
                    dtype=dtype or torch.float32,
                    enabled=dtype is not None):
                outputs = model.test_step(batch)
            sync()
            if index >= num_warmup:
                seconds.append(time.perf_counter() - start)
                detections += sum(len(o.pred_instances) for o in outputs)
        total = sum(seconds)
        print(
            f'gpu_check: inference {name}: {len(seconds) / total:.3f} '
            f'images/s, {detections / len(seconds):.1f} detections per '
            'image',
            flush=True)
        results[name] = dict(
            images_per_second=len(seconds) / total,
            seconds_per_image=total / len(seconds),
            detections_per_image=detections / len(seconds),
            peak_memory_mib=(torch.cuda.max_memory_allocated() /
                             2**20 if on_cuda else None),
            amp_dtype=str(dtype).replace('torch.', '') if dtype else None,
            num_images=len(seconds))
        if out:
            write_json(out, dict(results, image_size=f'{height}x{width}'))
    figures = [
        v for r in results.values() for v in r.values()
        if isinstance(v, float)
    ]
    problems = []
    if not results['fp32']['detections_per_image'] > 0:
        problems.append('the fp32 model detected nothing: the figures would '
                        'leave out the per-person work')
    if not all(math.isfinite(v) for v in figures):
        problems.append('non-finite figures')
    results.update(
        image_size=f'{height}x{width}',
        model='random weights, classifiers made to detect (make_detecting)',
        note='a trained model finds about '
        f'{CUHK_SYSU["persons_per_image"]} persons per CUHK-SYSU image; '
        'more detections per image mean more re-ID work per image (slower)',
        problems=problems,
        ok=not problems)
    return results


def estimate_training(train: Dict[str, dict],
                      inference: Optional[dict],
                      num_gpus: int = 8,
                      config: str = REFERENCE_CONFIG) -> dict:
    """An estimate of ``dist_train.sh CONFIG 8`` on CUHK-SYSU.

    Training: ``max_epochs`` x iterations per epoch (the 11,206 training
    images, one pair per anchor, sharded over ``num_gpus`` GPUs of
    ``batch_size`` pairs) at the measured seconds per iteration of one GPU.
    Validation: every ``val_interval`` epochs, the 6,978 gallery images
    and 2,900 queries shared by the GPUs, at the measured fp32 inference
    speed. It assumes perfect scaling over the GPUs (no gradient
    all-reduce cost, no data-loading stall) and a trained model's
    detections costing what the benchmark's do: an estimate, not a
    measurement.

    Args:
        train (dict): Step results by name (``train_fp32``,
            ``train_fp16_amp``): their ``seconds_per_iter``.
        inference (dict, optional): The inference step's results
            (``fp32.images_per_second``); without, validation is left out.
        num_gpus (int): GPUs of the distributed run. Defaults to 8.
        config (str): The config whose schedule and batch are estimated.

    Returns:
        dict: ``kind`` ('estimate'), ``command``, the schedule
        (``max_epochs``, ``iters_per_epoch``, ``total_iters``,
        ``validations``), per variant (``fp32``, ``amp``) ``hours`` and
        its parts, ``assumptions``.
    """
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, config))
    pairs_per_gpu = cfg.train_dataloader.batch_size
    max_epochs = cfg.train_cfg.max_epochs
    val_interval = cfg.train_cfg.get('val_interval', max_epochs + 1)
    anchors_per_gpu = math.ceil(CUHK_SYSU['train_images'] / num_gpus)
    iters_per_epoch = math.ceil(anchors_per_gpu / pairs_per_gpu)
    total_iters = iters_per_epoch * max_epochs
    validations = max_epochs // val_interval if cfg.get('val_cfg') else 0
    val_images_per_gpu = (
        math.ceil(CUHK_SYSU['gallery_images'] / num_gpus) +
        math.ceil(CUHK_SYSU['queries'] / num_gpus))
    images_per_second = ((inference or {}).get('fp32')
                         or {}).get('images_per_second')
    val_seconds = (
        validations * val_images_per_gpu /
        images_per_second if images_per_second else None)
    result = dict(
        kind='estimate',
        command=f'bash tools/dist_train.sh {config} {num_gpus}',
        dataset='CUHK-SYSU (11,206 training images, 6,978 gallery, '
        '2,900 queries)',
        max_epochs=max_epochs,
        pairs_per_gpu=pairs_per_gpu,
        iters_per_epoch=iters_per_epoch,
        total_iters=total_iters,
        validations=validations,
        validation_hours=(val_seconds /
                          3600 if val_seconds is not None else None),
        assumptions='perfect scaling over the GPUs (no all-reduce cost, no '
        'data-loading stall), one GPU\'s measured speed per GPU, validation '
        'at the fp32 inference speed of the benchmark model; not measured')
    for variant, step in (('fp32', 'train_fp32'), ('amp', 'train_fp16_amp')):
        seconds = (train.get(step) or {}).get('seconds_per_iter')
        if not seconds:
            result[variant] = dict(skipped=f'no {step} figures')
            continue
        train_hours = total_iters * seconds / 3600
        result[variant] = dict(
            seconds_per_iter=seconds,
            train_hours=train_hours,
            hours=train_hours + (result['validation_hours'] or 0.0))
        if variant == 'amp':
            result[variant]['command'] = result['command'] + ' --amp'
    return result


def environment(device: str) -> dict:
    """Versions, devices and precision settings, for the summary."""
    import mmcv
    import mmdet
    import mmengine
    info = dict(
        python=sys.version.split()[0],
        executable=sys.executable,
        torch=torch.__version__,
        cuda=torch.version.cuda,
        mmcv=mmcv.__version__,
        mmengine=mmengine.__version__,
        mmdet=mmdet.__version__,
        device=device,
        num_gpus=torch.cuda.device_count(),
        cpu_count=os.cpu_count(),
        cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
        matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32)
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name(0)
        info['gpu_capability'] = '.'.join(
            map(str, torch.cuda.get_device_capability(0)))
        info['gpu_memory_mib'] = round(
            torch.cuda.get_device_properties(0).total_memory / 2**20)
    return info


def worker(args: argparse.Namespace) -> int:
    """Run one step in this (child) process; its result to ``args.out``."""
    sizes = SIZES['tiny' if args.tiny else 'full']
    work_dir = osp.abspath(args.work_dir)
    if args.worker == 'data':
        result = make_data(work_dir, sizes['image_size'])
    else:
        device = 'cuda:0' if args.device == 'cuda' else 'cpu'
        result = benchmark_inference(
            osp.join(work_dir,
                     'gpu_check_config.py'), device, sizes['image_size'],
            sizes['num_images'], sizes['num_warmup'], args.out)
    write_json(args.out, result)
    return 0


def run_worker(name: str, args: argparse.Namespace, work_dir: str,
               budget: float) -> dict:
    """Steps 2 and 3: this script's ``--worker`` in a child process."""
    out = osp.join(work_dir, f'{name}.json')
    if osp.exists(out):
        os.remove(out)
    command = [
        sys.executable,
        osp.abspath(__file__), '--worker', name, '--out', out, '--work-dir',
        work_dir, '--device', args.device
    ]
    if args.tiny:
        command.append('--tiny')
    env = tool_env()
    if args.device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    result = run(command, osp.join(work_dir, f'{name}.log'), budget, env)
    if result['returncode'] == 0 and osp.isfile(out):
        with open(out) as f:
            result.update(json.load(f))
        result.setdefault('ok', True)
    else:
        if osp.isfile(out):  # the precisions finished before the timeout
            with open(out) as f:
                result['partial'] = json.load(f)
        result['ok'] = False
    return result


def write_json(path: str, data: dict) -> None:
    """Write ``data`` to ``path`` atomically (a reader sees the old or the
    new file, never a part)."""
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def format_budgets(budgets: Dict[str, float],
                   steps: Sequence[str],
                   setup_budget: float,
                   skipped: Sequence[str] = ()) -> str:
    """One line per step and its timeout, and the total.

    Args:
        budgets (dict): Step name -> timeout (s).
        steps (Sequence[str]): The steps that will run, in order.
        setup_budget (float): gpu_check.sh's setup timeout.
        skipped (Sequence[str]): Steps that will be skipped (no budget).
    """
    lines = [f'  setup            {setup_budget:5.0f} s  (gpu_check.sh)']
    counted = [s for s in steps if s in budgets and s not in skipped]
    for step in steps:
        if step in counted:
            lines.append(f'  {step:<16s} {budgets[step]:5.0f} s')
        elif step in skipped:
            lines.append(f'  {step:<16s}     - (skipped: needs CUDA)')
        else:
            lines.append(f'  {step:<16s}     - (computed here)')
    total = setup_budget + sum(budgets[s] for s in counted)
    lines.append(f'  {"total":<16s} {total:5.0f} s of timeouts')
    return '\n'.join(lines)


def print_highlights(summary: dict) -> None:
    """The figures a reader looks for, one line each."""
    inference = summary.get('inference') or {}
    for name in ('fp32', 'fp16_amp', 'bf16_amp'):
        r = inference.get(name)
        if isinstance(r, dict) and 'images_per_second' in r:
            memory = r.get('peak_memory_mib')
            print(f'gpu_check: inference {name:<8s} '
                  f'{r["images_per_second"]:7.2f} images/s, '
                  f'{r["detections_per_image"]:6.1f} detections/image, peak '
                  f'memory {"-" if memory is None else f"{memory:.0f} MiB"}'
                  f' ({inference.get("image_size")})')
    for name in ('train_fp32', 'train_fp16_amp', 'train_bf16_amp'):
        r = summary.get(name) or {}
        if r.get('iters_per_second'):
            memory = r.get('peak_memory_mib')
            print(f'gpu_check: {name:<15s} {r["iters_per_second"]:6.2f} '
                  f'iterations/s (2 pairs), peak memory '
                  f'{"-" if memory is None else f"{memory:.0f} MiB"}')
    estimate = summary.get('estimate') or {}
    for variant in ('fp32', 'amp'):
        r = estimate.get(variant) or {}
        if 'hours' in r:
            print(f'gpu_check: ESTIMATE (not measured) of '
                  f'{r.get("command", estimate["command"])}: '
                  f'{r["hours"]:.1f} h on 8 such GPUs')


def run_step(step: str, args: argparse.Namespace, summary: dict,
             config: Optional[str], work_dir: str, iters: int, warmup: int,
             num_gpus: int, budget: Optional[float]) -> dict:
    """Run one of ``STEPS``; its result for the summary (``ok`` set)."""
    if step == 'tests':
        return run_tests(args.tests, work_dir, num_gpus, budget)
    if step in ('inference', 'data'):
        return run_worker(step, args, work_dir, budget)
    if step in AMP_DTYPES and args.device != 'cuda':
        return dict(skipped='AMP training needs CUDA', ok=True)
    if step.startswith('train_'):
        if not (summary.get('data') or {}).get('ok'):
            return dict(ok=False, error='no data: the data step failed')
        return run_training(step, config, work_dir, iters, warmup, args.device,
                            budget)
    result = estimate_training(
        {s: summary.get(s)
         for s in STEPS if s.startswith('train_')}, summary.get('inference'))
    if args.tiny:
        result['note'] = '--tiny: figures of the toy sizes, not of the recipe'
    result['ok'] = True
    return result


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    if args.device == 'cuda' and not torch.cuda.is_available():
        print(
            'gpu_check: no CUDA device is visible (torch '
            f'{torch.__version__}, CUDA {torch.version.cuda}); run on a GPU '
            'machine, or use --device cpu --tiny to try the steps here.',
            file=sys.stderr)
        return 2
    try:
        budgets = step_budgets(args.device, args.budget)
    except ValueError as error:
        print(f'gpu_check: {error}', file=sys.stderr)
        return 2
    start = time.perf_counter()
    sizes = SIZES['tiny' if args.tiny else 'full']
    iters = args.iters or sizes['iters']
    warmup = min(sizes['warmup'], iters - 1)
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    num_gpus = torch.cuda.device_count() if args.device == 'cuda' else 0
    steps = [
        step for step in STEPS
        if any(step in STEP_GROUPS[group] for group in args.steps)
    ]
    setup_budget = float(os.environ.get('GPU_CHECK_SETUP_BUDGET', 0))
    summary = dict(
        environment=environment(args.device),
        budgets_s=dict(
            setup=setup_budget,
            **{s: budgets[s]
               for s in steps if s in budgets}),
        sizes=dict(sizes, iters=iters, warmup=warmup))
    if os.environ.get('GPU_CHECK_SETUP'):
        summary['setup'] = dict(
            ok=True,
            seconds=float(os.environ.get('GPU_CHECK_SETUP_SECONDS', 0)),
            how=os.environ['GPU_CHECK_SETUP'])
    summary_path = osp.join(work_dir, 'summary.json')

    def save(running: Optional[str] = None) -> None:
        done = [s for s in steps if s in summary]
        summary.update(
            steps_done=done,
            running=running,
            seconds=round(time.perf_counter() - start, 1),
            ok=running is None and len(done) == len(steps)
            and all(summary[s].get('ok', True) for s in done))
        # the verdict last
        for key in ('steps_done', 'running', 'seconds', 'ok'):
            summary[key] = summary.pop(key)
        write_json(summary_path, summary)

    def on_term(signum, frame):
        raise Interrupted(f'signal {signum}')

    signal.signal(signal.SIGTERM, on_term)
    skipped = [] if args.device == 'cuda' else list(AMP_DTYPES)
    print(
        'gpu_check: steps and their budgets (timeouts):\n' +
        format_budgets(budgets, steps, setup_budget, skipped),
        flush=True)
    config = None
    if any(s not in ('tests', 'estimate') for s in steps):
        config = write_config(
            sizes['config'],
            data_root(work_dir),
            sizes['image_size'],
            iters,
            8,
            osp.join(work_dir, 'gpu_check_config.py'),
            train_scales=[sizes['image_size']] if args.tiny else None)
    current = None
    try:
        for number, step in enumerate(steps, 1):
            budget = budgets.get(step)
            what = (f'budget {budget:.0f} s'
                    if budget else 'no budget: arithmetic')
            print(
                f'gpu_check: [{number}/{len(steps)}] {step} ({what}) ...',
                flush=True)
            current, step_start = step, time.perf_counter()
            save(running=step)
            result = run_step(step, args, summary, config, work_dir, iters,
                              warmup, num_gpus, budget)
            result['budget_s'] = budget
            result.setdefault('seconds',
                              round(time.perf_counter() - step_start, 1))
            summary[step] = result
            current = None
            save()
            verdict = ('skipped' if 'skipped' in result else
                       'ok' if result.get('ok') else 'FAILED')
            print(
                f'gpu_check: [{number}/{len(steps)}] {step}: {verdict} in '
                f'{result["seconds"]:.1f} s',
                flush=True)
    except (Interrupted, KeyboardInterrupt) as error:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        reason = str(error) or type(error).__name__
        if current is not None:
            summary[current] = dict(
                ok=False,
                interrupted=f'{reason} after '
                f'{time.perf_counter() - step_start:.1f} s; the steps after '
                'it did not run',
                budget_s=budgets.get(current))
        save()
        print(
            f'gpu_check: interrupted ({reason}) during {current}; summary '
            f'in {summary_path}',
            file=sys.stderr)
        return 143 if isinstance(error, Interrupted) else 130
    save()
    print(json.dumps(summary, indent=2))
    print_highlights(summary)
    print(f'gpu_check: {"PASSED" if summary["ok"] else "FAILED"} in '
          f'{summary["seconds"]:.0f} s; summary in {summary_path}')
    return 0 if summary['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
