"""Inference speed and peak memory of a person-search model.

Times ``model.test_step`` (detection + re-ID features, batch of one image)
on the config's test images or on random images of a given size, after a
few warm-up images. Peak memory is CUDA's max allocated memory on a GPU and
the process's peak resident memory on the CPU.

Examples:
    python tools/analysis_tools/benchmark.py CONFIG [CHECKPOINT]
    python tools/analysis_tools/benchmark.py CONFIG --shape 900 1500 \
        --num-images 20 --device cuda:0 --amp
"""
import argparse
import json
import resource
import time
from typing import Iterator, Optional

import numpy as np
import torch
from mmengine.config import DictAction

from mmsearch.apis import build_test_pipeline, init_searcher
from mmsearch.registry import DATASETS
from mmsearch.utils import register_all_modules


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


def benchmark(model: torch.nn.Module,
              batches: Iterator,
              num_images: int,
              num_warmup: int,
              amp: bool = False) -> dict:
    """Images per second over ``num_images`` after ``num_warmup``.

    Args:
        model (nn.Module): Model in eval mode (from ``init_searcher``).
        batches (Iterator): Yields ``test_step`` inputs of one image.
        num_images (int): Timed images (>= 1).
        num_warmup (int): Untimed images first.
        amp (bool): Autocast float16 (CUDA) / bfloat16 (CPU).

    Returns:
        dict: ``images_per_second``, ``seconds_per_image``,
        ``peak_memory_mib``, ``device``, ``amp``, ``num_images``.
    """
    if num_images < 1:
        raise ValueError(f'--num-images must be >= 1, got {num_images}')
    device = next(model.parameters()).device
    amp_dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    elapsed = 0.0
    for index in range(num_warmup + num_images):
        batch = next(batches)
        sync()
        start = time.perf_counter()
        with torch.no_grad(), torch.autocast(
                device.type, dtype=amp_dtype, enabled=amp):
            model.test_step(batch)
        sync()
        if index >= num_warmup:
            elapsed += time.perf_counter() - start
    return dict(
        images_per_second=num_images / elapsed,
        seconds_per_image=elapsed / num_images,
        peak_memory_mib=peak_memory_mib(device),
        device=str(device),
        amp=amp,
        num_images=num_images)


def main() -> None:
    args = parse_args()
    register_all_modules()
    model = init_searcher(args.config, args.checkpoint, args.device,
                          args.cfg_options)
    batches = (
        random_batches(model, args.shape)
        if args.shape else dataset_batches(model))
    result = benchmark(model, batches, args.num_images, args.num_warmup,
                       args.amp)
    source = (f'random {args.shape[0]}x{args.shape[1]} images'
              if args.shape else 'test images')
    print(f'{result["images_per_second"]:.3f} images/s '
          f'({result["seconds_per_image"]:.3f} s/image) on {source}, '
          f'{result["device"]}, amp={args.amp}; peak memory '
          f'{result["peak_memory_mib"]:.0f} MiB')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)


if __name__ == '__main__':
    main()
