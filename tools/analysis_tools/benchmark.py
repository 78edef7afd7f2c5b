"""Inference speed and peak memory of a person-search model.

Times ``model.test_step`` (detection + re-ID features, batch of one image)
on the config's test images or on random images of a given size, after a
few warm-up images. Peak memory is CUDA's max allocated memory on a GPU and
the process's peak resident memory on the CPU.

``--breakdown`` also prints the median time per image of each stage:
preprocessing, trunk, RPN (head convolutions) and its post-processing
(proposal decoding and NMS), RoIAlign (detection and re-ID passes), the
detection RoI head (res5 and box head), detection post-processing (box
decoding and NMS), the re-ID head (retrieval res5 and embedding head) and
the rest ("other": glue between the stages). Each stage is timed without
the stages it calls, so the stages add up to the total.

``--compare KEY=VALUE ...`` builds a second model from the same config with
these overrides (e.g. another RoI extractor), gives it the first model's
weights and runs both on the same images, alternating which goes first,
so that other load on the machine affects both alike. It prints both
timings, their ratio and the largest differences between their outputs.

Examples:
    python tools/analysis_tools/benchmark.py CONFIG [CHECKPOINT]
    python tools/analysis_tools/benchmark.py CONFIG --shape 900 1500 \
        --num-images 20 --device cuda:0 --amp
    python tools/analysis_tools/benchmark.py CONFIG --shape 900 1500 \
        --num-images 5 --breakdown --compare \
        model.roi_head.bbox_roi_extractor.type=mmdet.SingleRoIExtractor
"""
import argparse
import copy
import functools
import json
import resource
import statistics
import time
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from mmcv.cnn import fuse_conv_bn
from mmengine.config import DictAction

from mmsearch.apis import build_test_pipeline, init_searcher
from mmsearch.registry import DATASETS
from mmsearch.utils import register_all_modules

# (label, attribute path from the model, method): the methods timed by
# --breakdown. RoIAlign is labelled by the pass that calls it.
STAGES = (
    ('preprocess', 'data_preprocessor', 'forward'),
    ('trunk', '', 'extract_feat'),
    ('RPN', 'rpn_head', 'predict'),
    ('RPN post-processing', 'rpn_head', 'predict_by_feat'),
    ('RoI head (detection)', 'roi_head', 'predict_bbox'),
    ('RoIAlign', 'roi_head.bbox_roi_extractor', 'forward'),
    ('detection post-processing', 'roi_head.bbox_head', 'predict_by_feat'),
    ('re-ID head', 'roi_head', 'predict_reid_feats'),
)
PASS_OF = {'RoI head (detection)': 'detection', 're-ID head': 're-ID'}
STAGE_ORDER = ('preprocess', 'trunk', 'RPN', 'RPN post-processing',
               'RoIAlign (detection)', 'RoI head (detection)',
               'detection post-processing', 'RoIAlign (re-ID)', 're-ID head',
               'RoIAlign (other)', 'other')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark person-search inference')
    parser.add_argument('config', help='model config file')
    parser.add_argument(
        'checkpoint', nargs='?', help='checkpoint (default: initialised)')
    parser.add_argument(
        '--shape',
        nargs=2,
        type=int,
        metavar=('H', 'W'),
        help='random images of this size instead of the test data')
    parser.add_argument('--num-images', type=int, default=10)
    parser.add_argument('--num-warmup', type=int, default=2)
    parser.add_argument('--device', default='cpu', help='cpu or cuda:N')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='autocast: float16 on CUDA, bfloat16 on the CPU')
    parser.add_argument(
        '--breakdown',
        action='store_true',
        help='also time each inference stage (median per image)')
    parser.add_argument(
        '--compare',
        nargs='+',
        action=DictAction,
        metavar='KEY=VALUE',
        help='also run the config with these overrides and the same '
        'weights, alternating with the first model on the same images')
    parser.add_argument(
        '--fuse-conv-bn',
        action='store_true',
        help='fold each BatchNorm into the convolution before it (frozen '
        'BN: the same outputs up to float rounding, fewer operations)')
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='seed of the initial weights (no checkpoint) and the images')
    parser.add_argument('--out', help='also write the figures to this JSON')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, xxx=yyy pairs')
    return parser.parse_args()


def random_batches(model: torch.nn.Module, shape, seed: int = 0) -> Iterator:
    """Endless single-image batches of uniform noise of ``shape`` (H, W)."""
    pipeline = build_test_pipeline(model.cfg, from_array=True)
    rng = np.random.default_rng(seed)
    while True:
        img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        data = pipeline(dict(img=img, img_id='random'))
        yield dict(
            inputs=[data['inputs']], data_samples=[data['data_samples']])


def dataset_batches(model: torch.nn.Module) -> Iterator:
    """Single-image batches of the config's test dataset, cycled."""
    dataset = DATASETS.build(model.cfg.test_dataloader.dataset)
    if len(dataset) == 0:
        raise ValueError('the config\'s test dataset is empty; use --shape')
    while True:
        for index in range(len(dataset)):
            data = dataset[index]
            yield dict(
                inputs=[data['inputs']], data_samples=[data['data_samples']])


def peak_memory_mib(device: torch.device) -> float:
    """Peak CUDA memory allocated, or the process's peak RSS, in MiB."""
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def device_sync(device: torch.device) -> Callable[[], None]:
    """A function that waits for ``device``'s queued work (CPU: no-op)."""
    if device.type == 'cuda':
        return functools.partial(torch.cuda.synchronize, device)
    return lambda: None


class StageTimer:
    """Exclusive wall time of the inference stages of one model.

    Inside ``with timer.attached():`` the methods listed in ``STAGES`` of
    this model instance (not of its class) are wrapped; each call adds its
    wall time, minus that of the stages it calls, to its stage. RoIAlign is
    split by the pass that calls it (detection / re-ID). Stages a model
    lacks are skipped.

    Args:
        model (nn.Module): The model (``PersonSearch``).
        sync (Callable): Waits for the device before each reading.
    """

    def __init__(self, model: torch.nn.Module, sync: Callable[[], None]):
        self.model = model
        self.sync = sync
        self.times: Dict[str, float] = {}
        self._stack: List[list] = []

    def _wrap(self, label: str, method: Callable) -> Callable:

        @functools.wraps(method)
        def timed(*args, **kwargs):
            key = label
            if label == 'RoIAlign':
                parent = self._stack[-1][0] if self._stack else ''
                key = f'RoIAlign ({PASS_OF.get(parent, "other")})'
            self.sync()
            self._stack.append([label, time.perf_counter(), 0.0])
            try:
                return method(*args, **kwargs)
            finally:
                self.sync()
                _, start, inner = self._stack.pop()
                elapsed = time.perf_counter() - start
                self.times[key] = self.times.get(key, 0.0) + elapsed - inner
                if self._stack:
                    self._stack[-1][2] += elapsed

        return timed

    @contextmanager
    def attached(self):
        """Wrap the stage methods of the model while inside."""
        wrapped = []
        try:
            for label, path, name in STAGES:
                owner = self.model
                for attr in filter(None, path.split('.')):
                    owner = getattr(owner, attr, None)
                if owner is None or not hasattr(owner, name):
                    continue
                setattr(owner, name, self._wrap(label, getattr(owner, name)))
                wrapped.append((owner, name))
            yield self
        finally:
            for owner, name in wrapped:
                delattr(owner, name)

    def pop(self, total: float) -> Dict[str, float]:
        """The stage times since the last call, plus ``other``."""
        times, self.times = self.times, {}
        times['other'] = total - sum(times.values())
        return times


def run_image(model: torch.nn.Module,
              batch: dict,
              amp: bool,
              timer: Optional[StageTimer] = None) -> Tuple[float, float, list]:
    """Time ``model.test_step`` on one batch.

    Args:
        model (nn.Module): Model in eval mode.
        batch (dict): ``test_step`` input.
        amp (bool): Autocast float16 (CUDA) / bfloat16 (CPU).
        timer (StageTimer, optional): Attached to ``model`` if given.

    Returns:
        tuple[float, float, list]: Wall seconds, CPU seconds of the process
        (all its threads: robust to other load on the machine), and the
        predicted samples.
    """
    device = next(model.parameters()).device
    amp_dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16
    sync = device_sync(device)
    sync()
    start, start_cpu = time.perf_counter(), time.process_time()
    with torch.no_grad(), torch.autocast(
            device.type, dtype=amp_dtype, enabled=amp):
        if timer is None:
            results = model.test_step(batch)
        else:
            with timer.attached():
                results = model.test_step(batch)
    sync()
    return (time.perf_counter() - start, time.process_time() - start_cpu,
            results)


def summarise(seconds: List[float], stages: List[Dict[str, float]],
              device: torch.device, amp: bool) -> dict:
    """Figures of one model over the timed images."""
    total = sum(seconds)
    figures = dict(
        images_per_second=len(seconds) / total,
        seconds_per_image=total / len(seconds),
        median_seconds_per_image=statistics.median(seconds),
        peak_memory_mib=peak_memory_mib(device),
        device=str(device),
        amp=amp,
        num_images=len(seconds))
    if stages:
        seen = {label for times in stages for label in times}
        labels = [label for label in STAGE_ORDER if label in seen]
        labels += sorted(seen - set(labels))
        figures['stages'] = {
            label: statistics.median(s.get(label, 0.0) for s in stages)
            for label in labels
        }
    return figures


def benchmark(model: torch.nn.Module,
              batches: Iterator,
              num_images: int,
              num_warmup: int,
              amp: bool = False,
              breakdown: bool = False) -> dict:
    """Images per second over ``num_images`` after ``num_warmup``.

    Args:
        model (nn.Module): Model in eval mode (from ``init_searcher``).
        batches (Iterator): Yields ``test_step`` inputs of one image.
        num_images (int): Timed images (>= 1).
        num_warmup (int): Untimed images first.
        amp (bool): Autocast float16 (CUDA) / bfloat16 (CPU).
        breakdown (bool): Also time the stages (``stages``: label ->
            median seconds per image, adding up to about the total).

    Returns:
        dict: ``images_per_second``, ``seconds_per_image`` (mean),
        ``median_seconds_per_image``, ``peak_memory_mib``, ``device``,
        ``amp``, ``num_images``, ``detections_per_image``,
        ``median_cpu_seconds_per_image`` (CPU time of all threads),
        ``num_params_m`` (millions of parameters) and (``breakdown``)
        ``stages``.
    """
    return compare([model], batches, num_images, num_warmup, amp, breakdown)[0]


def compare(models: List[torch.nn.Module],
            batches: Iterator,
            num_images: int,
            num_warmup: int,
            amp: bool = False,
            breakdown: bool = False) -> List[dict]:
    """:func:`benchmark` of several models on the same images, interleaved.

    Image ``k`` goes through every model, starting with model
    ``k mod len(models)``, so that other load on the machine affects each
    model alike. The figures of every model but the first also hold
    ``max_abs_diff``: the largest difference of its outputs from the first
    model's on the timed images (``bboxes``, ``scores``, ``reid_feats``;
    ``num_detections`` is the largest difference in detection counts, and
    the other entries are NaN when counts differ; ``compared_detections``
    counts the detections compared).

    Args: as :func:`benchmark`, with a list of models.

    Returns:
        list[dict]: Per model, the figures of :func:`benchmark`.
    """
    if num_images < 1:
        raise ValueError(f'--num-images must be >= 1, got {num_images}')
    devices = [next(model.parameters()).device for model in models]
    for device in set(devices):
        if device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(device)
    timers = [
        StageTimer(model, device_sync(device)) if breakdown else None
        for model, device in zip(models, devices)
    ]
    seconds = [[] for _ in models]
    stages = [[] for _ in models]
    diffs = [dict() for _ in models]
    detections = [0 for _ in models]
    cpu_seconds = [[] for _ in models]
    for index in range(num_warmup + num_images):
        batch = next(batches)
        outputs = [None] * len(models)
        for step in range(len(models)):
            m = (index + step) % len(models)
            elapsed, cpu, outputs[m] = run_image(models[m],
                                                 copy.deepcopy(batch), amp,
                                                 timers[m])
            if index >= num_warmup:
                seconds[m].append(elapsed)
                cpu_seconds[m].append(cpu)
                detections[m] += sum(
                    len(sample.pred_instances) for sample in outputs[m])
                if timers[m] is not None:
                    stages[m].append(timers[m].pop(elapsed))
            elif timers[m] is not None:
                timers[m].pop(elapsed)
        if index >= num_warmup:
            for m in range(1, len(models)):
                update_max_diff(diffs[m], outputs[0], outputs[m])
    figures = [
        summarise(seconds[m], stages[m], devices[m], amp)
        for m in range(len(models))
    ]
    for m in range(len(models)):
        figures[m]['detections_per_image'] = detections[m] / num_images
        figures[m]['median_cpu_seconds_per_image'] = statistics.median(
            cpu_seconds[m])
        figures[m]['num_params_m'] = sum(p.numel()
                                         for p in models[m].parameters()) / 1e6
        if m:
            figures[m]['max_abs_diff'] = diffs[m]
    return figures


def update_max_diff(diff: dict, reference: list, results: list) -> None:
    """Fold the output differences of one batch into ``diff``."""
    for ref, res in zip(reference, results):
        ref, res = ref.pred_instances, res.pred_instances
        count = abs(len(ref) - len(res))
        diff['num_detections'] = max(diff.get('num_detections', 0), count)
        diff['compared_detections'] = diff.get('compared_detections',
                                               0) + (0 if count else len(ref))
        for key in ('bboxes', 'scores', 'reid_feats'):
            if count or diff.get(key, 0.0) != diff.get(key, 0.0):
                diff[key] = float('nan')  # unmatched outputs
            elif len(ref):
                value = (ref[key].float() - res[key].float()).abs().max()
                diff[key] = max(diff.get(key, 0.0), value.item())
            else:
                diff.setdefault(key, 0.0)


def format_figures(name: str, figures: dict, source: str) -> str:
    """Text report of one model's figures."""
    lines = [
        f'{name}{figures["images_per_second"]:.3f} images/s '
        f'({figures["seconds_per_image"]:.3f} s/image, median '
        f'{figures["median_seconds_per_image"]:.3f} s) on {source}, '
        f'{figures["device"]}, amp={figures["amp"]}; peak memory '
        f'{figures["peak_memory_mib"]:.0f} MiB; '
        f'{figures["num_params_m"]:.2f} M parameters; '
        f'{figures["detections_per_image"]:.1f} detections per image; '
        f'median CPU time {figures["median_cpu_seconds_per_image"]:.3f} s'
    ]
    total = figures['median_seconds_per_image']
    for label, value in figures.get('stages', {}).items():
        lines.append(f'  {label:<28s}{value:9.3f} s  '
                     f'{100 * value / total:5.1f} %')
    if 'max_abs_diff' in figures:
        lines.append('  largest output difference from the first model: ' +
                     ', '.join(f'{k} {v:.3g}'
                               for k, v in figures['max_abs_diff'].items()))
    return '\n'.join(lines)


def main() -> None:
    args = parse_args()
    register_all_modules()
    torch.manual_seed(args.seed)
    model = init_searcher(args.config, args.checkpoint, args.device,
                          args.cfg_options)
    models = [model]
    if args.compare:
        options = dict(args.cfg_options or {}, **args.compare)
        other = init_searcher(args.config, None, args.device, options)
        # the same weights, whatever the overrides change in the code
        other.load_state_dict(model.state_dict())
        models.append(other)
    if args.fuse_conv_bn:
        models = [fuse_conv_bn(m) for m in models]
    batches = (
        random_batches(model, args.shape, args.seed)
        if args.shape else dataset_batches(model))
    results = compare(models, batches, args.num_images, args.num_warmup,
                      args.amp, args.breakdown)
    source = (f'random {args.shape[0]}x{args.shape[1]} images'
              if args.shape else 'test images')
    if len(results) == 1:
        print(format_figures('', results[0], source))
        out = results[0]
    else:
        print(format_figures('config:  ', results[0], source))
        changes = ' '.join(f'{k}={v}' for k, v in args.compare.items())
        print(format_figures(f'compare ({changes}):\n  ', results[1], source))
        ratio = (
            results[0]['median_seconds_per_image'] /
            results[1]['median_seconds_per_image'])
        print(f'config / compare (median time per image): {ratio:.3f}')
        out = dict(
            results[0], compare=dict(results[1], options=changes), ratio=ratio)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(out, f, indent=2)


if __name__ == '__main__':
    main()
