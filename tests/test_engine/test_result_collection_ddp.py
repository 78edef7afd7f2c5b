"""Two gloo ranks with padded samplers give the numbers of one process."""
import json

import numpy as np
import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

from mmsearch.evaluation import PersonSearchMetric, collect_unique_results


def make_samples(seed=0, num_images=7, num_queries=5, feat_dim=4):
    """Random PRW-style gallery and query results as plain dicts."""
    rng = np.random.default_rng(seed)
    gallery = []
    for i in range(num_images):
        num_gts = int(rng.integers(1, 4))
        xy = rng.uniform(0, 100, (num_gts, 2))
        gts = np.c_[xy, xy + rng.uniform(20, 60, (num_gts, 2))]
        dets = gts + rng.normal(0, 3, gts.shape)
        feats = rng.normal(size=(num_gts, feat_dim))
        feats /= np.linalg.norm(feats, axis=1, keepdims=True)
        gallery.append(
            dict(
                img_id=f'{i}.jpg',
                cam_id=int(rng.integers(0, 3)),
                pred_instances=dict(
                    bboxes=torch.tensor(dets, dtype=torch.float32),
                    scores=torch.tensor(rng.uniform(0.4, 1, num_gts)),
                    labels=torch.zeros(num_gts, dtype=torch.long),
                    reid_feats=torch.tensor(feats, dtype=torch.float32)),
                gt_instances=dict(
                    bboxes=torch.tensor(gts, dtype=torch.float32),
                    person_ids=torch.tensor(rng.integers(-1, 3, num_gts)))))
    queries = []
    for q in range(num_queries):
        feat = rng.normal(size=feat_dim)
        queries.append(
            dict(
                img_id=f'{int(rng.integers(0, num_images))}.jpg',
                cam_id=0,
                query_index=q,
                query_person_id=int(rng.integers(0, 3)),
                query_bbox=[0.0, 0.0, 30.0, 60.0],
                pred_query_feat=torch.tensor(
                    feat / np.linalg.norm(feat), dtype=torch.float32)))
    return gallery, queries


def padded_shard(items, rank, world_size):
    """What mmengine's DefaultSampler(shuffle=False) gives one rank."""
    total = -(-len(items) // world_size) * world_size
    indices = (list(range(len(items))) * 2)[:total]
    return [items[i] for i in indices[rank::world_size]]


def evaluate(gallery, queries, rank=0, world_size=1):
    metric = PersonSearchMetric(protocol='prw')
    metric.dataset_meta = dict(
        dataset_name='prw',
        num_gallery_images=len(gallery),
        num_queries=len(queries))
    metric.process({}, padded_shard(gallery, rank, world_size))
    metric.process({}, padded_shard(queries, rank, world_size))
    return metric.evaluate(len(gallery) + len(queries))


def _worker(rank, world_size, init_file, out_prefix):
    torch_dist.init_process_group(
        'gloo',
        init_method=f'file://{init_file}',
        rank=rank,
        world_size=world_size)
    try:
        metrics = evaluate(*make_samples(), rank, world_size)
        with open(f'{out_prefix}{rank}.json', 'w') as f:
            json.dump(metrics, f)
    finally:
        torch_dist.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_equal_one(tmp_path):
    expected = evaluate(*make_samples())
    mp.spawn(
        _worker,
        args=(2, str(tmp_path / 'init'), str(tmp_path / 'r')),
        nprocs=2,
        join=True)
    for rank in range(2):
        got = json.loads((tmp_path / f'r{rank}.json').read_text())
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, abs=1e-12), key


def test_padding_duplicates_removed_and_sorted():
    results = [
        dict(kind='query', query_index=1),
        dict(kind='gallery', img_id='b'),
        dict(kind='query', query_index=0),
        dict(kind='query', query_index=1)
    ]  # padding duplicate
    out = collect_unique_results(
        results, lambda r: (r['kind'], r.get('query_index', r.get('img_id'))),
        dict(gallery=1, query=2))
    assert [(r['kind'], r.get('query_index'))
            for r in out] == [('gallery', None), ('query', 0), ('query', 1)]
    with pytest.raises(ValueError, match='expected 3 distinct query'):
        collect_unique_results(
            results, lambda r:
            (r['kind'], id(r) if r['kind'] == 'gallery' else r['query_index']),
            dict(query=3))
