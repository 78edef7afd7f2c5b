"""Index search: exact top-k, faiss, filters and per-image / per-window
ranking, each against a plain-loop reference."""
import math

import numpy as np
import pytest

from mmsearch.index import (GalleryIndex, add_shard, exact_topk,
                            faiss_available, search_features)
from mmsearch.index.format import empty_shard
from mmsearch.index.search import AnnIndex
from .test_exact import gpu_count
from .test_format import fake_signature

DIM = 8
needs_faiss = pytest.mark.skipif(
    not faiss_available(), reason='faiss is not installed')


def unit_rows(rng, num, dim=DIM):
    feats = rng.normal(size=(num, dim)).astype(np.float32)
    return feats / np.linalg.norm(feats, axis=1, keepdims=True)


def reference_topk(feats, query, k, keep=None):
    sims = []
    for i, row in enumerate(feats):
        if keep is None or keep[i]:
            sims.append(
                (sum(float(a) * float(b) for a, b in zip(row, query)), i))
    sims.sort(key=lambda pair: -pair[0])
    return sims[:k]


@pytest.mark.parametrize('dtype', ['float32', 'float16'])
def test_exact_topk_matches_a_plain_loop(dtype):
    rng = np.random.default_rng(0)
    feats = unit_rows(rng, 300).astype(dtype)
    queries = unit_rows(rng, 3)
    keep = rng.random(300) < 0.4
    for mask in (None, keep):
        sims, ids = exact_topk(feats, queries, 7, mask, chunk_size=64)
        for q, query in enumerate(queries):
            ref = reference_topk(feats, query, 7, mask)
            assert ids[q].tolist() == [i for _, i in ref]
            np.testing.assert_allclose(
                sims[q], [s for s, _ in ref], rtol=1e-5, atol=1e-6)
    # Fewer rows pass the mask than k: all of them, none invented.
    small = np.zeros(300, bool)
    small[[5, 9]] = True
    sims, ids = exact_topk(feats, queries, 7, small, chunk_size=64)
    assert ids.shape == (3, 2) and set(ids[0].tolist()) == {5, 9}


@pytest.fixture
def mixed_index(tmp_path):
    """Images of two cameras and two 10 fps videos with 3 people/frame."""
    rng = np.random.default_rng(3)
    arrays = empty_shard(DIM, 'float32')
    units = [('cam1/a.jpg', 'cam1', 'image'), ('cam1/b.jpg', 'cam1', 'image'),
             ('cam2/c.jpg', 'cam2', 'image'), ('/v/left.avi', 'left', 'video'),
             ('/v/right.avi', 'right', 'video')]
    entry_unit, frames = [], []
    for row, (_, _, kind) in enumerate(units):
        if kind == 'image':
            entry_unit += [row] * 3
            frames += [-1] * 3
        else:
            for frame in range(0, 40, 2):
                entry_unit += [row] * 3
                frames += [frame] * 3
    num = len(entry_unit)
    frames = np.array(frames, np.int64)
    arrays.update(
        feats=unit_rows(rng, num),
        boxes=rng.uniform(0, 50, (num, 4)).astype(np.float32),
        scores=np.ones(num, np.float32),
        entry_unit=np.array(entry_unit, np.int32),
        frames=frames,
        timestamps=np.where(frames >= 0, frames / 10.0, np.nan),
        unit_keys=np.array([u[0] for u in units]),
        unit_sources=np.array([u[0] for u in units]),
        unit_cameras=np.array([u[1] for u in units]),
        unit_kinds=np.array([u[2] for u in units]))
    add_shard(str(tmp_path), arrays, fake_signature(), 'float32')
    return GalleryIndex(str(tmp_path))


def reference_search(index,
                     query,
                     topk,
                     dedup=None,
                     window=1.0,
                     cameras=None,
                     videos=None,
                     time_range=None):
    """Plain loop: filter, rank, keep the best entry per group."""
    ranked = []
    for i in range(len(index)):
        unit = index.entry_unit[i]
        source = str(index.unit_sources[unit])
        video = index.unit_kinds[unit] == 'video'
        stamp = index.timestamps[i]
        if cameras is not None and index.unit_cameras[unit] not in cameras:
            continue
        if videos is not None and not (
                video and source.split('/')[-1].split('.')[0] in videos):
            continue
        if time_range is not None and not (
                video and time_range[0] <= stamp <= time_range[1]):
            continue
        sim = sum(float(a) * float(b) for a, b in zip(index.feats[i], query))
        ranked.append((sim, i, source, video, int(index.frames[i]), stamp))
    ranked.sort(key=lambda r: -r[0])
    seen, out = set(), []
    for sim, i, source, video, frame, stamp in ranked:
        if dedup == 'image':
            group = (source, frame)
        elif dedup == 'window':
            group = (source, math.floor(stamp / window) if video else -1)
        else:
            group = i
        if group in seen:
            continue
        seen.add(group)
        out.append(i)
    return out[:topk]


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(dedup='image'),
    dict(dedup='window', window=0.5),
    dict(dedup='window', window=2.0, cameras=['cam1', 'left']),
    dict(videos=['right']),
    dict(time_range=(1.0, 2.5)),
    dict(dedup='image', videos=['left', 'right'], time_range=(0.4, 3.0)),
    dict(cameras=['cam2']),
])
def test_search_filters_and_dedup_match_a_plain_loop(mixed_index, kwargs):
    query = unit_rows(np.random.default_rng(9), 1)[0]
    got = search_features(
        mixed_index, query, topk=12, method='exact', **kwargs)[0]
    ref = reference_search(mixed_index, query, 12, **kwargs)
    assert [r['entry_id'] for r in got] == ref
    assert [r['rank'] for r in got] == list(range(1, len(ref) + 1))
    if kwargs.get('dedup') == 'image':
        frames = [(r['source'], r['frame']) for r in got]
        assert len(set(frames)) == len(frames)


def test_search_checks_its_arguments(mixed_index):
    with pytest.raises(ValueError, match=r'D = 8'):
        search_features(mixed_index, np.ones(5), topk=3)
    with pytest.raises(ValueError, match='topk must be >= 1'):
        search_features(mixed_index, np.ones(8), topk=0)
    with pytest.raises(ValueError, match='dedup must be one of'):
        search_features(mixed_index, np.ones(8), dedup='frame')
    with pytest.raises(ValueError, match='start <= end'):
        search_features(mixed_index, np.ones(8), time_range=(3, 1))


@needs_faiss
def test_hnsw_recall_on_a_small_random_set():
    rng = np.random.default_rng(4)
    feats = unit_rows(rng, 3000, 32)
    queries = unit_rows(rng, 50, 32)
    _, exact_ids = exact_topk(feats, queries, 10)
    _, ann_ids = AnnIndex(feats, 'hnsw').search(queries, 10)
    recall = np.mean(
        [len(set(a) & set(e)) / 10 for a, e in zip(ann_ids, exact_ids)])
    assert recall >= 0.95


@needs_faiss
@pytest.mark.parametrize('codes', ['sq8', 'flat'])
def test_ivf_probing_every_list_is_exact(codes):
    rng = np.random.default_rng(5)
    feats = unit_rows(rng, 2000, 16)
    queries = unit_rows(rng, 20, 16)
    exact_sims, exact_ids = exact_topk(feats, queries, 10)
    ann = AnnIndex(feats, 'ivf', dict(nlist=20, nprobe=20, codes=codes))
    sims, ids = ann.search(queries, 10)
    np.testing.assert_array_equal(ids, exact_ids)
    if codes == 'sq8':  # 8-bit candidates re-ranked exactly
        np.testing.assert_array_equal(sims, exact_sims)
    np.testing.assert_allclose(sims, exact_sims, rtol=1e-5, atol=1e-5)
    partial = AnnIndex(feats, 'ivf', dict(nlist=20, nprobe=1, codes=codes))
    _, few = partial.search(queries, 10)
    assert (few != exact_ids).any()  # nprobe is applied
    # More results asked than found: -1 ids, never invented ones.
    sims, ids = AnnIndex(feats[:50], 'ivf',
                         dict(codes=codes)).search(queries[:2], 60)
    assert ids.shape == (2, 60) and (ids[:, 50:] == -1).all()
    assert sorted(ids[0, :50].tolist()) == list(range(50))


@needs_faiss
def test_ivf_codes_are_checked():
    with pytest.raises(ValueError, match="IVF codes must be one of"):
        AnnIndex(np.eye(4, dtype=np.float32), 'ivf', dict(codes='pq'))


@pytest.mark.skipif(gpu_count() == 0, reason='needs GPU faiss and a GPU')
def test_ivf_on_the_gpu_probing_every_list_is_exact():
    rng = np.random.default_rng(5)
    feats = unit_rows(rng, 2000, 16)
    queries = unit_rows(rng, 20, 16)
    _, exact_ids = exact_topk(feats, queries, 10)
    ann = AnnIndex(feats, 'ivf', dict(nlist=20, nprobe=20), use_gpu=True)
    assert ann.index is not ann.cpu_index
    _, ids = ann.search(queries, 10)
    np.testing.assert_array_equal(ids, exact_ids)


@needs_faiss
@pytest.mark.parametrize(
    'kwargs',
    [
        dict(),
        dict(dedup='image'),
        dict(cameras=['cam2']),  # 3 of 135 entries: narrow filter
        dict(dedup='window', window=1.0, videos=['left']),
    ])
def test_ann_search_equals_exact_on_a_small_index(mixed_index, kwargs,
                                                  tmp_path):
    query = unit_rows(np.random.default_rng(10), 1)[0]
    exact = search_features(
        mixed_index, query, topk=8, method='exact', **kwargs)[0]
    for kind in ('ivf', 'hnsw'):
        ann = search_features(
            mixed_index, query, topk=8, method='ann', ann_kind=kind,
            **kwargs)[0]
        assert [r['entry_id'] for r in ann] == [r['entry_id'] for r in exact]


def test_exact_topk_float64_queries_keep_float32_products():
    """float64 queries give the float32 ranking (and no float64 copies of
    the gallery)."""
    rng = np.random.default_rng(6)
    feats = unit_rows(rng, 50)
    query = unit_rows(rng, 1).astype(np.float64)
    sims, ids = exact_topk(feats, query, 5)
    assert sims.dtype == np.float32
    assert ids[0].tolist() == [
        i for _, i in reference_topk(feats, query[0], 5)
    ]
