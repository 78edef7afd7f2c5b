"""Time the lookup-table update: vectorised vs the row-by-row rule.

One update of ``--num-rows`` labelled features (default 2,000: about what
8 GPUs x 2 image pairs gather per step) into a ``--num-entries`` x 256 table
(default 5,532 rows, the CUHK-SYSU identities). Features belong to
``--ids-per-batch`` identities (a labelled person yields many positive
RoIs, so labels repeat). Both rules run on the same input, their results
are compared, and the mean time of each is printed, on the CPU and, when
present, on the GPU.

Example::

    python tools/analysis_tools/benchmark_memory.py
    python tools/analysis_tools/benchmark_memory.py --devices cuda
"""
import argparse
import json
import time
from typing import Callable

import torch
import torch.nn.functional as F

from mmsearch.models.memories import momentum_update_rows_loop
from mmsearch.models.memories.lookup_table import (momentum_update_rows,
                                                   occurrence_index)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-rows', type=int, default=2000)
    parser.add_argument('--num-entries', type=int, default=5532)
    parser.add_argument('--feat-dim', type=int, default=256)
    parser.add_argument('--ids-per-batch', type=int, default=48)
    parser.add_argument(
        '--repeats', type=int, default=3, help='timed runs of each rule')
    parser.add_argument(
        '--devices',
        nargs='+',
        default=None,
        help='devices to time on (default: cpu, and cuda when present)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', help='also write the figures to this file')
    return parser.parse_args()


def time_update(rule: Callable, table: torch.Tensor, feats: torch.Tensor,
                labels: torch.Tensor, repeats: int) -> tuple:
    """Mean seconds of ``rule`` on a fresh copy of ``table``, and a result.

    Args:
        rule (callable): ``rule(table, feats, labels, momentum)``, in place.
        table (Tensor): The table before the update, (C, D).
        feats (Tensor): (N, D).
        labels (LongTensor): (N,).
        repeats (int): Timed runs (after one warm-up run).

    Returns:
        tuple[float, Tensor]: Mean seconds per update, the updated table.
    """
    synchronize = (torch.cuda.synchronize if table.is_cuda else (lambda: None))
    result = table.clone()
    rule(result, feats, labels, 0.5)  # warm-up
    total = 0.0
    for _ in range(repeats):
        result = table.clone()
        synchronize()
        start = time.perf_counter()
        rule(result, feats, labels, 0.5)
        synchronize()
        total += time.perf_counter() - start
    return total / repeats, result


def main() -> None:
    args = parse_args()
    devices = args.devices or (['cpu', 'cuda']
                               if torch.cuda.is_available() else ['cpu'])
    generator = torch.Generator().manual_seed(args.seed)
    table = F.normalize(
        torch.randn(args.num_entries, args.feat_dim, generator=generator),
        dim=1)
    ids = torch.randperm(args.num_entries, generator=generator)
    ids = ids[:args.ids_per_batch]
    labels = ids[torch.randint(
        0, len(ids), (args.num_rows, ), generator=generator)]
    feats = torch.randn(args.num_rows, args.feat_dim, generator=generator)
    rounds = int(occurrence_index(labels).max()) + 1
    print(f'update of {args.num_rows} rows ({len(labels.unique())} labels, '
          f'largest multiplicity {rounds}) into a {args.num_entries} x '
          f'{args.feat_dim} table')
    figures = {}
    for device in devices:
        inputs = [t.to(device) for t in (table, feats, labels)]
        loop_s, expected = time_update(momentum_update_rows_loop, *inputs,
                                       args.repeats)
        vec_s, result = time_update(momentum_update_rows, *inputs,
                                    args.repeats)
        max_diff = float((result - expected).abs().max())
        figures[device] = dict(
            row_by_row_ms=loop_s * 1e3,
            vectorised_ms=vec_s * 1e3,
            speedup=loop_s / vec_s,
            max_abs_diff=max_diff)
        print(f'{device}: row by row {loop_s * 1e3:.1f} ms, vectorised '
              f'{vec_s * 1e3:.2f} ms ({loop_s / vec_s:.0f}x), largest '
              f'difference {max_diff:.2e}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(figures, f, indent=2)


if __name__ == '__main__':
    main()
