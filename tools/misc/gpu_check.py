"""Check a GPU machine end to end; one JSON summary at the end.

Run through ``tools/gpu_check.sh`` (which installs the stack when mmcv is
missing). Steps, each recorded in the summary:

1. ``tests``: the CUDA-only tests (pytest), and, with 2+ GPUs, the
   2-process ``tools/dist_train.sh`` test on 2 GPUs (memories identical on
   both ranks afterwards).
2. ``train``: R-50 DC-I-Net (random init) on generated synthetic data at
   900x1500, ``--iters`` (20) training iterations each in fp32, fp16 AMP and
   bf16 AMP through ``tools/train.py``: every logged loss finite, every
   re-ID memory buffer fp32 and finite, the AMP loss scale finite and in
   [1, 2**24]; seconds per iteration and peak memory.
3. ``inference``: images/s and peak memory at 900x1500, fp32 and AMP
   (fp16), through ``tools/analysis_tools/benchmark.py``.

``--tiny`` runs the same steps at toy sizes (R-18 synthetic config, 128x192
images, 2 iterations); with ``--device cpu`` AMP training is skipped (it
needs CUDA) and inference "AMP" is bf16 autocast on the CPU. The CPU test
suite uses this mode so every step of the script is exercised.

Example::

    python tools/misc/gpu_check.py --work-dir work_dirs/gpu_check
    python tools/misc/gpu_check.py --tiny --device cpu --work-dir /tmp/gc
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional

import torch

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CUDA_TESTS = (
    'tests/test_models/test_losses/test_reid_loss_cuda.py',
    'tests/test_models/test_detectors/test_autocast.py',
    'tests/test_utils/test_amp_and_dist.py',
    'tests/test_tools/test_train_tools.py::test_amp_training_keeps_fp32_memories',
)
DIST_TEST = ('tests/test_tools/test_train_tools.py::'
             'test_dist_train_two_processes_share_memories')
# (config, image (width, height), train iterations, benchmark images)
SIZES = dict(
    full=dict(
        config='configs/dcinet/dcinet_r50_cuhk.py',
        image_size=(1500, 900),
        iters=20,
        num_images=20),
    tiny=dict(
        config='configs/dcinet/dcinet_r18_synthetic.py',
        image_size=(192, 128),
        iters=2,
        num_images=2))
MAX_LOSS_SCALE = 2.0**24


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 2)[2])
    parser.add_argument(
        '--work-dir',
        default='work_dirs/gpu_check',
        help='data, runs and summary.json go here')
    parser.add_argument(
        '--device', default='cuda', choices=['cuda', 'cpu'])
    parser.add_argument(
        '--tiny',
        action='store_true',
        help='toy sizes: R-18 synthetic config, 128x192, 2 iterations')
    parser.add_argument(
        '--iters', type=int, help='training iterations per precision')
    parser.add_argument(
        '--tests',
        nargs='*',
        default=list(CUDA_TESTS),
        help='pytest targets of step 1 (none: skip the tests)')
    parser.add_argument(
        '--steps',
        nargs='+',
        default=['tests', 'train', 'inference'],
        choices=['tests', 'train', 'inference'])
    return parser.parse_args(argv)


def run(args: List[str], log_path: str, timeout: float,
        env: Optional[Dict[str, str]] = None) -> dict:
    """Run a command from the repository root, its output in ``log_path``.

    Returns:
        dict: ``returncode``, ``seconds``, ``log`` (path) and ``tail`` (the
        last 1,500 characters of the output when it failed).
    """
    start = time.perf_counter()
    with open(log_path, 'w') as log:
        try:
            returncode = subprocess.run(
                args,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            returncode = 'timeout'
    result = dict(
        returncode=returncode,
        seconds=round(time.perf_counter() - start, 1),
        log=log_path)
    if returncode != 0:
        with open(log_path) as log:
            result['tail'] = log.read()[-1500:]
    return result


def tool_env() -> Dict[str, str]:
    """The environment of the tools: the repository importable."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (ROOT, env.get('PYTHONPATH')) if p)
    return env


def run_tests(targets: List[str], work_dir: str, num_gpus: int) -> dict:
    """Step 1: the CUDA-only tests and, with 2+ GPUs, the 2-GPU test."""
    results = {}
    try:
        import pytest  # noqa: F401
    except ImportError:
        return dict(ok=False, error='pytest is not installed: the tests did '
                    'not run (pip install pytest)')
    groups = dict(cuda=targets)
    if num_gpus >= 2:
        groups['dist_2_gpus'] = [DIST_TEST]
    else:
        results['dist_2_gpus'] = dict(
            skipped=f'{num_gpus} GPU(s): the 2-GPU run needs 2')
    for name, group in groups.items():
        if not group:
            continue
        result = run([
            sys.executable, '-m', 'pytest', '-q', '-rs', '-p',
            'no:cacheprovider', *group
        ], osp.join(work_dir, f'pytest_{name}.log'), 1200, tool_env())
        with open(result['log']) as log:
            lines = [line for line in log.read().splitlines() if line]
        result['summary'] = lines[-1] if lines else ''
        result['ok'] = result['returncode'] == 0
        results[name] = result
    results['ok'] = all(
        r.get('ok', True) for r in results.values() if isinstance(r, dict))
    return results


def make_data(work_dir: str, image_size) -> str:
    """A synthetic CUHK-SYSU-layout dataset of ``image_size`` (w, h)."""
    from mmsearch.datasets.synthetic import (SyntheticConfig,
                                             make_synthetic_dataset)
    root = osp.join(work_dir, 'data')
    if not osp.isfile(osp.join(root, 'done')):
        make_synthetic_dataset(
            root,
            SyntheticConfig(
                num_train_ids=8,
                num_test_ids=3,
                num_train_images=16,
                num_test_images=51,
                image_size=tuple(image_size),
                gallery_sizes=(50, ),
                seed=0))
        open(osp.join(root, 'done'), 'w').close()
    return root + '/'


def write_config(base: str, data_root: str, image_size, iters: int,
                 num_person_ids: int, path: str) -> str:
    """The check's config: ``base`` on the synthetic data, ``iters``
    iterations, fixed input size ``image_size`` (w, h).

    Random initialisation (no download): like the from-scratch synthetic
    configs, every stage trains and the BN layers use batch statistics
    (frozen BN of an untrained network would keep identity statistics).
    The learning rate is 0.003 with gradients clipped at norm 10, so 20
    iterations from scratch stay finite in fp32.
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
        trunk.norm_cfg = dict(type='BN', requires_grad=True)
        trunk.norm_eval = False
    model.backbone.frozen_stages = -1
    cfg.optim_wrapper.optimizer.lr = 0.003
    cfg.optim_wrapper.clip_grad = dict(max_norm=10.0)
    # the re-ID losses take it from the RoI head
    model.roi_head.num_person_ids = num_person_ids
    resize = dict(type='Resize', scale=tuple(image_size), keep_ratio=True)
    train_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadPersonSearchAnnotations', with_bbox=True), resize,
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackPersonSearchInputs')
    ]
    test_pipeline = [
        dict(type='LoadImageFromFile'), resize,
        dict(type='LoadPersonSearchAnnotations', with_bbox=True),
        dict(type='PackPersonSearchInputs')
    ]
    train_loader = cfg.train_dataloader
    train_loader.update(
        batch_size=2, num_workers=2, persistent_workers=False)
    train_loader.dataset.dataset.update(
        data_root=data_root, pipeline=train_pipeline)
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
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    if not files:
        return []
    with open(files[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def check_training(work_dir: str, iters: int, amp: bool) -> dict:
    """Finite losses, fp32 finite memories and a sane loss scale."""
    problems = []
    records = [r for r in read_scalars(work_dir) if 'loss' in r]
    if len(records) < iters:
        problems.append(f'{len(records)} logged iterations, expected {iters}')
    bad = [(r.get('iter'), k, v) for r in records for k, v in r.items()
           if k.startswith('loss') and not math.isfinite(v)]
    if bad:
        problems.append(f'non-finite losses (iter, name, value): {bad[:5]}')
    result = dict(
        final_loss=records[-1]['loss'] if records else None,
        seconds_per_iter=(sum(r.get('time', 0) for r in records[1:]) /
                          max(len(records) - 1, 1)),
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


def run_training(config: str, work_dir: str, iters: int,
                 device: str) -> dict:
    """Step 2: fp32, fp16 AMP and bf16 AMP runs of tools/train.py."""
    precisions = dict(fp32=[])
    if device == 'cuda':
        precisions['fp16_amp'] = [
            '--amp', '--cfg-options', 'optim_wrapper.dtype=float16'
        ]
        precisions['bf16_amp'] = [
            '--amp', '--cfg-options', 'optim_wrapper.dtype=bfloat16'
        ]
    results = {}
    env = tool_env()
    if device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    for name, extra in precisions.items():
        run_dir = osp.join(work_dir, f'train_{name}')
        result = run([
            sys.executable, 'tools/train.py', config, '--work-dir', run_dir,
            *extra
        ], osp.join(work_dir, f'train_{name}.log'), 900, env)
        if result['returncode'] == 0:
            result.update(check_training(run_dir, iters, bool(extra)))
        else:
            result['ok'] = False
        results[name] = result
    if device != 'cuda':
        results['amp'] = dict(skipped='AMP training needs CUDA')
    results['ok'] = all(
        r.get('ok', True) for r in results.values() if isinstance(r, dict))
    return results


def run_inference(config: str, work_dir: str, image_size, num_images: int,
                  device: str) -> dict:
    """Step 3: images/s and peak memory, fp32 and AMP, via benchmark.py."""
    results = {}
    width, height = image_size
    env = tool_env()
    for name, extra in (('fp32', []), ('amp', ['--amp'])):
        out = osp.join(work_dir, f'benchmark_{name}.json')
        result = run([
            sys.executable, 'tools/analysis_tools/benchmark.py', config,
            '--shape',
            str(height),
            str(width), '--num-images',
            str(num_images), '--device',
            'cuda:0' if device == 'cuda' else 'cpu', '--out', out, *extra
        ], osp.join(work_dir, f'benchmark_{name}.log'), 900, env)
        result['ok'] = result['returncode'] == 0 and osp.isfile(out)
        if result['ok']:
            with open(out) as f:
                figures = json.load(f)
            result.update(
                images_per_second=figures['images_per_second'],
                peak_memory_mib=figures['peak_memory_mib'],
                amp_dtype=('float16' if device == 'cuda' else 'bfloat16')
                if extra else None)
        results[name] = result
    results['ok'] = all(r['ok'] for r in results.values())
    return results


def environment(device: str) -> dict:
    """Versions and devices, for the summary."""
    import mmcv
    import mmdet
    import mmengine
    info = dict(
        python=sys.version.split()[0],
        torch=torch.__version__,
        cuda=torch.version.cuda,
        mmcv=mmcv.__version__,
        mmengine=mmengine.__version__,
        mmdet=mmdet.__version__,
        device=device,
        num_gpus=torch.cuda.device_count())
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name(0)
    return info


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        print('gpu_check: no CUDA device is visible (torch '
              f'{torch.__version__}, CUDA {torch.version.cuda}); run on a GPU '
              'machine, or use --device cpu --tiny to try the steps here.',
              file=sys.stderr)
        return 2
    start = time.perf_counter()
    sizes = SIZES['tiny' if args.tiny else 'full']
    iters = args.iters or sizes['iters']
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    num_gpus = torch.cuda.device_count() if args.device == 'cuda' else 0
    summary = dict(environment=environment(args.device))

    def save():
        ok = all(summary.get(step, {}).get('ok', False) for step in args.steps)
        # time and verdict last, after the steps
        summary.pop('seconds', None)
        summary.pop('ok', None)
        summary['seconds'] = round(time.perf_counter() - start, 1)
        summary['ok'] = ok
        with open(osp.join(work_dir, 'summary.json'), 'w') as f:
            json.dump(summary, f, indent=2)

    if 'tests' in args.steps:
        print('gpu_check: CUDA-only tests ...', flush=True)
        summary['tests'] = run_tests(args.tests, work_dir, num_gpus)
        save()
    config = None
    if 'train' in args.steps or 'inference' in args.steps:
        data_root = make_data(work_dir, sizes['image_size'])
        config = write_config(sizes['config'], data_root,
                              sizes['image_size'], iters, 8,
                              osp.join(work_dir, 'gpu_check_config.py'))
    if 'train' in args.steps:
        print(f'gpu_check: training {iters} iterations per precision ...',
              flush=True)
        summary['train'] = run_training(config, work_dir, iters, args.device)
        save()
    if 'inference' in args.steps:
        print('gpu_check: inference speed ...', flush=True)
        summary['inference'] = run_inference(config, work_dir,
                                             sizes['image_size'],
                                             sizes['num_images'], args.device)
    save()
    print(json.dumps(summary, indent=2))
    print(f'gpu_check: {"PASSED" if summary["ok"] else "FAILED"}; summary in '
          f'{osp.join(work_dir, "summary.json")}')
    return 0 if summary['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
