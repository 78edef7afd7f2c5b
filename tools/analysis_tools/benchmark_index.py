"""Figures of the persistent gallery index (mmsearch.index).

1. Vector search over N synthetic D-dimensional people (``--num``, default
   1,000,000 x 256), for each synthetic set (``--sets``), exact and
   approximate search side by side: build time and memory (the exact
   index: the float16 features, written to and loaded from the on-disk
   format, plus the 8-bit copy its scanner builds; the approximate faiss
   indexes), query latency p50/p99 for top-100 one query at a time (and
   through ``search_features``), recall@10 and recall@100 of the
   approximate indexes against exact search, and the ratio of the p50
   latencies. Exact search is checked against ``exact_topk``'s numpy pass
   (float32 products, then the same re-rank) on ``--check-queries``
   queries.
2. Indexing throughput (images/s) of a model config over a folder of
   random scene images (on the CPU, or --device cuda:0).
3. One query against that folder: the index (embed the query, search)
   against ``search_gallery`` (which detects and embeds the whole folder
   again).

Synthetic people (clustered sets) draw N / 5 identities in N / 250
appearance groups (an identity's unit centre is its group's centre plus
Gaussian noise of norm ~1) and each entry as its identity's centre plus
noise of norm v (cosine 1 / sqrt(1 + v^2) to the centre, about
1 / (1 + v^2) between two views); queries are new views of random
identities. Set ``default``: v = ``--view-noise`` (0.5: views at cosine
~0.8, as for a trained re-ID model); ``hard``: v = ``--hard-view-noise``
(1.0: ~0.5); ``uniform``: unit vectors drawn uniformly (no structure: the
hardest case for approximate search).

Examples:
    python tools/analysis_tools/benchmark_index.py
    python tools/analysis_tools/benchmark_index.py --num 100000 \
        --skip-model --out figures.json
    python tools/analysis_tools/benchmark_index.py --skip-model \
        --hard-ann hnsw
    python tools/analysis_tools/benchmark_index.py --skip-vectors \
        --config configs/oim/oim_r18_synthetic.py --folder-images 1000
"""
import argparse
import json
import os
import os.path as osp
import tempfile
import time
from functools import partial

import numpy as np


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark the persistent gallery index')
    parser.add_argument(
        '--num', type=int, default=1_000_000, help='synthetic people')
    parser.add_argument('--dim', type=int, default=256)
    parser.add_argument('--queries', type=int, default=100)
    parser.add_argument(
        '--view-noise',
        type=float,
        default=0.5,
        help='clustered: norm of the noise of a view around its identity '
        '(0.5: cosine ~0.8 between two views; 1.0: ~0.5)')
    parser.add_argument(
        '--hard-view-noise',
        type=float,
        default=1.0,
        help='the same for the hard set')
    parser.add_argument(
        '--sets',
        nargs='+',
        default=['default', 'hard'],
        choices=list(SETS),
        help='synthetic sets: default (--view-noise), hard '
        '(--hard-view-noise), uniform (unit vectors, no structure)')
    parser.add_argument(
        '--ann',
        nargs='+',
        default=['ivf'],
        choices=['hnsw', 'ivf'],
        help='approximate indexes to measure')
    parser.add_argument(
        '--hard-ann',
        nargs='*',
        default=[],
        choices=['hnsw', 'ivf'],
        help='more approximate indexes for the hard set only (hnsw: a '
        'build of tens of minutes at 1M x 256 on 2 cores)')
    parser.add_argument(
        '--check-queries',
        type=int,
        default=10,
        help='queries whose exact results are checked against numpy '
        'float32 products')
    parser.add_argument(
        '--api-queries',
        type=int,
        default=50,
        help='queries timed through search_features')
    parser.add_argument(
        '--config',
        default='configs/oim/oim_r18_synthetic.py',
        help='model config for parts 2 and 3')
    parser.add_argument('--checkpoint', help='default: initialised weights')
    parser.add_argument('--folder-images', type=int, default=1000)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--skip-vectors', action='store_true')
    parser.add_argument('--skip-model', action='store_true')
    parser.add_argument('--work-dir', help='default: a temporary folder')
    parser.add_argument('--out', help='also write the figures to this JSON')
    return parser.parse_args()


def rss_mb() -> float:
    """Resident memory of this process (MiB)."""
    with open('/proc/self/statm') as file:
        pages = int(file.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') / 2**20


def unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def synthetic_people(num, dim, num_queries, kind, seed=0, view_noise=0.5):
    """(feats (num, dim) float32, queries (num_queries, dim) float32)."""
    rng = np.random.default_rng(seed)
    if kind == 'uniform':
        feats = np.empty((num, dim), np.float32)
        for begin in range(0, num, 100_000):
            end = min(num, begin + 100_000)
            feats[begin:end] = unit(
                rng.standard_normal((end - begin, dim), np.float32))
        return feats, unit(rng.standard_normal((num_queries, dim), np.float32))
    # Two levels: appearance groups of 50 identities (similar clothing),
    # identities (unit centres near their group's), then views.
    num_ids = max(1, num // 5)
    num_groups = max(1, num_ids // 50)
    group_noise = 1.0 / np.sqrt(dim)  # a noise vector of norm ~1
    noise = view_noise / np.sqrt(dim)
    groups = unit(rng.standard_normal((num_groups, dim), np.float32))
    centres = unit(groups[rng.integers(0, num_groups, num_ids)] + group_noise *
                   rng.standard_normal((num_ids, dim), np.float32))
    feats = np.empty((num, dim), np.float32)
    for begin in range(0, num, 100_000):
        end = min(num, begin + 100_000)
        ids = rng.integers(0, num_ids, end - begin)
        feats[begin:end] = unit(centres[ids] + noise * rng.standard_normal(
            (end - begin, dim), np.float32))
    ids = rng.integers(0, num_ids, num_queries)
    queries = unit(centres[ids] +
                   noise * rng.standard_normal((num_queries, dim), np.float32))
    return feats, queries


def percentiles(times):
    times = np.asarray(times) * 1000
    return dict(
        p50_ms=round(float(np.percentile(times, 50)), 3),
        p99_ms=round(float(np.percentile(times, 99)), 3))


def recall(found, truth, k):
    return float(
        np.mean([
            len(set(f[:k].tolist()) & set(t[:k].tolist())) / k
            for f, t in zip(found, truth)
        ]))


SETS = dict(
    default=dict(data='clustered', noise='view_noise'),
    hard=dict(data='clustered', noise='hard_view_noise'),
    uniform=dict(data='uniform', noise=None))


def synthetic_index(work_dir, name, feats):
    """Write ``feats`` (float16) as a one-shard index; load it back.
    Returns (index, figures of the exact index's storage)."""
    from mmsearch.index import GalleryIndex, add_shard
    from mmsearch.index.format import empty_shard
    num, dim = feats.shape
    index_dir = osp.join(work_dir, f'{name}.idx')
    arrays = empty_shard(dim, 'float16')
    num_units = (num + 4) // 5
    arrays.update(
        feats=feats.astype(np.float16),
        boxes=np.zeros((num, 4), np.float32),
        scores=np.ones(num, np.float32),
        entry_unit=(np.arange(num) // 5).astype(np.int32),
        frames=np.full(num, -1, np.int64),
        timestamps=np.full(num, np.nan),
        unit_keys=np.array([f'image:{i}' for i in range(num_units)]),
        unit_cameras=np.full(num_units, 'cam'),
        unit_kinds=np.full(num_units, 'image'))
    arrays['unit_sources'] = arrays['unit_keys']
    signature = dict(
        config=None,
        model_cfg_sha256=None,
        checkpoint=None,
        checkpoint_sha256=None,
        embed_dim=dim,
        probe_boxes=[],
        probe_feats=[[0.0] * dim],
        pipeline=[],
        score_thr=0.5)
    t0 = time.perf_counter()
    add_shard(index_dir, arrays, signature, 'float16')
    write_s = time.perf_counter() - t0
    del arrays
    t0 = time.perf_counter()
    index = GalleryIndex(index_dir, verify=True)
    return index, dict(
        write_s=round(write_s, 2),
        load_verified_s=round(time.perf_counter() - t0, 2),
        disk_mb=round(
            sum(s['bytes'] for s in index.manifest['shards']) / 2**20, 1),
        feats_mb=round(index.feats.nbytes / 2**20, 1))


def ann_top100(ann, query):
    """The 100 nearest row indices of one query in an ANN structure."""
    return ann.search(query, 100)[1][0]


def time_queries(search, queries):
    """p50/p99 of ``search(query (1, D))`` one query at a time, and the
    ids found (Q, 100)."""
    times, found = [], []
    for query in queries:
        t0 = time.perf_counter()
        found.append(search(query[None]))
        times.append(time.perf_counter() - t0)
    return percentiles(times), np.stack(found)


def bench_set(args, work_dir, name):
    """Exact and approximate search on one synthetic set."""
    from mmsearch.index import exact_topk, faiss_available, search_features
    from mmsearch.index.search import clear_search_cache, get_ann, get_scanner
    spec = SETS[name]
    noise = getattr(args, spec['noise']) if spec['noise'] else None
    figures = dict(data=spec['data'], view_noise=noise)
    t0 = time.perf_counter()
    feats, queries = synthetic_people(
        args.num,
        args.dim,
        args.queries,
        spec['data'],
        view_noise=noise or 0.5)
    figures['generate_s'] = round(time.perf_counter() - t0, 2)
    index, storage = synthetic_index(work_dir, name, feats)
    del feats
    exact = dict(storage=storage)
    figures['exact'] = exact
    print(
        f'[{name}] {args.num} x {args.dim} index written and loaded: '
        f'{json.dumps(storage)}',
        flush=True)

    # Exact search: the 8-bit scanner (faiss) or numpy over float32.
    scanner = None
    rss0 = rss_mb()
    t0 = time.perf_counter()
    if faiss_available():
        scanner = get_scanner(index)  # kept on the index for the API
        exact.update(
            kind='8-bit scan + exact re-rank',
            max_error=round(scanner.max_error, 5),
            shards=len(scanner.shards))
        feats = index.feats
    else:
        feats = index.float32_feats()
        exact.update(kind='numpy float32')
    exact['build_s'] = round(time.perf_counter() - t0, 2)
    exact['build_rss_mb'] = round(rss_mb() - rss0, 1)
    t0 = time.perf_counter()
    _, truth = exact_topk(feats, queries, 100, scanner=scanner)
    exact['batch_s'] = round(time.perf_counter() - t0, 2)
    # The scanner against exact_topk's numpy first pass (float32 products
    # over chunks of the float16 features, then the same certified
    # re-rank): the same ids. Without faiss both sides are the numpy pass.
    check = min(args.check_queries, len(queries))
    ref_s, ref_i = exact_topk(
        index.feats, queries[:check], 100, chunk_size=16384)
    exact['agrees_with_numpy'] = bool((ref_i == truth[:check]).all())
    exact.update(
        time_queries(
            lambda q: exact_topk(feats, q, 100, scanner=scanner)[1][0],
            queries)[0])
    api_times = []
    search_features(index, queries[0], topk=100, method='exact')  # warm
    for query in queries[:args.api_queries]:
        t0 = time.perf_counter()
        search_features(index, query, topk=100, method='exact')
        api_times.append(time.perf_counter() - t0)
    exact['api'] = percentiles(api_times)
    print(f'[{name}] exact:', json.dumps(exact), flush=True)
    if not faiss_available():
        print(f'[{name}] faiss is not installed: no approximate figures')
        return figures
    kinds = list(args.ann) + [
        k
        for k in (args.hard_ann if name == 'hard' else []) if k not in args.ann
    ]
    for kind in kinds:
        rss0 = rss_mb()
        t0 = time.perf_counter()
        # kept on the index for the API; not written to its ann/ cache
        ann = get_ann(index, kind, cache=False)
        result = dict(
            params=ann.params,
            build_s=round(time.perf_counter() - t0, 1),
            build_rss_mb=round(rss_mb() - rss0, 1))
        stats, found = time_queries(partial(ann_top100, ann), queries)
        result.update(stats)
        result['recall@10'] = round(recall(found, truth, 10), 4)
        result['recall@100'] = round(recall(found, truth, 100), 4)
        result['exact_over_approx_p50'] = round(
            exact['p50_ms'] / max(result['p50_ms'], 1e-9), 1)
        # Through the API (results as dicts), with the index cached.
        search_features(
            index, queries[0], topk=100, method='ann', ann_kind=kind)  # warm
        api_times = []
        for query in queries[:args.api_queries]:
            t0 = time.perf_counter()
            search_features(
                index, query, topk=100, method='ann', ann_kind=kind)
            api_times.append(time.perf_counter() - t0)
        result['api'] = percentiles(api_times)
        figures[kind] = result
        print(f'[{name}] {kind}:', json.dumps(result), flush=True)
        del ann
        clear_search_cache(index)
    return figures


def bench_vectors(args, work_dir):
    figures = dict(num=args.num, dim=args.dim, queries=args.queries)
    try:
        import faiss
        figures['faiss_threads'] = faiss.omp_get_max_threads()
    except ImportError:
        pass
    for name in args.sets:
        figures[name] = bench_set(args, work_dir, name)
    print_table(figures, args.sets)
    return figures


def print_table(figures, sets):
    """Exact and approximate search side by side, per set."""
    head = (f'{"set":8} {"method":34} {"build s":>8} {"+MB":>7} '
            f'{"p50 ms":>7} {"p99 ms":>7} {"R@10":>6} {"R@100":>6} '
            f'{"API p50":>8} {"exact/ann":>9}')
    print(f'\n{figures["num"]} x {figures["dim"]}, top-100, '
          f'{figures["queries"]} queries, one at a time')
    print(head)
    print('-' * len(head))
    for name in sets:
        fig = figures[name]
        exact = fig['exact']
        mem = exact['storage']['feats_mb'] + max(exact['build_rss_mb'], 0)
        rows = [(f'exact ({exact["kind"]})', exact['build_s'], mem, exact, '1',
                 '1', '')]
        for kind in ('ivf', 'hnsw'):
            if kind in fig:
                res = fig[kind]
                params = ', '.join(f'{k} {v}'
                                   for k, v in res['params'].items())
                rows.append(
                    (f'{kind} ({params})', res['build_s'], res['build_rss_mb'],
                     res, f'{res["recall@10"]:.4f}',
                     f'{res["recall@100"]:.4f}',
                     f'{res["exact_over_approx_p50"]:.1f}'))
        for method, build_s, mem, res, r10, r100, ratio in rows:
            print(f'{name:8} {method[:34]:34} {build_s:8.1f} {mem:7.0f} '
                  f'{res["p50_ms"]:7.2f} {res["p99_ms"]:7.2f} {r10:>6} '
                  f'{r100:>6} {res["api"]["p50_ms"]:8.2f} {ratio:>9}')
    print('+MB: exact: the float16 features plus the 8-bit copy; ann: the '
          'resident memory its build added. exact/ann: the p50 ratio.')


def bench_model(args, work_dir):
    import cv2
    import torch

    from mmsearch.apis import (build_index, embed_query, init_searcher,
                               load_index, search_gallery, search_index)
    from mmsearch.utils import register_all_modules
    register_all_modules()
    figures = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        device=args.device,
        images=args.folder_images,
        torch_threads=torch.get_num_threads())
    folder = osp.join(work_dir, 'folder')
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(args.folder_images):
        image = rng.integers(0, 256, (240, 320, 3), np.uint8)
        image = cv2.GaussianBlur(image, (0, 0), 3)
        cv2.imwrite(osp.join(folder, f'{i:05d}.jpg'), image)
    torch.manual_seed(0)
    model = init_searcher(args.config, args.checkpoint, args.device)
    index_dir = osp.join(work_dir, 'folder.idx')
    t0 = time.perf_counter()
    report = build_index(
        model,
        index_dir,
        images=folder,
        checkpoint=args.checkpoint,
        batch_size=args.batch_size)
    build_s = time.perf_counter() - t0
    figures['index_build'] = dict(
        seconds=round(build_s, 1),
        images_per_second=round(args.folder_images / build_s, 2),
        embedding_images_per_second=report['images_per_second'],
        entries=report['num_entries'])
    print(
        '[model] index build:', json.dumps(figures['index_build']), flush=True)
    query_image = osp.join(folder, '00000.jpg')
    box = [40, 30, 110, 200]
    index = load_index(index_dir)
    t0 = time.perf_counter()
    search_index(index, model=model, image=query_image, box=box, topk=100)
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    search_index(index, model=model, image=query_image, box=box, topk=100)
    index_s = time.perf_counter() - t0
    feat = embed_query(model, query_image, box)
    t0 = time.perf_counter()
    search_index(index, feature=feat.numpy(), topk=100)
    search_only_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    search_gallery(model, feat, folder, topk=100)
    gallery_s = time.perf_counter() - t0
    figures['query'] = dict(
        index_first_query_s=round(first_s, 3),
        index_query_s=round(index_s, 3),
        index_search_only_ms=round(search_only_s * 1000, 2),
        search_gallery_s=round(gallery_s, 1),
        speedup=round(gallery_s / index_s, 1))
    print('[model] query:', json.dumps(figures['query']), flush=True)
    return figures


def main() -> None:
    args = parse_args()
    figures = dict(
        cpu_count=os.cpu_count(),
        load_average_before=[round(v, 2) for v in os.getloadavg()])
    with tempfile.TemporaryDirectory() as tmp:
        work_dir = args.work_dir or tmp
        if not args.skip_vectors:
            figures['vectors'] = bench_vectors(args, work_dir)
        if not args.skip_model:
            figures['model'] = bench_model(args, work_dir)
    figures['load_average_after'] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(figures, indent=1))
    if args.out:
        with open(args.out, 'w') as file:
            json.dump(figures, file, indent=1)


if __name__ == '__main__':
    main()
