"""Compare person-search methods under one training budget.

Trains every config x seed on the same data with the same schedule
(iterations, learning rate, warm-up and step), validates every
``--eval-interval`` iterations for the learning curve, and tests the last
checkpoint (never the best one: the synthetic splits have no separate
validation set). Then writes, in ``--results-dir``:

- ``<name>__seed<k>.json`` per finished run: the final metrics, the
  per-query AP and top-1 hits of the first gallery size, the learning
  curve and the settings;
- ``report.md`` / ``report.json``: per method, mean +- standard deviation
  over seeds of mAP and top-1 at each gallery size, detection AP and
  recall, a 95 % bootstrap interval over queries of the seed-averaged mAP
  and top-1, and the paired bootstrap difference to the first method;
- ``map_vs_iters.png``: mAP against training iterations per method.

The study resumes where it stopped: finished runs are skipped, and a run
that was interrupted continues from its last checkpoint (every
``--checkpoint-interval`` iterations). Runs go seed by seed (every config
with seed 0, then seed 1, ...), so an interrupted study still compares the
methods on equal seeds. The settings are kept in ``study.json``; resuming
with other settings is refused.

Every config gets ``--data-root`` for all its datasets and
``model.roi_head.num_person_ids`` = the number of labelled training
identities found there.

With ``--pretrain-iters N`` every run starts from one shared detector
(the stand-in for the ImageNet weights that real person-search models start
from, which cannot be had offline): ``--pretrain-config`` is trained once
for N iterations with its re-ID losses weighted 0 (detection only, same
data and learning-rate recipe), and its trunk, RPN, RoI module and box head
initialise every run. A separate retrieval module (DC-I-Net's
``reid_shared_head``) gets a copy of the RoI module, as both start from the
same ImageNet res5 in the real configs; the embedding head and the re-ID
memories start fresh from each run's seed.

Example (the method study of docs/en/method_study.md)::

    python tools/misc/make_synthetic_dataset.py data/synthetic_bench \\
        --preset benchmark
    python tools/analysis_tools/compare_methods.py \\
        configs/oim/oim_r18_synthetic.py configs/inet/inet_r18_synthetic.py \\
        configs/dcinet/dcinet_r18_synthetic.py \\
        --data-root data/synthetic_bench --seeds 0 1 2 --pretrain-iters 600

    # only rebuild the report and plot from the finished runs
    python tools/analysis_tools/compare_methods.py CONFIGS ... \\
        --data-root data/synthetic_bench --report-only
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import shutil
import sys
import time
from typing import Dict, List, Optional, Sequence

import matplotlib
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmsearch.engine.person_id_check_hook import count_train_identities
from mmsearch.evaluation import bootstrap_mean_ci, paired_bootstrap_diff_ci
from mmsearch.registry import DATASETS
from mmsearch.utils import register_all_modules, set_data_root

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

# Settings that must be the same for every run of a study.
SHARED_SETTINGS = ('data_root', 'iters', 'eval_interval', 'lr', 'batch_size',
                   'gallery_sizes', 'cfg_options', 'pretrain')
# Parameters of the shared detector that initialise every run (prefixes of
# the state dict); the re-ID embedding head and memories are left out.
DETECTOR_PREFIXES = ('backbone.', 'neck.', 'rpn_head.',
                     'roi_head.bbox_roi_extractor.', 'roi_head.shared_head.',
                     'roi_head.bbox_head.')


class UserError(Exception):
    """A wrong argument or file: reported as one line, exit status 2."""


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train and test configs x seeds with one schedule and '
        'compare them (mAP, top-1, detection; bootstrap intervals).')
    parser.add_argument('configs', nargs='+', help='config files')
    parser.add_argument(
        '--names',
        nargs='+',
        help='a short name per config (default: the file names)')
    parser.add_argument(
        '--data-root',
        required=True,
        help='dataset folder (CUHK-SYSU raw layout), e.g. a '
        'make_synthetic_dataset.py --preset benchmark output')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument(
        '--work-dir',
        default='outputs/method_study',
        help='checkpoints and logs of every run')
    parser.add_argument(
        '--results-dir',
        help='results, report and plot (default: WORK_DIR/results)')
    parser.add_argument(
        '--iters', type=int, default=600, help='training iterations')
    parser.add_argument(
        '--eval-interval',
        type=int,
        help='validate every N iterations for the learning curve '
        '(default: iters / 3)')
    parser.add_argument(
        '--checkpoint-interval',
        type=int,
        default=50,
        help='save a checkpoint to resume from every N iterations')
    parser.add_argument('--lr', type=float, default=0.02)
    parser.add_argument(
        '--batch-size',
        type=int,
        help='training batch per iteration (pairs for Siamese configs; '
        'default: the configs\' own)')
    parser.add_argument(
        '--gallery-sizes',
        type=int,
        nargs='+',
        default=[100, 50],
        help='CUHK-SYSU gallery sizes; the first gets the bootstrap '
        'intervals and the curve')
    parser.add_argument(
        '--bootstrap',
        type=int,
        default=2000,
        help='bootstrap resamples of the queries')
    parser.add_argument(
        '--pretrain-iters',
        type=int,
        default=0,
        help='train a shared detector for N iterations first and start every '
        'run from it (0: every run starts from scratch)')
    parser.add_argument(
        '--pretrain-config',
        default='configs/oim/oim_r18_synthetic.py',
        help='config of the shared detector (its re-ID losses get weight 0)')
    parser.add_argument(
        '--report-only',
        action='store_true',
        help='train nothing: write the report from the finished runs')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides applied to every config, xxx=yyy pairs')
    args = parser.parse_args(argv)
    if args.names is None:
        args.names = [
            osp.splitext(osp.basename(path))[0] for path in args.configs
        ]
    if len(args.names) != len(args.configs):
        parser.error(f'--names: expected {len(args.configs)} names (one per '
                     f'config), got {len(args.names)}.')
    if len(set(args.names)) != len(args.names):
        parser.error(f'--names must be distinct, got {args.names}.')
    if args.eval_interval is None:
        args.eval_interval = max(1, args.iters // 3)
    for flag in ('iters', 'eval_interval', 'checkpoint_interval', 'bootstrap'):
        if getattr(args, flag) < 1:
            parser.error(f'--{flag.replace("_", "-")} must be >= 1.')
    if args.pretrain_iters < 0:
        parser.error('--pretrain-iters must be >= 0.')
    if args.results_dir is None:
        args.results_dir = osp.join(args.work_dir, 'results')
    return args


# ----------------------------------------------------------------- settings
def config_digest(path: str) -> str:
    """sha1 (12 hex digits) of a config as parsed, bases included (of its
    values, not of a formatted text: the same whatever formatter is
    installed)."""
    values = json.dumps(
        Config.fromfile(path).to_dict(), sort_keys=True, default=repr)
    return hashlib.sha1(values.encode()).hexdigest()[:12]


def study_settings(args: argparse.Namespace) -> dict:
    """What a study's runs share, and each method's config and digest."""
    for path in args.configs + [args.pretrain_config]:
        if not osp.isfile(path):
            raise UserError(f'config file {path} not found.')
    pretrain = None
    if args.pretrain_iters:
        pretrain = dict(
            config=args.pretrain_config,
            digest=config_digest(args.pretrain_config),
            iters=args.pretrain_iters)
    return dict(
        data_root=osp.normpath(args.data_root),
        iters=args.iters,
        eval_interval=args.eval_interval,
        lr=args.lr,
        batch_size=args.batch_size,
        gallery_sizes=list(args.gallery_sizes),
        cfg_options=dict(args.cfg_options or {}),
        pretrain=pretrain,
        methods={
            name: dict(config=path, digest=config_digest(path))
            for name, path in zip(args.names, args.configs)
        })


def check_or_save_settings(settings: dict, results_dir: str) -> dict:
    """Keep a study's settings in ``study.json``; refuse different ones.

    Methods may be added to a study; a method already in it must keep its
    config (same file, same parsed content).

    Returns:
        dict: The stored settings, merged with new methods.

    Raises:
        UserError: A shared setting or a method's config differs.
    """
    path = osp.join(results_dir, 'study.json')
    if osp.isfile(path):
        with open(path) as f:
            stored = json.load(f)
        changed = [
            f'{key}: {stored.get(key)!r} -> {settings[key]!r}'
            for key in SHARED_SETTINGS if stored.get(key) != settings[key]
        ]
        for name, method in settings['methods'].items():
            old = stored['methods'].get(name)
            if old is not None and old != method:
                changed.append(f'method {name}: {old} -> {method}')
        if changed:
            raise UserError(
                f'{path} holds a study with other settings (' +
                '; '.join(changed) + '): use another --results-dir (and '
                '--work-dir) for a new study, or the same settings to '
                'resume this one.')
        stored['methods'].update(settings['methods'])
        settings = stored
    os.makedirs(results_dir, exist_ok=True)
    write_json(path, settings)
    return settings


def write_json(path: str, data) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


# --------------------------------------------------------------------- runs
class StudyRecorder(Hook):
    """Append each validation's metrics to the run's learning curve and
    keep the ranking file of the validation after the last iteration.

    Args:
        curve_file (str): JSON-lines file, one ``{"iter", "metrics"}`` per
            validation (kept across resumed segments).
        ranking_file (str): Where the metric writes its ranking file.
        final_ranking_file (str): Copy of it after the last iteration.
        max_iters (int): The last iteration.
    """
    priority = 'LOW'

    def __init__(self, curve_file: str, ranking_file: str,
                 final_ranking_file: str, max_iters: int) -> None:
        self.curve_file = curve_file
        self.ranking_file = ranking_file
        self.final_ranking_file = final_ranking_file
        self.max_iters = max_iters

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        record = dict(
            iter=runner.iter,
            metrics={k: float(v)
                     for k, v in (metrics or {}).items()})
        with open(self.curve_file, 'a') as f:
            f.write(json.dumps(record) + '\n')
        if runner.iter == self.max_iters and osp.isfile(self.ranking_file):
            shutil.copyfile(self.ranking_file, self.final_ranking_file)


def read_curve(curve_file: str) -> List[dict]:
    """The validations of a run, one per iteration (the last written wins),
    by iteration."""
    points: Dict[int, dict] = {}
    if osp.isfile(curve_file):
        with open(curve_file) as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    points[record['iter']] = record
    return [points[i] for i in sorted(points)]


def run_cfg(path: str,
            seed: int,
            run_dir: str,
            settings: dict,
            num_person_ids: int,
            iters: Optional[int] = None) -> Config:
    """The config of one run: the study's data, schedule and evaluation
    (``iters``: another number of iterations than the study's)."""
    cfg = Config.fromfile(path)
    set_data_root(cfg, settings['data_root'])
    cfg.model.roi_head.num_person_ids = num_person_ids
    iters, lr = iters or settings['iters'], settings['lr']
    warmup = max(1, min(50, iters // 10))
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop',
        max_iters=iters,
        val_interval=settings['eval_interval'])
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
    cfg.optim_wrapper.optimizer.lr = lr
    if settings['batch_size'] is not None:
        cfg.train_dataloader.batch_size = settings['batch_size']
    ranking = osp.join(run_dir, 'ranking.json')
    for key in ('val_evaluator', 'test_evaluator'):
        cfg[key].gallery_sizes = tuple(settings['gallery_sizes'])
        cfg[key].ranking_file = ranking
        cfg[key].ranking_topk = 10
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=settings.get('checkpoint_interval', 50),
        max_keep_ckpts=1,
        save_last=True)
    cfg.default_hooks.logger = dict(
        type='LoggerHook', interval=20, log_metric_by_epoch=False)
    cfg.log_processor = dict(
        type='LogProcessor', window_size=20, by_epoch=False)
    cfg.work_dir = run_dir
    cfg.experiment_name = f'{osp.basename(osp.dirname(run_dir))}_' \
        f'{osp.basename(run_dir)}'
    cfg.visualizer.name = cfg.experiment_name  # one visualizer per runner
    cfg.randomness = dict(seed=seed)
    cfg.launcher = 'none'
    if settings['cfg_options']:
        cfg.merge_from_dict(settings['cfg_options'])
    return cfg


def file_digest(path: str) -> str:
    """sha1 (12 hex digits) of a file's bytes."""
    digest = hashlib.sha1()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()[:12]


def pretrain_detector(settings: dict, work_dir: str,
                      num_person_ids: int) -> str:
    """Train the study's shared detector once (resuming an interrupted
    training) and write the weights that start every run.

    Returns:
        str: ``WORK_DIR/pretrain/detector_init.pth``: the
        :data:`DETECTOR_PREFIXES` parameters, and a copy of the RoI module
        as ``roi_head.reid_shared_head`` for configs with a separate
        retrieval module.
    """
    pretrain = settings['pretrain']
    run_dir = osp.join(work_dir, 'pretrain')
    out = osp.join(run_dir, 'detector_init.pth')
    if osp.isfile(out):
        return out
    os.makedirs(run_dir, exist_ok=True)
    print(
        f'[compare_methods] pre-training the shared detector '
        f'({pretrain["config"]}, detection losses only, '
        f'{pretrain["iters"]} iterations)',
        flush=True)
    cfg = run_cfg(pretrain['config'], 0, run_dir, settings, num_person_ids,
                  pretrain['iters'])
    for loss in cfg.model.roi_head.reid_losses:
        loss['loss_weight'] = 0.0
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_cfg.pop('val_interval')
    cfg.resume = osp.isfile(osp.join(run_dir, 'last_checkpoint'))
    cfg.load_from = None
    Runner.from_cfg(cfg).train()
    state = torch.load(
        osp.join(run_dir, f'iter_{pretrain["iters"]}.pth'),
        map_location='cpu',
        weights_only=False)['state_dict']  # written just now, by us
    detector = {
        key: value
        for key, value in state.items() if key.startswith(DETECTOR_PREFIXES)
    }
    module = 'roi_head.shared_head.'
    detector.update({
        'roi_head.reid_shared_head.' + key[len(module):]: value.clone()
        for key, value in state.items() if key.startswith(module)
    })
    tmp = f'{out}.tmp'
    torch.save(dict(meta=dict(pretrain=pretrain), state_dict=detector), tmp)
    os.replace(tmp, out)
    return out


def per_query_values(ranking_file: str) -> dict:
    """Per-query AP and top-1 hit from a metric's ranking file, by
    ``query_index``."""
    with open(ranking_file) as f:
        ranking = json.load(f)
    queries = sorted(ranking['queries'], key=lambda q: q['query_index'])
    return dict(
        gallery=ranking.get('gallery'),
        query_index=[q['query_index'] for q in queries],
        ap=[q['ap'] for q in queries],
        top1=[
            bool(q['ranked'] and q['ranked'][0]['is_positive'])
            for q in queries
        ])


def train_and_test(name: str, path: str, seed: int, settings: dict,
                   work_dir: str, num_person_ids: int,
                   init_checkpoint: Optional[str]) -> dict:
    """Train one run (resuming its last checkpoint, else starting from
    ``init_checkpoint`` if given), test its last iteration and return its
    result record."""
    run_dir = osp.join(work_dir, name, f'seed{seed}')
    os.makedirs(run_dir, exist_ok=True)
    cfg = run_cfg(path, seed, run_dir, settings, num_person_ids)
    iters = settings['iters']
    resumed = osp.isfile(osp.join(run_dir, 'last_checkpoint'))
    cfg.resume = resumed
    cfg.load_from = None if resumed else init_checkpoint
    curve_file = osp.join(run_dir, 'curve.jsonl')
    final_ranking = osp.join(run_dir, 'ranking_final.json')
    segment_start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.register_hook(
        StudyRecorder(curve_file, cfg.val_evaluator.ranking_file,
                      final_ranking, iters))
    runner.train()
    segments_file = osp.join(run_dir, 'segments.jsonl')
    with open(segments_file, 'a') as f:
        f.write(
            json.dumps(
                dict(
                    wall_s=round(time.time() - segment_start, 1),
                    resumed=resumed)) + '\n')
    checkpoint = osp.join(run_dir, f'iter_{iters}.pth')
    curve = read_curve(curve_file)
    if not osp.isfile(final_ranking) or not curve or curve[-1]['iter'] != \
            iters:
        # resumed after the last iteration, before its validation ended
        test_cfg = cfg.copy()
        test_cfg.resume = False
        test_cfg.load_from = checkpoint
        test_cfg.experiment_name = f'{name}_seed{seed}_test'
        test_cfg.visualizer.name = test_cfg.experiment_name
        metrics = Runner.from_cfg(test_cfg).test()
        shutil.copyfile(test_cfg.test_evaluator.ranking_file, final_ranking)
        with open(curve_file, 'a') as f:
            f.write(
                json.dumps(
                    dict(
                        iter=iters,
                        metrics={k: float(v)
                                 for k, v in metrics.items()})) + '\n')
        curve = read_curve(curve_file)
    with open(segments_file) as f:
        segments = [json.loads(line) for line in f if line.strip()]
    return dict(
        name=name,
        config=path,
        seed=seed,
        settings={k: settings[k]
                  for k in SHARED_SETTINGS},
        num_person_ids=num_person_ids,
        init_checkpoint=None if init_checkpoint is None else dict(
            path=init_checkpoint, sha1=file_digest(init_checkpoint)),
        checkpoint=checkpoint,
        metrics=curve[-1]['metrics'],
        per_query=per_query_values(final_ranking),
        curve=curve,
        wall_s=round(sum(s['wall_s'] for s in segments), 1),
        segments=len(segments))


def result_path(results_dir: str, name: str, seed: int) -> str:
    return osp.join(results_dir, f'{name}__seed{seed}.json')


def run_study(args: argparse.Namespace, settings: dict) -> None:
    """Train and test every missing run, seed by seed."""
    todo = [(seed, name) for seed in args.seeds for name in args.names
            if not osp.isfile(result_path(args.results_dir, name, seed))]
    done = len(args.seeds) * len(args.names) - len(todo)
    print(
        f'[compare_methods] {done} runs finished, {len(todo)} to go',
        flush=True)
    if not todo:
        return
    probe = Config.fromfile(settings['methods'][todo[0][1]]['config'])
    set_data_root(probe, settings['data_root'])
    num_person_ids = count_train_identities(
        DATASETS.build(probe.train_dataloader.dataset))
    if num_person_ids < 1:
        raise UserError(f'--data-root {settings["data_root"]}: the training '
                        'split has no labelled identity.')
    init_checkpoint = None
    if settings['pretrain']:
        init_checkpoint = pretrain_detector(settings, args.work_dir,
                                            num_person_ids)
    for index, (seed, name) in enumerate(todo, start=1):
        print(
            f'[compare_methods] run {index}/{len(todo)}: {name} seed {seed}',
            flush=True)
        result = train_and_test(name, settings['methods'][name]['config'],
                                seed, settings, args.work_dir, num_person_ids,
                                init_checkpoint)
        write_json(result_path(args.results_dir, name, seed), result)
        key = metric_key(result['metrics'], 'mAP', settings['gallery_sizes'])
        print(
            f'[compare_methods] {name} seed {seed}: {key} '
            f'{result["metrics"][key]:.4f} ({result["wall_s"]:.0f} s)',
            flush=True)


# ------------------------------------------------------------------- report
def metric_key(metrics: dict,
               measure: str,
               gallery_sizes: Sequence[int],
               index: int = 0) -> str:
    """The key of ``measure`` at the ``index``-th gallery size."""
    key = f'cuhk/{measure}@{gallery_sizes[index]}'
    if key not in metrics:
        raise KeyError(f'no {key} among the metrics {sorted(metrics)}')
    return key


def load_results(results_dir: str, names: Sequence[str],
                 seeds: Sequence[int]) -> Dict[str, List[dict]]:
    """The finished runs per method name, by seed."""
    results = {}
    for name in names:
        runs = []
        for seed in seeds:
            path = result_path(results_dir, name, seed)
            if osp.isfile(path):
                with open(path) as f:
                    runs.append(json.load(f))
        results[name] = runs
    return results


def summarise(results: Dict[str, List[dict]], gallery_sizes: Sequence[int],
              num_samples: int) -> List[dict]:
    """One row per method with finished runs: means, standard deviations
    over seeds, bootstrap intervals and the paired difference to the first
    method with runs."""
    rows, baseline = [], None
    for name, runs in results.items():
        if not runs:
            continue
        row = dict(name=name, seeds=[r['seed'] for r in runs])
        for index, size in enumerate(gallery_sizes):
            for measure in ('mAP', 'top1'):
                key = metric_key(runs[0]['metrics'], measure, gallery_sizes,
                                 index)
                values = np.array([r['metrics'][key] for r in runs])
                row[key] = (float(values.mean()), float(values.std(
                    ddof=1)) if len(values) > 1 else float('nan'))
        for key in ('det/AP', 'det/recall'):
            values = np.array([r['metrics'][key] for r in runs])
            row[key] = (float(values.mean()), float(values.std(
                ddof=1)) if len(values) > 1 else float('nan'))
        ap = np.array([r['per_query']['ap'] for r in runs])
        top1 = np.array([r['per_query']['top1'] for r in runs], np.float64)
        row['queries'] = ap.shape[1]
        row['mAP_ci'] = bootstrap_mean_ci(ap, num_samples)
        row['top1_ci'] = bootstrap_mean_ci(top1, num_samples)
        if baseline is None:
            baseline = (name, ap, top1)
        else:
            row['vs'] = baseline[0]
            row['mAP_diff'] = paired_bootstrap_diff_ci(ap, baseline[1],
                                                       num_samples)
            row['top1_diff'] = paired_bootstrap_diff_ci(
                top1, baseline[2], num_samples)
        row['wall_s'] = float(np.mean([r['wall_s'] for r in runs]))
        rows.append(row)
    return rows


def _pm(value: tuple) -> str:
    mean, std = value
    return f'{100 * mean:.1f}' + (''
                                  if np.isnan(std) else f' ± {100 * std:.1f}')


def _ci(value: tuple) -> str:
    return f'[{100 * value[1]:.1f}, {100 * value[2]:.1f}]'


def _diff(value: tuple) -> str:
    return f'{100 * value[0]:+.1f} [{100 * value[1]:+.1f}, ' \
           f'{100 * value[2]:+.1f}]'


def format_report(rows: List[dict], settings: dict) -> str:
    """The report as Markdown tables (values in %)."""
    sizes = settings['gallery_sizes']
    first = sizes[0]
    head = (f'| method | seeds | mAP@{first} | 95 % CI | top-1@{first} | '
            '95 % CI | ' + ''.join(f'mAP@{s} | top-1@{s} | '
                                   for s in sizes[1:]) +
            'det AP | det recall | min / run |')
    lines = [head, '|' + '---|' * (head.count('|') - 1)]
    for row in rows:
        cells = [
            row['name'],
            str(len(row['seeds'])),
            _pm(row[f'cuhk/mAP@{first}']),
            _ci(row['mAP_ci']),
            _pm(row[f'cuhk/top1@{first}']),
            _ci(row['top1_ci'])
        ]
        for size in sizes[1:]:
            cells += [
                _pm(row[f'cuhk/mAP@{size}']),
                _pm(row[f'cuhk/top1@{size}'])
            ]
        cells += [
            _pm(row['det/AP']),
            _pm(row['det/recall']), f'{row["wall_s"] / 60:.1f}'
        ]
        lines.append('| ' + ' | '.join(cells) + ' |')
    diffs = [row for row in rows if 'vs' in row]
    if diffs:
        lines += [
            '', f'Paired differences to {diffs[0]["vs"]} on the same '
            f'{rows[0]["queries"]} queries (seed-averaged, 95 % bootstrap '
            'interval), in points:', '',
            f'| method | Δ mAP@{first} | Δ top-1@{first} |', '|---|---|---|'
        ]
        for row in diffs:
            lines.append(f'| {row["name"]} | {_diff(row["mAP_diff"])} | '
                         f'{_diff(row["top1_diff"])} |')
    return '\n'.join(lines) + '\n'


def plot_curves(results: Dict[str, List[dict]], gallery_size: int,
                path: str) -> None:
    """mAP against training iterations: the mean over seeds per method,
    with the range over seeds shaded."""
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    key = f'cuhk/mAP@{gallery_size}'
    for name, runs in results.items():
        if not runs:
            continue
        iters = sorted(
            set.intersection(*[{p['iter']
                                for p in r['curve']} for r in runs]))
        values = np.array([[
            next(p['metrics'][key] for p in r['curve'] if p['iter'] == i)
            for i in iters
        ] for r in runs])
        ax.plot(
            iters,
            100 * values.mean(0),
            marker='o',
            label=f'{name} ({len(runs)} seeds)')
        ax.fill_between(
            iters, 100 * values.min(0), 100 * values.max(0), alpha=0.15)
    ax.set_xlabel('training iterations')
    ax.set_ylabel(f'mAP@{gallery_size} (%)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(args: argparse.Namespace, settings: dict) -> Optional[str]:
    """Write report.md, report.json and map_vs_iters.png; return the
    Markdown (None without any finished run)."""
    results = load_results(args.results_dir, args.names, args.seeds)
    if not any(results.values()):
        return None
    rows = summarise(results, settings['gallery_sizes'], args.bootstrap)
    text = format_report(rows, settings)
    with open(osp.join(args.results_dir, 'report.md'), 'w') as f:
        f.write(text)
    write_json(osp.join(args.results_dir, 'report.json'), rows)
    plot_curves(results, settings['gallery_sizes'][0],
                osp.join(args.results_dir, 'map_vs_iters.png'))
    return text


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    register_all_modules()
    try:
        if not osp.isdir(args.data_root):
            raise UserError(
                f'--data-root {args.data_root} not found: generate it with '
                'python tools/misc/make_synthetic_dataset.py '
                f'{args.data_root} --preset benchmark')
        settings = check_or_save_settings(
            study_settings(args), args.results_dir)
        settings['checkpoint_interval'] = args.checkpoint_interval
        if not args.report_only:
            run_study(args, settings)
        text = write_report(args, settings)
    except UserError as error:
        print(f'error: {error}', file=sys.stderr)
        sys.exit(2)
    if text is None:
        print('[compare_methods] no finished run to report yet')
        return
    print(text)
    print(f'[compare_methods] report, results and plot in {args.results_dir}')


if __name__ == '__main__':
    main()
