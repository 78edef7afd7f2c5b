"""Build (or append to, or resume) a persistent gallery index.

Every person in the given images, videos or data set split is detected and
embedded once; tools/index/search_index.py then searches the index without
running the model on the gallery again. Running the same command again
resumes a killed build; new sources are appended to an existing index.

Examples:
    python tools/index/build_index.py CONFIG CHECKPOINT gallery.idx \
        --images photos/ --videos cam1.mp4 cam2.mp4 --fps 2
    python tools/index/build_index.py CONFIG CHECKPOINT gallery.idx \
        --videos cam3.mp4 --fps 2          # add a camera later
    python tools/index/build_index.py CONFIG CHECKPOINT gallery.idx \
        --dataset CONFIG --split gallery
    bash tools/index/dist_build_index.sh CONFIG CHECKPOINT 2 gallery.idx \
        --images photos/
"""
import argparse
import json
import os
from typing import Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.dist import get_dist_info

from mmsearch.apis import build_index, init_searcher
from mmsearch.cli import run_cli
from mmsearch.utils import register_all_modules, setup_cpu_distributed


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Detect and embed every person of a gallery once')
    parser.add_argument('config', help='model config file')
    parser.add_argument(
        'checkpoint', help='checkpoint file ("none": initialised weights)')
    parser.add_argument('index', help='index folder (created or appended)')
    parser.add_argument(
        '--images', nargs='+', default=[], help='image folders or files')
    parser.add_argument(
        '--no-recursive',
        action='store_true',
        help='only the images directly inside the folders')
    parser.add_argument('--videos', nargs='+', default=[], help='video files')
    parser.add_argument(
        '--dataset', help='a config whose test_dataloader.dataset is indexed')
    parser.add_argument(
        '--split', default='gallery', help='data set split of --dataset')
    step = parser.add_mutually_exclusive_group()
    step.add_argument(
        '--frame-step', type=int, help='embed every N-th video frame')
    step.add_argument(
        '--fps', type=float, help='embed about this many frames per second')
    parser.add_argument(
        '--camera',
        help='camera id of all the given sources (default: the image '
        'sub-folder, or the video name)')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.5,
        help='detections scoring below are not stored')
    parser.add_argument(
        '--batch-size', type=int, default=4, help='images per forward pass')
    parser.add_argument(
        '--feat-dtype',
        choices=['float16', 'float32'],
        help='stored feature type of a new index (default float16)')
    parser.add_argument(
        '--part-units',
        type=int,
        default=64,
        help='images / video chunks between two build checkpoints')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--report', help='also write the build report (JSON) here')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, xxx=yyy pairs')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher (one index from several processes)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if not (args.images or args.videos or args.dataset):
        parser.error('give --images, --videos and/or --dataset')
    return args


def init_dist(launcher: str, device: str) -> str:
    """Start the process group as tools/test.py does; returns the device.
    """
    if launcher == 'none':
        return device
    import torch
    from mmengine.dist import init_dist as mmengine_init_dist
    cfg = Config(dict(launcher=launcher))
    if not setup_cpu_distributed(cfg):
        if torch.cuda.is_available():
            mmengine_init_dist(launcher, backend='nccl')
            return f'cuda:{torch.cuda.current_device()}'
    return 'cpu' if not torch.cuda.is_available() else device


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    register_all_modules()
    device = init_dist(args.launcher, args.device)
    checkpoint = None if args.checkpoint.lower() == 'none' else (
        args.checkpoint)
    model = init_searcher(args.config, checkpoint, device, args.cfg_options)
    report = build_index(
        model,
        args.index,
        images=args.images,
        videos=args.videos,
        dataset=args.dataset,
        split=args.split,
        checkpoint=checkpoint,
        score_thr=args.score_thr,
        frame_step=args.frame_step,
        fps=args.fps,
        camera=args.camera,
        recursive=not args.no_recursive,
        batch_size=args.batch_size,
        feat_dtype=args.feat_dtype,
        part_units=args.part_units)
    rank, _ = get_dist_info()
    if rank != 0:
        return
    shown = dict(report)
    shown['skipped_items'] = shown['skipped_items'][:20]
    print(json.dumps(shown, indent=1))
    if len(report['skipped_items']) > 20:
        print(f'... {len(report["skipped_items"]) - 20} more skipped items '
              'in the report file')
    if args.report:
        with open(args.report, 'w', encoding='utf-8') as file:
            json.dump(report, file, indent=1)


if __name__ == '__main__':
    run_cli(main)
