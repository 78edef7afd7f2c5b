"""Exact search (numpy pass and the faiss 8-bit scanner) against a plain
numpy reference: the full matrix product and a sort."""
import numpy as np
import pytest

from mmsearch.index import GalleryIndex, add_shard, exact_topk, faiss_available
from mmsearch.index import search as search_module
from mmsearch.index import search_features
from mmsearch.index.exact import DIRECT_ROWS, ExactScanner, certified_topk
from mmsearch.index.format import empty_shard
from .test_format import fake_signature

needs_faiss = pytest.mark.skipif(
    not faiss_available(), reason='faiss is not installed')


def gpu_count():
    if not faiss_available():
        return 0
    import faiss
    return faiss.get_num_gpus() if hasattr(faiss, 'get_num_gpus') else 0


def clustered_rows(rng, num, dim, dtype=np.float32):
    """Unit rows in tight clusters (many near-ties: an 8-bit scan alone
    mis-orders them), with 40 exact copies of row 7 (exact ties) and, in
    rows 2000-2299, 300 near-copies of row 11 (more rows within the scan's
    error than its first fetch: it must fetch again)."""
    centres = rng.normal(size=(num // 50, dim))
    feats = centres[rng.integers(
        0, len(centres),
        num)] + 0.3 * rng.normal(size=(num, dim)) / np.sqrt(dim)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    feats = feats.astype(dtype)
    feats[1000:1040] = feats[7]
    if num >= 3000:
        near = feats[11] + 3e-3 * rng.normal(size=(300, dim)) / np.sqrt(dim)
        feats[2000:2300] = near / np.linalg.norm(near, axis=1, keepdims=True)
    return feats


def reference(feats, queries, k, mask=None, rounded=False):
    """The plain reference: the float32 matrix product and a stable sort
    of every row. ``rounded``: float64 sums rounded to float32 instead
    (one value per row whatever the summation order): exact search's
    numbers, bit for bit."""
    dtype = np.float64 if rounded else np.float32
    sims = (queries.astype(dtype) @ feats.astype(dtype).T).astype(np.float32)
    if mask is not None:
        sims[:, ~mask] = -np.inf
    order = np.argsort(-sims, axis=1, kind='stable')
    valid = len(feats) if mask is None else int(mask.sum())
    order = order[:, :min(k, valid)]
    return np.take_along_axis(sims, order, 1), order


def assert_matches_references(feats, queries, k, mask, sims, ids):
    ref_s, ref_i = reference(feats, queries, k, mask, rounded=True)
    np.testing.assert_array_equal(ids, ref_i)
    np.testing.assert_array_equal(sims, ref_s)
    # Against the float32 product: the same scores up to float32 rounding
    # and the same ids wherever the scores are not within rounding.
    f32_s, f32_i = reference(feats, queries, k, mask)
    np.testing.assert_allclose(sims, f32_s, rtol=0, atol=2e-6)
    for row in range(len(queries)):
        for pos in range(ids.shape[1]):
            gaps = np.abs(f32_s[row] - f32_s[row, pos])
            if (gaps < 1e-5).sum() == 1:  # no near-tie: ids agree
                assert ids[row, pos] == f32_i[row, pos]


@pytest.fixture(scope='module')
def data():
    rng = np.random.default_rng(0)
    feats = clustered_rows(rng, 20000, 24, np.float16)
    queries = np.concatenate([
        feats[[7, 3, 11000, 11]].astype(np.float32),  # 7: 41 exact ties
        rng.normal(size=(2, 24)).astype(np.float32)
    ])
    keep_half = rng.random(len(feats)) < 0.5
    keep_half[[7, 1003, 1020]] = True  # ties survive the mask
    keep_few = np.zeros(len(feats), bool)
    keep_few[[5, 1010, 19999]] = True
    return feats, queries, dict(
        none=None,
        half=keep_half,
        few=keep_few,
        over_direct=rng.random(len(feats)) < (DIRECT_ROWS + 500) / 20000)


@pytest.mark.parametrize('mask_name', ['none', 'half', 'few', 'over_direct'])
@pytest.mark.parametrize('k', [1, 10, 60, 500])
def test_numpy_exact_topk_matches_the_reference(data, mask_name, k):
    feats, queries, masks = data
    mask = masks[mask_name]
    sims, ids = exact_topk(feats, queries, k, mask, chunk_size=3001)
    assert_matches_references(feats, queries, k, mask, sims, ids)


@needs_faiss
@pytest.mark.parametrize('num_shards', [1, 3])
@pytest.mark.parametrize('mask_name', ['none', 'half', 'few', 'over_direct'])
@pytest.mark.parametrize('k', [1, 10, 60, 500])
def test_scanner_matches_the_reference(data, num_shards, mask_name, k):
    feats, queries, masks = data
    scanner = ExactScanner(feats, num_shards=num_shards)
    mask = masks[mask_name]
    sims, ids = exact_topk(feats, queries, k, mask, scanner=scanner)
    assert_matches_references(feats, queries, k, mask, sims, ids)


@needs_faiss
def test_scanner_ties_and_more_k_than_rows(data):
    feats, queries, masks = data
    scanner = ExactScanner(feats, num_shards=2)
    # Row 7 and its 40 copies tie exactly: the lowest ids first.
    sims, ids = scanner.search(queries[:1], 30)
    assert ids[0].tolist() == [7] + list(range(1000, 1029))
    assert len(set(sims[0].tolist())) == 1
    # k beyond the kept rows: every kept row, none invented.
    sims, ids = exact_topk(feats, queries, 10, masks['few'], scanner=scanner)
    assert ids.shape == (6, 3)
    assert set(ids[0].tolist()) == {5, 1010, 19999}
    sims, ids = scanner.search(queries[:1], len(feats) + 7)
    assert sorted(ids[0].tolist()) == list(range(len(feats)))
    assert np.all(np.diff(sims[0]) <= 0)


@needs_faiss
def test_the_8bit_scan_alone_is_not_exact(data):
    """The data are hard enough that the re-rank matters: the scan's own
    order differs from the exact one (else the tests above prove
    nothing)."""
    feats, queries, _ = data
    scanner = ExactScanner(feats, num_shards=1)
    _, scan_ids = scanner.shards[0].search(queries, 60)
    _, ref_ids = reference(feats, queries, 60, rounded=True)
    assert (scan_ids != ref_ids).any()
    assert 0 < scanner.max_error < 0.05


def test_a_broken_error_bound_is_refused():
    """A cheap pass whose scores stray beyond its stated bound fails
    loudly instead of silently losing results."""
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(100, 4)).astype(np.float32)
    query = rng.normal(size=(1, 4)).astype(np.float32)
    exact = (feats.astype(np.float64) @ query[0].astype(np.float64))

    def coarse(queries, fetch):
        lied = exact + rng.normal(scale=0.5, size=len(exact))
        order = np.argsort(-lied)[:fetch]
        return [[(lied[order], order)]]

    with pytest.raises(RuntimeError, match='broke their error bound'):
        certified_topk(feats, query, 5, len(feats), coarse, np.array([1e-3]))


@needs_faiss
def test_search_features_uses_the_scanner(tmp_path, monkeypatch):
    """Through the index API: a scanned large index gives the reference
    ranking, filters included (two of three cameras keep 10,667 rows:
    more than DIRECT_ROWS, so the filtered search scans too)."""
    rng = np.random.default_rng(2)
    num, dim = 16000, 8
    arrays = empty_shard(dim, 'float16')
    arrays.update(
        feats=clustered_rows(rng, num, dim, np.float16),
        boxes=np.zeros((num, 4), np.float32),
        scores=np.ones(num, np.float32),
        entry_unit=(np.arange(num) // 4).astype(np.int32),
        frames=np.full(num, -1, np.int64),
        timestamps=np.full(num, np.nan))
    units = num // 4
    arrays['unit_keys'] = np.array([f'image:{i}.jpg' for i in range(units)])
    arrays['unit_sources'] = np.array([f'{i}.jpg' for i in range(units)])
    arrays['unit_cameras'] = np.array([f'cam{i % 3}' for i in range(units)])
    arrays['unit_kinds'] = np.full(units, 'image')
    add_shard(str(tmp_path), arrays, fake_signature(), 'float16')
    index = GalleryIndex(str(tmp_path))
    monkeypatch.setattr(search_module, 'SCAN_FROM', 10000)
    query = rng.normal(size=dim).astype(np.float32)
    query /= np.linalg.norm(query)
    for cameras in (None, ['cam0', 'cam2']):
        got = search_features(
            index, query, topk=25, method='exact', cameras=cameras)[0]
        mask = index.filter_mask(cameras=cameras)
        _, ref = reference(index.feats, query[None], 25, mask, rounded=True)
        assert [r['entry_id'] for r in got] == ref[0].tolist()
    assert False in index.__dict__['_scanner_memo']


@pytest.mark.skipif(gpu_count() == 0, reason='needs GPU faiss and a GPU')
def test_gpu_scan_matches_the_cpu_scan(data):
    feats, queries, masks = data
    gpu = ExactScanner(feats, num_shards=2, use_gpu=True)
    assert gpu.gpu_index is not None
    for mask in (None, masks['half']):
        sims, ids = exact_topk(feats, queries, 60, mask, scanner=gpu)
        assert_matches_references(feats, queries, 60, mask, sims, ids)
