"""Figures of the persistent gallery index (mmsearch.index).

1. Vector search over N synthetic D-dimensional people (default 1,000,000 x
   256): build time and memory of the exact index (the float16 feature
   matrix, written to and loaded from the on-disk format) and of the
   approximate faiss indexes; query latency p50/p99 for top-100; recall@10
   and recall@100 of the approximate indexes against exact search.
2. Indexing throughput (images/s) of a model config over a folder of
   random scene images (on the CPU, or --device cuda:0).
3. One query against that folder: the index (embed the query, search)
   against ``search_gallery`` (which detects and embeds the whole folder
   again).

Synthetic people: ``--data clustered`` draws N / 5 identities in N / 250
appearance groups (an identity's unit centre is its group's centre plus
Gaussian noise of norm ~1) and each entry as its identity's centre plus
noise of norm v = ``--view-noise`` (cosine 1 / sqrt(1 + v^2) to the
centre, about 1 / (1 + v^2) between two views: 0.8 for v = 0.5, as for a
trained re-ID model; 0.5 for v = 1, a hard case); queries are new views of
random identities. ``--data uniform`` draws unit vectors uniformly (no
structure: the hardest case for approximate search).

Examples:
    python tools/analysis_tools/benchmark_index.py
    python tools/analysis_tools/benchmark_index.py --num 100000 \
        --skip-model --out figures.json
    python tools/analysis_tools/benchmark_index.py --skip-vectors \
        --config configs/oim/oim_r18_synthetic.py --folder-images 1000
"""
import argparse
import json
import os
import os.path as osp
import tempfile
import time

import numpy as np


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark the persistent gallery index')
    parser.add_argument('--num', type=int, default=1_000_000,
                        help='synthetic people')
    parser.add_argument('--dim', type=int, default=256)
    parser.add_argument('--queries', type=int, default=100)
    parser.add_argument(
        '--view-noise', type=float, default=0.5,
        help='clustered: norm of the noise of a view around its identity '
        '(0.5: cosine ~0.8 between two views; 1.0: ~0.5)')
    parser.add_argument(
        '--timed-exact', type=int, default=20,
        help='queries timed one by one for the exact latency')
    parser.add_argument(
        '--data', choices=['clustered', 'uniform'], default='clustered')
    parser.add_argument(
        '--ann', nargs='+', default=['ivf'],
        choices=['hnsw', 'ivf'], help='approximate indexes to measure')
    parser.add_argument(
        '--config', default='configs/oim/oim_r18_synthetic.py',
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
        return feats, unit(rng.standard_normal((num_queries, dim),
                                               np.float32))
    # Two levels: appearance groups of 50 identities (similar clothing),
    # identities (unit centres near their group's), then views.
    num_ids = max(1, num // 5)
    num_groups = max(1, num_ids // 50)
    group_noise = 1.0 / np.sqrt(dim)  # a noise vector of norm ~1
    noise = view_noise / np.sqrt(dim)
    groups = unit(rng.standard_normal((num_groups, dim), np.float32))
    centres = unit(groups[rng.integers(0, num_groups, num_ids)] +
                   group_noise *
                   rng.standard_normal((num_ids, dim), np.float32))
    feats = np.empty((num, dim), np.float32)
    for begin in range(0, num, 100_000):
        end = min(num, begin + 100_000)
        ids = rng.integers(0, num_ids, end - begin)
        feats[begin:end] = unit(
            centres[ids] +
            noise * rng.standard_normal((end - begin, dim), np.float32))
    ids = rng.integers(0, num_ids, num_queries)
    queries = unit(centres[ids] + noise * rng.standard_normal(
        (num_queries, dim), np.float32))
    return feats, queries


def percentiles(times):
    times = np.asarray(times) * 1000
    return dict(p50_ms=round(float(np.percentile(times, 50)), 3),
                p99_ms=round(float(np.percentile(times, 99)), 3))


def recall(found, truth, k):
    return float(np.mean([
        len(set(f[:k].tolist()) & set(t[:k].tolist())) / k
        for f, t in zip(found, truth)
    ]))


def bench_vectors(args, work_dir):
    from mmsearch.index import (GalleryIndex, add_shard, exact_topk,
                                faiss_available, search_features)
    from mmsearch.index.format import empty_shard
    from mmsearch.index.search import ANN_DEFAULTS, AnnIndex
    figures = dict(num=args.num, dim=args.dim, data=args.data,
                   view_noise=args.view_noise, queries=args.queries)
    t0 = time.perf_counter()
    feats, queries = synthetic_people(args.num, args.dim, args.queries,
                                      args.data, view_noise=args.view_noise)
    figures['generate_s'] = round(time.perf_counter() - t0, 2)
    print(f'[vectors] {args.num} x {args.dim} {args.data} people generated '
          f'in {figures["generate_s"]} s', flush=True)

    # Exact index: the float16 matrix in the on-disk format.
    index_dir = osp.join(work_dir, 'synthetic.idx')
    arrays = empty_shard(args.dim, 'float16')
    arrays.update(
        feats=feats.astype(np.float16),
        boxes=np.zeros((args.num, 4), np.float32),
        scores=np.ones(args.num, np.float32),
        entry_unit=(np.arange(args.num) // 5).astype(np.int32),
        frames=np.full(args.num, -1, np.int64),
        timestamps=np.full(args.num, np.nan),
        unit_keys=np.array([f'image:{i}' for i in range((args.num + 4) //
                                                         5)]),
    )
    num_units = len(arrays['unit_keys'])
    arrays['unit_sources'] = arrays['unit_keys']
    arrays['unit_cameras'] = np.full(num_units, 'cam')
    arrays['unit_kinds'] = np.full(num_units, 'image')
    signature = dict(config=None, model_cfg_sha256=None, checkpoint=None,
                     checkpoint_sha256=None, embed_dim=args.dim,
                     probe_boxes=[], probe_feats=[[0.0] * args.dim],
                     pipeline=[], score_thr=0.5)
    t0 = time.perf_counter()
    add_shard(index_dir, arrays, signature, 'float16')
    write_s = time.perf_counter() - t0
    del arrays, feats
    rss0 = rss_mb()
    t0 = time.perf_counter()
    index = GalleryIndex(index_dir, verify=True)
    load_s = time.perf_counter() - t0
    figures['exact'] = dict(
        write_s=round(write_s, 2),
        load_verified_s=round(load_s, 2),
        disk_mb=round(sum(
            s['bytes'] for s in index.manifest['shards']) / 2**20, 1),
        memory_mb=round(index.feats.nbytes / 2**20, 1),
        rss_delta_mb=round(rss_mb() - rss0, 1))
    # Ground truth: all queries in one pass over the float32 copy exact
    # search keeps (the float16-rounded stored values, which the
    # approximate index is built from too).
    t0 = time.perf_counter()
    f32 = index.float32_feats()
    figures['exact']['float32_copy_s'] = round(time.perf_counter() - t0, 2)
    figures['exact']['float32_copy_mb'] = round(f32.nbytes / 2**20, 1)
    _, exact_ids = exact_topk(f32, queries, 100)
    times = []
    for query in queries[:args.timed_exact]:
        t0 = time.perf_counter()
        exact_topk(f32, query[None], 100)
        times.append(time.perf_counter() - t0)
    figures['exact'].update(percentiles(times))
    figures['exact']['timed_queries'] = len(times)
    print('[vectors] exact:', json.dumps(figures['exact']), flush=True)
    if not faiss_available():
        print('[vectors] faiss is not installed: no approximate figures')
        return figures
    import faiss
    figures['faiss_threads'] = faiss.omp_get_max_threads()
    for kind in args.ann:
        rss0 = rss_mb()
        t0 = time.perf_counter()
        ann = AnnIndex(f32, kind)
        build_s = time.perf_counter() - t0
        result = dict(params=ann.params, build_s=round(build_s, 1),
                      rss_delta_mb=round(rss_mb() - rss0, 1))
        times, found = [], []
        for query in queries:
            t0 = time.perf_counter()
            _, ids = ann.search(query[None], 100)
            times.append(time.perf_counter() - t0)
            found.append(ids[0])
        result.update(percentiles(times))
        result['recall@10'] = round(recall(found, exact_ids, 10), 4)
        result['recall@100'] = round(recall(found, exact_ids, 100), 4)
        # Through the API (results as dicts), with the index cached.
        index.__dict__.setdefault('_ann_memo', {})[(
            kind, repr(sorted(dict(ANN_DEFAULTS[kind]).items())),
            False)] = ann
        times = []
        for query in queries[:50]:
            t0 = time.perf_counter()
            search_features(index, query, topk=100, method='ann',
                            ann_kind=kind)
            times.append(time.perf_counter() - t0)
        result['api_top100'] = percentiles(times)
        figures[kind] = result
        print(f'[vectors] {kind}:', json.dumps(result), flush=True)
        del ann
        index.__dict__['_ann_memo'] = {}
    return figures


def bench_model(args, work_dir):
    import cv2
    import torch

    from mmsearch.apis import (build_index, embed_query, init_searcher,
                               load_index, search_gallery, search_index)
    from mmsearch.utils import register_all_modules
    register_all_modules()
    figures = dict(config=args.config, checkpoint=args.checkpoint,
                   device=args.device, images=args.folder_images,
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
    report = build_index(model, index_dir, images=folder,
                         checkpoint=args.checkpoint,
                         batch_size=args.batch_size)
    build_s = time.perf_counter() - t0
    figures['index_build'] = dict(
        seconds=round(build_s, 1),
        images_per_second=round(args.folder_images / build_s, 2),
        embedding_images_per_second=report['images_per_second'],
        entries=report['num_entries'])
    print('[model] index build:', json.dumps(figures['index_build']),
          flush=True)
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
    figures = dict(cpu_count=os.cpu_count(),
                   load_average_before=[round(v, 2) for v in
                                        os.getloadavg()])
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
