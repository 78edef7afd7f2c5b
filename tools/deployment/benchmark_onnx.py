"""Time the exported ONNX gallery model against PyTorch on the CPU.

Both run the gallery path of ``search_gallery`` (read, resize, detect,
embed) on the same generated scene images of ``--size`` (height,
width), each in its own process so that peak memory (maximum resident set
size) is measured separately; onnxruntime runs in a process that imports
neither PyTorch nor mmcv. The detections of the two are matched (IoU >=
0.99) and their scores and embeddings compared.

Without a checkpoint the initialised weights are made to detect
(:func:`mmsearch.deployment.calibration.make_detecting`, the test recipe) so
that both sides have detections to agree on.

Example::

    python tools/deployment/benchmark_onnx.py \
        configs/dcinet/dcinet_r50_cuhk.py none --size 900 1500 --images 3
"""
import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time
from typing import Optional, Sequence

import numpy as np

from mmsearch.cli import run_cli


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument(
        'checkpoint', help='checkpoint file ("none": initialised weights)')
    parser.add_argument(
        '--size',
        nargs=2,
        type=int,
        default=(900, 1500),
        metavar=('H', 'W'),
        help='image height and width (the config resizes them)')
    parser.add_argument(
        '--images',
        type=int,
        default=3,
        help='timed images (after one '
        'warm-up image)')
    parser.add_argument(
        '--threads', type=int, default=2, help='CPU threads of each side')
    parser.add_argument(
        '--no-memory-arena',
        action='store_true',
        help="turn off onnxruntime's CPU memory arena (lower peak memory)")
    parser.add_argument('--work-dir', help='keeps the export and images')
    parser.add_argument('--json', help='also write the figures to this file')
    # internal: run one side in this process
    parser.add_argument(
        '--side', choices=('torch', 'onnx'), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def peak_rss_mib() -> float:
    """Peak resident set size of this process image, MiB.

    Linux: ``VmHWM`` of /proc/self/status. ``getrusage``'s ``ru_maxrss``
    would not do: it keeps, across ``execve``, the resident size of the
    process this one was forked from (here the parent that exported the
    model with PyTorch), so the onnxruntime side read as large as the
    PyTorch side. Elsewhere ``ru_maxrss`` (KiB on Linux, bytes on macOS).
    """
    try:
        with open('/proc/self/status') as status:
            for line in status:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1024 * 1024 if sys.platform == 'darwin' else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def run_side(args: argparse.Namespace) -> None:
    """Time one side on the images of ``work_dir``; write its results."""
    image_dir = osp.join(args.work_dir, 'images')
    images = sorted(osp.join(image_dir, n) for n in os.listdir(image_dir))
    if args.side == 'onnx':
        from mmsearch.deployment.runtime import init_searcher
        searcher = init_searcher(
            osp.join(args.work_dir, 'onnx'),
            num_threads=args.threads,
            memory_arena=not args.no_memory_arena)
        detect = searcher.detect
    else:
        import torch
        torch.set_num_threads(args.threads)
        from mmsearch.apis import detect_images
        model = load_torch_model(args)

        def detect(image):
            return detect_images(model, [image])[0]

    dets, seconds, cpu_seconds = [], [], []
    for index, image in enumerate(images):
        start, cpu_start = time.perf_counter(), time.process_time()
        dets.append(detect(image))
        if index > 0:  # the first image warms up
            seconds.append(time.perf_counter() - start)
            cpu_seconds.append(time.process_time() - cpu_start)
    figures = dict(
        s_per_image=float(np.mean(seconds)),
        cpu_s_per_image=float(np.mean(cpu_seconds)),
        peak_rss_mib=peak_rss_mib(),
        detections=[len(d['scores']) for d in dets])
    np.savez(
        osp.join(args.work_dir, f'{args.side}.npz'), **{
            f'{key}_{i}': np.asarray(d[key], dtype=np.float32)
            for i, d in enumerate(dets)
            for key in ('bboxes', 'scores', 'reid_feats')
        })
    with open(osp.join(args.work_dir, f'{args.side}.json'), 'w') as f:
        json.dump(figures, f)


def load_torch_model(args: argparse.Namespace):
    """The PyTorch model of the benchmark (made to detect if untrained)."""
    import torch

    from mmsearch.apis import init_searcher
    from mmsearch.deployment.calibration import make_detecting
    from mmsearch.utils import register_all_modules
    register_all_modules()
    checkpoint = None if args.checkpoint == 'none' else args.checkpoint
    torch.manual_seed(0)  # the same initialised weights in every process
    model = init_searcher(args.config, checkpoint, device='cpu')
    if checkpoint is None:
        make_detecting(model, seed=0, size=tuple(args.size))
    return model


def match_detections(ref: dict, test: dict) -> dict:
    """Match boxes one to one (IoU >= 0.99) and compare scores/features."""
    from mmsearch.structures import match_boxes
    pairs = match_boxes(ref['bboxes'], test['bboxes'], 0.99)
    matched = len(pairs)
    score_diff = max(
        [abs(ref['scores'][i] - test['scores'][j]) for i, j in pairs],
        default=0.0)
    cosine = min([
        float(ref['reid_feats'][i] @ test['reid_feats'][j]) for i, j in pairs
    ],
                 default=1.0)
    return dict(
        ref=len(ref['scores']),
        test=len(test['scores']),
        matched=matched,
        max_score_diff=float(score_diff),
        min_cosine=cosine)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.side is not None:
        run_side(args)
        return
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='mmsearch_onnx_')
    os.makedirs(osp.join(work_dir, 'images'), exist_ok=True)
    import cv2

    from mmsearch.deployment.calibration import draw_person_scene
    from mmsearch.deployment.export import export_onnx
    for index in range(args.images + 1):
        cv2.imwrite(
            osp.join(work_dir, 'images', f'scene{index}.png'),
            draw_person_scene(*args.size, seed=index))
    args.work_dir = work_dir
    start = time.perf_counter()
    export_onnx(load_torch_model(args), osp.join(work_dir, 'onnx'))
    print(f'export: {time.perf_counter() - start:.1f} s')
    figures = {}
    for side in ('torch', 'onnx'):
        command = [
            sys.executable, __file__, args.config, args.checkpoint, '--side',
            side, '--work-dir', work_dir, '--threads',
            str(args.threads), '--size', *map(str, args.size)
        ] + (['--no-memory-arena'] if args.no_memory_arena else [])
        subprocess.run(command, check=True)
        with open(osp.join(work_dir, f'{side}.json')) as f:
            figures[side] = json.load(f)
        print(f'{side}: {figures[side]["s_per_image"]:.2f} s/image (CPU '
              f'time {figures[side].get("cpu_s_per_image", 0):.2f} s), peak '
              f'RSS {figures[side]["peak_rss_mib"]:.0f} MiB, detections '
              f'{figures[side]["detections"]}')
    arrays = {
        side: np.load(osp.join(work_dir, f'{side}.npz'))
        for side in figures
    }
    figures['agreement'] = []
    for i in range(args.images + 1):
        ref, test = ({
            key: arrays[side][f'{key}_{i}']
            for key in ('bboxes', 'scores', 'reid_feats')
        } for side in ('torch', 'onnx'))
        figures['agreement'].append(match_detections(ref, test))
    print('agreement per image:', figures['agreement'])
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(figures, f, indent=2)


if __name__ == '__main__':
    run_cli(main)
