"""Test (and evaluate) a person-search model.

Runs the gallery split, then the query split (``PersonSearchTestLoop``) and
prints the search and detection metrics.

Examples:
    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --out results.pkl --show-dir vis
    python tools/test.py CONFIG CHECKPOINT --data-root /data/prw
    bash tools/dist_test.sh CONFIG CHECKPOINT 2
"""
import argparse
import os
import os.path as osp

from mmdet.engine.hooks.utils import trigger_visualization_hook
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmsearch.evaluation import DumpSearchResults
from mmsearch.registry import RUNNERS
from mmsearch.utils import (check_cfg_options, load_model_checkpoint,
                            register_all_modules, set_data_root,
                            setup_cpu_distributed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a person searcher')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument(
        '--out',
        type=str,
        help='dump the predictions (gallery and query samples) to a .pkl')
    parser.add_argument(
        '--data-root',
        help='dataset folder for every split (gallery, query), instead of '
        "the config's data_root")
    parser.add_argument(
        '--allow-partial-checkpoint',
        action='store_true',
        help='evaluate a checkpoint that does not fit the config (missing, '
        'extra or differently shaped tensors); the unmatched tensors keep '
        'their initial values, so the numbers are not meaningful')
    parser.add_argument(
        '--show', action='store_true', help='show the predictions')
    parser.add_argument(
        '--show-dir',
        help='save images with the predictions drawn into this folder '
        '(relative to work_dir/timestamp)')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, xxx=yyy pairs merged into the '
        'config')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def check_out_file(path: str) -> None:
    """Fail before testing if ``--out`` cannot be written: create its
    folder and check it is writable."""
    if not path.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out must name a .pkl file, got "{path}"')
    folder = osp.dirname(osp.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise OSError(f'--out {path}: cannot create the folder "{folder}" '
                      f'({error.strerror or error}); choose a writable '
                      'path.') from error
    if osp.isdir(path) or not os.access(folder, os.W_OK):
        raise OSError(f'--out {path}: cannot write there (a folder, or '
                      f'"{folder}" is not writable); choose a writable path.')


def build_cfg(args: argparse.Namespace) -> Config:
    """The run's config: file, command-line overrides and the checkpoint
    (loaded and checked in :func:`main`, not by the runner)."""
    for name, path in (('config', args.config), ('checkpoint',
                                                 args.checkpoint)):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{name} file "{path}" not found')
    if args.out is not None:
        check_out_file(args.out)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        check_cfg_options(cfg, args.cfg_options)
        cfg.merge_from_dict(args.cfg_options)
    if args.data_root is not None:
        set_data_root(cfg, args.data_root)
    cfg.setdefault('default_scope', 'mmsearch')
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = None
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    return cfg


def main() -> None:
    args = parse_args()
    register_all_modules()
    cfg = build_cfg(args)
    setup_cpu_distributed(cfg)
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    load_model_checkpoint(
        runner.model,
        args.checkpoint,
        strict=not args.allow_partial_checkpoint,
        partial_hint='--allow-partial-checkpoint')
    if args.out is not None:
        runner.test_evaluator.metrics.append(
            DumpSearchResults(out_file_path=args.out))
    runner.test()


if __name__ == '__main__':
    main()
