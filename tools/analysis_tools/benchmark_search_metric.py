"""Time PersonSearchMetric against the per-query loop reference.

Builds synthetic metric inputs at CUHK-SYSU scale (6,978 gallery images,
about 6 detections each, 2,900 queries, galleries 50 ... 4000 and full) and
PRW scale (6,112 frames, 6 cameras, 2,057 queries, whole and multi-view
galleries), then reports:

- the metric's ``compute_metrics`` time (detection + every gallery),
- the vectorised search core and the loop reference on the same queries
  (the loop on a subset, extrapolated to all queries, said so in the
  output), the speed-up and the largest AP difference,
- peak memory: traced numpy/Python allocations of the search core
  (tracemalloc) and the process's maximum resident size.

The synthetic inputs (:func:`make_problem`, :func:`cuhk_rows`) also feed
``benchmark_protocol_files.py``, which times reading the CUHK-SYSU protocol
files written from them.

Example::

    python tools/analysis_tools/benchmark_search_metric.py --loop-queries 50
"""
import argparse
import resource
import time
import tracemalloc

import numpy as np

from mmsearch.evaluation import PersonSearchMetric
from mmsearch.evaluation.functional import (CameraGallery, ListedGallery,
                                            build_search_gallery,
                                            evaluate_search, reference_search)

CUHK_SIZES = (50, 100, 500, 1000, 2000, 4000)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--protocols',
        nargs='+',
        default=['cuhk', 'prw'],
        choices=['cuhk', 'prw'])
    parser.add_argument(
        '--loop-queries',
        type=int,
        default=50,
        help='queries timed with the loop reference')
    parser.add_argument('--feat-dim', type=int, default=256)
    parser.add_argument(
        '--cbgm', action='store_true', help='also time CBGM re-ranking')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--scale',
        type=float,
        default=1.0,
        help='shrink the problems (images, queries, persons) by this factor')
    return parser.parse_args()


def unit_rows(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_problem(rng,
                 num_images,
                 num_queries,
                 num_persons,
                 feat_dim,
                 num_cams=None,
                 protocol_ids=False):
    """Gallery and query samples (as the metric receives them).

    Each image holds 2-9 people (ids drawn from ``num_persons``, else
    unlabelled); detections are jittered gt boxes plus a few false ones;
    a person's detection features are its identity feature plus noise.
    With ``protocol_ids`` (CUHK-SYSU) each query is a different person whose
    id is the query index.
    """
    identity = unit_rows(rng.standard_normal((num_persons, feat_dim)))
    gallery, person_imgs = [], [[] for _ in range(num_persons)]
    for i in range(num_images):
        num_gts = int(rng.integers(2, 10))
        xy = rng.uniform(0, 1200, (num_gts, 2))
        gts = np.c_[xy, xy + rng.uniform(15, 250, (num_gts, 2))]
        pids = np.where(
            rng.random(num_gts) < 0.5, rng.integers(0, num_persons, num_gts),
            -1)
        for p in set(pids[pids >= 0].tolist()):
            person_imgs[p].append(i)
        keep = rng.random(num_gts) < 0.85
        dets = gts[keep] + rng.normal(0, 6, (keep.sum(), 4))
        false = rng.uniform(0, 1200, (int(rng.integers(0, 2)), 2))
        dets = np.r_[dets, np.c_[false, false + 80]]
        base = np.r_[np.where(pids[
            keep, None] >= 0, identity[np.maximum(pids[keep], 0)], 0),
                     np.zeros((len(false), feat_dim))]
        feats = unit_rows(base + 2.5 * rng.standard_normal(base.shape) /
                          np.sqrt(feat_dim))
        gallery.append(
            dict(
                img_id=f'{i:05d}.jpg',
                cam_id=None if num_cams is None else int(i % num_cams),
                pred_instances=dict(
                    bboxes=dets,
                    scores=rng.uniform(0.3, 1, len(dets)),
                    reid_feats=feats),
                gt_instances=dict(bboxes=gts, person_ids=pids)))
    persons = [p for p in range(num_persons) if len(person_imgs[p]) >= 2]
    if protocol_ids:
        # CUHK-SYSU: one person per query, re-labelled to the query index;
        # people never queried become unlabelled
        persons = rng.permutation(persons)[:num_queries]
        new_ids = np.full(num_persons + 1, -1)  # new_ids[-1]: unlabelled
        new_ids[persons] = np.arange(len(persons))
        for info in gallery:
            info['gt_instances']['person_ids'] = new_ids[info['gt_instances']
                                                         ['person_ids']]
        identity = identity[persons]
        person_imgs = [person_imgs[p] for p in persons]
        persons = list(range(len(persons)))
    queries = []
    for q in range(num_queries):
        p = persons[q] if protocol_ids else persons[int(
            rng.integers(len(persons)))]
        q_img = person_imgs[p][0]
        info = gallery[q_img]
        box = info['gt_instances']['bboxes'][info['gt_instances']['person_ids']
                                             == p][0]
        queries.append(
            dict(
                img_id=info['img_id'],
                cam_id=info['cam_id'],
                query_index=q,
                query_person_id=p,
                query_bbox=box,
                pred_query_feat=unit_rows(identity[p][None] +
                                          rng.standard_normal((1, feat_dim)) /
                                          np.sqrt(feat_dim))[0],
                pred_instances=info['pred_instances']))
    return gallery, queries, person_imgs


def cuhk_rows(rng, gallery, queries, person_imgs):
    """TestG{N}-like lists: the person's other images, then distractors.

    Returns:
        dict: gallery size -> (Q, N) object array of image ids.
    """
    img_ids = np.array([g['img_id'] for g in gallery], dtype=object)
    rows = {size: [] for size in CUHK_SIZES}
    for r in queries:
        q_img = int(r['img_id'][:5])
        pos = [i for i in person_imgs[r['query_person_id']] if i != q_img]
        taken = set(pos) | {q_img}
        neg = [
            i for i in rng.permutation(len(gallery))[:max(CUHK_SIZES) +
                                                     len(taken)]
            if i not in taken
        ]
        for size in CUHK_SIZES:
            rows[size].append(pos[:size] + neg[:size - len(pos[:size])])
    return {size: img_ids[np.array(r)] for size, r in rows.items()}


def cuhk_lists(rng, gallery, queries, person_imgs):
    """``gallery_protocol`` callable over :func:`cuhk_rows`."""
    lists = cuhk_rows(rng, gallery, queries, person_imgs)
    return lambda name: (np.arange(len(queries)), lists[name])


def search_inputs(metric, protocol, results):
    """The arguments the metric hands to evaluate_search."""
    gallery_res = [r for r in results if r['kind'] == 'gallery']
    queries = [r for r in results if r['kind'] == 'query']
    gallery = build_search_gallery(
        *[[r[k] for r in gallery_res]
          for k in ('img_id', 'det_bboxes', 'det_scores', 'det_feats',
                    'gt_bboxes', 'gt_person_ids')],
        cam_ids=None
        if protocol == 'cuhk' else [r['cam_id'] for r in gallery_res],
        det_thresh=metric.det_thresh)
    index = {img: i for i, img in enumerate(gallery.img_ids.tolist())}
    q_img = np.array([index.get(r['img_id'], -1) for r in queries])
    feats = np.stack([r['query_feat'] for r in queries])
    pids = np.array([r['query_person_id'] for r in queries])
    cams = None if protocol == 'cuhk' else np.array(
        [r['cam_id'] for r in queries])
    if protocol == 'cuhk':
        fn = metric.dataset_meta['gallery_protocol']
        galleries = {
            str(s): ListedGallery(gallery.index_of(fn(s)[1], str(s)))
            for s in CUHK_SIZES
        }
        galleries['full'] = ListedGallery(galleries['50'].img_indices, True)
    else:
        galleries = {'all': CameraGallery(), 'multiview': CameraGallery(True)}
    return feats, pids, q_img, gallery, galleries, cams


def subset(galleries, rows):
    return {
        n: ListedGallery(g.img_indices[rows], g.add_rest) if isinstance(
            g, ListedGallery) else g
        for n, g in galleries.items()
    }


def benchmark(protocol, args, rng):
    if protocol == 'cuhk':
        scale = dict(
            num_images=6978,
            num_queries=2900,
            num_persons=3300,
            protocol_ids=True)
    else:
        scale = dict(
            num_images=6112, num_queries=2057, num_persons=450, num_cams=6)
    for key in ('num_images', 'num_queries', 'num_persons'):
        scale[key] = max(int(scale[key] * args.scale), 4)
    t0 = time.perf_counter()
    gallery, queries, person_imgs = make_problem(
        rng, feat_dim=args.feat_dim, **scale)
    meta = dict(
        dataset_name='cuhk_sysu' if protocol == 'cuhk' else 'prw',
        num_gallery_images=len(gallery),
        num_queries=len(queries))
    if protocol == 'cuhk':
        meta['gallery_protocol'] = cuhk_lists(rng, gallery, queries,
                                              person_imgs)
    metric = PersonSearchMetric(
        gallery_sizes=CUHK_SIZES + ('full', ), cbgm=args.cbgm)
    metric.dataset_meta = meta
    metric.process({}, gallery)
    metric.process({}, queries)
    num_dets = sum(len(g['pred_instances']['scores']) for g in gallery)
    print(f'\n== {protocol}: {len(gallery)} gallery images, {num_dets} '
          f'detections, {len(queries)} queries, D={args.feat_dim} '
          f'(built in {time.perf_counter() - t0:.1f} s)')

    t0 = time.perf_counter()
    metrics = metric.compute_metrics(metric.results)
    t_metric = time.perf_counter() - t0
    keys = [k for k in metrics if 'mAP' in k]
    print(f'PersonSearchMetric.compute_metrics (detection + '
          f'{len(keys)} galleries{" + CBGM" if args.cbgm else ""}): '
          f'{t_metric:.2f} s')

    feats, pids, q_img, search_gallery, galleries, cams = search_inputs(
        metric, protocol, metric.results)
    t0 = time.perf_counter()
    fast = evaluate_search(feats, pids, q_img, search_gallery, galleries, cams)
    t_fast = time.perf_counter() - t0
    tracemalloc.start()
    evaluate_search(feats, pids, q_img, search_gallery, galleries, cams)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    rows = np.arange(min(args.loop_queries, len(feats)))
    t0 = time.perf_counter()
    loop = reference_search(feats[rows],
                            pids[rows], q_img[rows], search_gallery,
                            subset(galleries,
                                   rows), None if cams is None else cams[rows])
    t_loop_sub = time.perf_counter() - t0
    t_loop = t_loop_sub * len(feats) / len(rows)
    max_diff = max(
        np.abs(fast[n].ap[rows] - loop[n].ap).max() for n in galleries)
    same_topk = all(
        np.array_equal(fast[n].topk_hits[rows], loop[n].topk_hits)
        for n in galleries)
    print(f'search core, vectorised, all {len(feats)} queries x '
          f'{len(galleries)} galleries: {t_fast:.2f} s')
    print(f'loop reference: {t_loop_sub:.2f} s on {len(rows)} queries -> '
          f'{t_loop:.1f} s extrapolated to {len(feats)} queries')
    print(f'speed-up (loop / vectorised): {t_loop / t_fast:.0f}x')
    print(f'largest |AP difference| on those queries: {max_diff:.2e}; '
          f'top-k identical: {same_topk}')
    print(f'peak traced memory of the search core: {peak / 2**20:.0f} MiB')
    for name in galleries:
        print(f'  {name:>10}: mAP {100 * fast[name].ap.mean():6.2f}  top-1 '
              f'{100 * fast[name].topk_hits[:, 0].mean():6.2f}')


def main():
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    for protocol in args.protocols:
        benchmark(protocol, args, rng)
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(f'\nprocess peak resident memory: {max_rss:.0f} MiB')


if __name__ == '__main__':
    main()
