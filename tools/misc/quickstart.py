"""Quick start: train DC-I-Net (ResNet-18) on synthetic data on the CPU.

Steps: initialise the network (seeded) and evaluate it, train it from those
exact weights, evaluate again, then search the gallery for one query and
draw the ranked matches. Prints a before / after table of mAP and top-1.

The synthetic dataset must exist (``tools/quickstart.sh`` generates it).

Example:
    python tools/misc/quickstart.py --data-root data/synthetic \
        --work-dir outputs/quickstart --iters 600
    QUICKSTART_ITERS=20 python tools/misc/quickstart.py --smoke ...
"""
import argparse
import json
import os
import os.path as osp
import time

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner, set_random_seed

from mmsearch.apis import embed_query, init_searcher, search_gallery
from mmsearch.registry import DATASETS, MODELS
from mmsearch.utils import register_all_modules
from mmsearch.visualization import draw_search_results

DEFAULT_CONFIG = 'configs/dcinet/dcinet_r18_synthetic.py'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='mmsearch quick start')
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--data-root', default='data/synthetic')
    parser.add_argument('--work-dir', default='outputs/quickstart')
    parser.add_argument(
        '--iters',
        type=int,
        default=int(os.environ.get('QUICKSTART_ITERS', 350)),
        help='training iterations (env QUICKSTART_ITERS)')
    parser.add_argument('--lr', type=float, default=0.02)
    parser.add_argument(
        '--batch-size',
        type=int,
        default=None,
        help='training batch (pairs for Siamese configs)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--smoke',
        action='store_true',
        help='CI run: few iterations, checks the pipeline, not accuracy')
    parser.add_argument(
        '--topk', type=int, default=5, help='matches drawn for the demo query')
    parser.add_argument(
        '--demo-gallery',
        type=int,
        default=50,
        help='gallery images searched by the demo query')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='extra config overrides, xxx=yyy pairs')
    return parser.parse_args()


def replace_data_root(node, data_root: str):
    """Every ``data_root`` in a config tree set to ``data_root``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'data_root':
                node[key] = data_root
            else:
                replace_data_root(value, data_root)
    elif isinstance(node, (list, tuple)):
        for value in node:
            replace_data_root(value, data_root)


def quickstart_cfg(args: argparse.Namespace) -> Config:
    """The method's config, shortened to ``args.iters`` iterations."""
    cfg = Config.fromfile(args.config)
    replace_data_root(cfg._cfg_dict, args.data_root)
    # A synthetic image holds a few persons: 50 proposals and detections.
    cfg.model.test_cfg.rpn.max_per_img = 50
    cfg.model.test_cfg.rcnn.max_per_img = 50
    iters = max(1, args.iters)
    warmup = max(1, min(50, iters // 10))
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop', max_iters=iters, val_interval=iters + 1)
    cfg.param_scheduler = [
        dict(
            type='LinearLR',
            start_factor=0.01,
            by_epoch=False,
            begin=0,
            end=warmup),
        dict(
            type='MultiStepLR',
            by_epoch=False,
            begin=0,
            end=iters,
            milestones=[max(warmup + 1, int(iters * 0.8))],
            gamma=0.1)
    ]
    cfg.optim_wrapper.optimizer.lr = args.lr
    if args.batch_size is not None:
        cfg.train_dataloader.batch_size = args.batch_size
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=iters,
        max_keep_ckpts=1)
    cfg.default_hooks.logger = dict(
        type='LoggerHook', interval=max(1, min(20, iters // 10)))
    cfg.log_processor = dict(
        type='LogProcessor', window_size=20, by_epoch=False)
    cfg.default_hooks.visualization = dict(type='DetVisualizationHook')
    cfg.work_dir = args.work_dir
    cfg.randomness = dict(seed=args.seed)
    cfg.launcher = 'none'
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def save_initial_weights(cfg: Config, path: str, seed: int) -> None:
    """Build the network, initialise it (seeded) and save its weights."""
    set_random_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save(
        dict(meta=dict(iter=0, seed=seed), state_dict=model.state_dict()),
        path)


def evaluate(cfg: Config, checkpoint: str, name: str) -> dict:
    """Test ``checkpoint`` with the config's test loop and metric."""
    cfg = cfg.copy()
    cfg.load_from = checkpoint
    cfg.resume = False
    cfg.experiment_name = name
    return Runner.from_cfg(cfg).test()


def train(cfg: Config, init_checkpoint: str) -> str:
    """Train from ``init_checkpoint``; return the last checkpoint."""
    cfg = cfg.copy()
    cfg.load_from = init_checkpoint
    cfg.resume = False
    cfg.experiment_name = 'quickstart_train'
    runner = Runner.from_cfg(cfg)
    runner.train()
    return osp.join(cfg.work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')


def metric_value(metrics: dict, key: str) -> float:
    """The first search metric named ``key`` ('mAP', 'top1'), e.g.
    ``cuhk/mAP@50`` or ``prw/mAP`` (CBGM re-ranking excluded)."""
    found = [
        v for k, v in metrics.items()
        if not k.startswith('cbgm') and k.split('/')[-1].split('@')[0] == key
    ]
    if not found:
        raise KeyError(f'no metric named {key} in {sorted(metrics)}')
    return float(found[0])


def demo(cfg: Config, checkpoint: str, out_file: str, topk: int,
         gallery_size: int) -> list:
    """Search the gallery for the first query; draw and return matches."""
    query_dataset = DATASETS.build(cfg.test_cfg.query_dataloader.dataset)
    query = query_dataset.get_data_info(0)
    _, gallery_ids = query_dataset.get_gallery_protocol(
        50) if query_dataset.metainfo.get('dataset_name') == 'cuhk_sysu' else (
            None, None)
    folder = osp.dirname(query['img_path'])
    if gallery_ids is not None:
        gallery = [osp.join(folder, name) for name in gallery_ids[0]]
    else:
        gallery = [
            osp.join(folder, name) for name in sorted(os.listdir(folder))
            if name != osp.basename(query['img_path'])
        ]
    gallery = gallery[:gallery_size]
    model = init_searcher(cfg, checkpoint)
    query_feat = embed_query(model, query['img_path'], query['query_bbox'])
    matches = search_gallery(model, query_feat, gallery, topk=topk)
    draw_search_results(query['img_path'], query['query_bbox'], matches,
                        out_file)
    return matches


def main() -> None:
    args = parse_args()
    start = time.time()
    if args.smoke:
        args.iters = min(args.iters, 20)
        args.demo_gallery = min(args.demo_gallery, 10)
    if not osp.isdir(args.data_root):
        raise FileNotFoundError(
            f'--data-root "{args.data_root}" not found: generate it with '
            'python tools/misc/make_synthetic_dataset.py --out '
            f'{args.data_root}')
    register_all_modules()
    os.makedirs(args.work_dir, exist_ok=True)
    cfg = quickstart_cfg(args)

    init_path = osp.join(args.work_dir, 'init.pth')
    print(
        f'[quickstart] 1/4 initialising {osp.basename(args.config)} '
        f'(seed {args.seed})',
        flush=True)
    save_initial_weights(cfg, init_path, args.seed)
    print('[quickstart] 2/4 evaluating the untrained network', flush=True)
    before = evaluate(cfg, init_path, 'quickstart_before')
    print(
        f'[quickstart] 3/4 training {args.iters} iterations on the CPU',
        flush=True)
    trained = train(cfg, init_path)
    print('[quickstart] 4/4 evaluating the trained network', flush=True)
    after = evaluate(cfg, trained, 'quickstart_after')

    png = osp.join(args.work_dir, 'search_result.png')
    matches = demo(cfg, trained, png, args.topk, args.demo_gallery)
    rows = [('untrained', before), ('trained', after)]
    summary = dict(
        iters=args.iters,
        checkpoint=trained,
        search_png=png,
        wall_time_s=round(time.time() - start, 1),
        **{
            f'{name}_{key}': metric_value(metrics, key)
            for name, metrics in rows
            for key in ('mAP', 'top1')
        })
    with open(osp.join(args.work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)

    print('\n[quickstart] search for query 0 (top matches):')
    for rank, match in enumerate(matches, start=1):
        print(f'  #{rank} similarity {match.similarity:.3f}  '
              f'{osp.basename(match.img_path)}  '
              f'{np.round(match.bbox).astype(int).tolist()}')
    print('\n[quickstart] person search on the synthetic test split')
    print(f'| network   | {"mAP":>6} | {"top-1":>6} |')
    print('|-----------|--------|--------|')
    for name, _ in rows:
        print(f'| {name:<9} | {summary[name + "_mAP"]:6.2%} | '
              f'{summary[name + "_top1"]:6.2%} |')
    print(f'[quickstart] ranked gallery drawn to {png}')
    print(f'[quickstart] done in {summary["wall_time_s"]:.0f} s')


if __name__ == '__main__':
    main()
