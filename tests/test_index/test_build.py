"""Building, appending to and resuming a gallery index with a tiny R-18
model; searching it through the API and the tools."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import numpy as np
import pytest

from mmsearch.apis import (build_index, embed_query, load_index,
                           search_gallery, search_index)
from mmsearch.index import GalleryIndex, IndexNotFoundError, ModelMismatchError
from .conftest import ROOT, VIDEO_FPS, make_model


@pytest.fixture(scope='module')
def folder_index(model, gallery, tmp_path_factory):
    """The gallery folder indexed once (float32, every score kept)."""
    index_dir = str(tmp_path_factory.mktemp('idx') / 'folder.idx')
    report = build_index(
        model,
        index_dir,
        images=gallery['root'],
        score_thr=0.0,
        batch_size=3,
        feat_dtype='float32',
        show_progress=False)
    return index_dir, report


def test_build_report_counts_and_skips(folder_index, gallery):
    index_dir, report = folder_index
    assert report['units_requested'] == 6
    assert report['units_embedded'] == 6
    assert report['images_embedded'] == 4
    assert report['skipped'] == 2
    reasons = dict(report['skipped_items'])
    assert 'truncated JPEG' in reasons['image:' + gallery['bad'][1]]
    assert 'not a decodable image' in reasons['image:' + gallery['bad'][0]]
    assert report['entries_added'] == report['num_entries'] == 12
    assert os.listdir(osp.join(index_dir, 'reports'))
    assert not osp.exists(osp.join(index_dir, 'parts'))


def test_index_holds_what_search_gallery_finds(model, folder_index, gallery):
    """Every detection search_gallery ranks (one image at a time) is in the
    index with the same box, score and similarity."""
    index_dir, _ = folder_index
    index = load_index(index_dir, model=model)
    query = embed_query(model, gallery['good'][0], [10, 10, 40, 80])
    reference = search_gallery(model, query, gallery['good'], score_thr=0.0)
    results = search_index(
        index, feature=query.numpy(), topk=len(index), method='exact')
    assert len(results) == len(reference) == len(index)
    key = lambda src, box: (src, tuple(np.round(box, 0)))  # noqa: E731
    got = sorted((key(r['source'], r['box']), r['score'], r['similarity'])
                 for r in results)
    ref = sorted(
        (key(m.img_path, m.bbox), m.score, m.similarity) for m in reference)
    for (g_key, g_score, g_sim), (r_key, r_score, r_sim) in zip(got, ref):
        assert g_key == r_key
        assert g_score == pytest.approx(r_score, abs=1e-4)
        assert g_sim == pytest.approx(r_sim, abs=1e-4)
    cams = {r['source']: r['camera'] for r in results}
    assert cams[gallery['good'][0]] == 'cam1'
    assert cams[gallery['good'][2]] == 'cam2'
    assert cams[gallery['good'][3]] == osp.basename(gallery['root'])


def test_query_by_entry_and_by_image(model, folder_index, gallery):
    index_dir, _ = folder_index
    index = load_index(index_dir)
    top = search_index(index, entry_id=5, topk=3)
    assert top[0]['entry_id'] == 5
    assert top[0]['similarity'] == pytest.approx(1.0, abs=1e-5)
    box = [10, 10, 40, 80]
    by_image = search_index(
        index, model=model, image=gallery['good'][1], box=box, topk=4)
    feat = embed_query(model, gallery['good'][1], box).numpy()
    sims = index.feats.astype(np.float64) @ feat
    assert [r['entry_id'] for r in by_image] == list(np.argsort(-sims)[:4])
    with pytest.raises(ValueError, match='exactly one query'):
        search_index(index, entry_id=1, feature=feat)


def test_foreign_model_and_missing_index_are_refused(tiny_config, folder_index,
                                                     gallery, tmp_path):
    index_dir, _ = folder_index
    other = make_model(tiny_config, seed=1)
    with pytest.raises(ModelMismatchError, match='probe embeddings differ'):
        load_index(index_dir, model=other)
    with pytest.raises(ModelMismatchError, match='embeds differently'):
        search_index(
            index_dir,
            model=other,
            image=gallery['good'][0],
            box=[10, 10, 40, 80])
    with pytest.raises(ModelMismatchError):
        build_index(
            other,
            index_dir,
            images=gallery['good'][:1],
            score_thr=0.0,
            show_progress=False)
    with pytest.raises(IndexNotFoundError, match='not found'):
        load_index(str(tmp_path / 'none.idx'))


def test_append_a_video_then_rerun(model, folder_index, videos, tmp_path):
    """Appending keeps earlier entries; a rerun embeds nothing; frames are
    sampled every 3rd with their timestamps; a corrupt video is counted."""
    import shutil
    index_dir = str(tmp_path / 'copy.idx')
    shutil.copytree(folder_index[0], index_dir)
    before = GalleryIndex(index_dir)
    report = build_index(
        model,
        index_dir,
        videos=[videos['good'], videos['bad']],
        frame_step=3,
        score_thr=0.0,
        show_progress=False)
    assert report['units_embedded'] == 2
    assert report['images_embedded'] == 3  # frames 0, 3, 6 of 8
    assert report['skipped'] == 1
    assert 'cannot open video' in report['skipped_items'][0][1]
    after = GalleryIndex(index_dir)
    np.testing.assert_array_equal(after.feats[:len(before)], before.feats)
    assert len(after) == len(before) + 9
    new = [after.entry(i) for i in range(len(before), len(after))]
    assert {e['kind'] for e in new} == {'video'}
    assert sorted({e['frame'] for e in new}) == [0, 3, 6]
    for entry in new:
        assert entry['timestamp'] == pytest.approx(entry['frame'] / VIDEO_FPS)
        assert entry['camera'] == 'street'
    rerun = build_index(
        model,
        index_dir,
        videos=[videos['good']],
        frame_step=3,
        score_thr=0.0,
        show_progress=False)
    assert rerun['units_embedded'] == 0 and rerun['entries_added'] == 0
    assert len(GalleryIndex(index_dir)) == len(after)
    # Filters and one best box per frame over the appended video.
    hits = search_index(
        after, entry_id=len(before), topk=10, videos=['street'], dedup='image')
    assert [h['frame'] for h in hits] and len(hits) == 3
    assert all(h['kind'] == 'video' for h in hits)


class Killed(Exception):
    pass


def test_resume_after_a_kill(model, folder_index, gallery, tmp_path):
    index_dir = str(tmp_path / 'killed.idx')
    embedded = []

    def kill_after_two(done, total):
        embedded.append(done)
        if done == 2:
            raise Killed

    with pytest.raises(Killed):
        build_index(
            model,
            index_dir,
            images=gallery['root'],
            score_thr=0.0,
            feat_dtype='float32',
            part_units=1,
            show_progress=False,
            on_unit_done=kill_after_two)
    # Nothing half-done loads: the index is still empty.
    assert len(GalleryIndex(index_dir)) == 0
    parts = osp.join(index_dir, 'parts')
    assert len([n for n in os.listdir(parts) if n.endswith('.npz')]) == 2
    # Debris of writes killed at various points: never taken as done.
    with open(osp.join(parts, 'r000-1-1.npz.tmp-99'), 'wb') as file:
        file.write(b'PK\x03\x04half')
    with open(osp.join(parts, 'r000-2-1.npz'), 'wb') as file:
        file.write(b'PK\x03\x04no sidecar')
    with open(osp.join(parts, 'r000-3-1.npz'), 'wb') as file:
        file.write(b'PK\x03\x04wrong checksum')
    with open(osp.join(parts, 'r000-3-1.json'), 'w') as file:
        json.dump(dict(sha256='0' * 64), file)
    with open(osp.join(index_dir, 'shards', 'shard-00000.npz'), 'wb') as f:
        f.write(b'PK\x03\x04stray')
    embedded.clear()
    report = build_index(
        model,
        index_dir,
        images=gallery['root'],
        score_thr=0.0,
        part_units=1,
        show_progress=False,
        on_unit_done=lambda done, total: embedded.append(done))
    assert report['units_already_done'] == 2
    assert report['units_embedded'] == 4 and embedded == [1, 2, 3, 4]
    resumed = GalleryIndex(index_dir)
    clean = GalleryIndex(folder_index[0])
    assert resumed.unit_keys.tolist() == clean.unit_keys.tolist()
    np.testing.assert_allclose(resumed.feats, clean.feats, atol=1e-5)
    np.testing.assert_allclose(resumed.boxes, clean.boxes, atol=1e-3)
    assert sorted(resumed.skipped) == sorted(clean.skipped)
    assert not osp.exists(parts)


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_process_build_equals_one_process(tiny_config, checkpoint,
                                              folder_index, gallery, tmp_path):
    from mmsearch.testing import multiprocess_env
    index_dir = str(tmp_path / 'dist.idx')
    env = multiprocess_env(2)
    env.update(PORT=str(_free_port()), OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (ROOT, env.get('PYTHONPATH')) if p)
    result = subprocess.run([
        'bash', 'tools/index/dist_build_index.sh', tiny_config, checkpoint,
        '2', index_dir, '--images', gallery['root'], '--score-thr', '0',
        '--batch-size', '3', '--feat-dtype', 'float32'
    ],
                            cwd=ROOT,
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=600)
    assert result.returncode == 0, (
        result.stdout[-3000:] + result.stderr[-5000:])
    report, _ = json.JSONDecoder().raw_decode(
        result.stdout[result.stdout.index('{'):])
    assert report['world_size'] == 2 and report['images_embedded'] == 4
    assert report['skipped'] == 2
    dist = GalleryIndex(index_dir)
    single = GalleryIndex(folder_index[0])
    assert dist.unit_keys.tolist() == single.unit_keys.tolist()
    np.testing.assert_array_equal(dist.entry_unit, single.entry_unit)
    np.testing.assert_allclose(dist.feats, single.feats, atol=1e-5)
    np.testing.assert_allclose(dist.boxes, single.boxes, atol=1e-3)
    assert dist.manifest['model']['checkpoint_sha256'] is not None


def test_search_tool_writes_json_and_sheet(folder_index, tmp_path):
    import cv2
    index_dir, _ = folder_index
    out_json = str(tmp_path / 'r.json')
    sheet = str(tmp_path / 'r.png')
    result = subprocess.run([
        sys.executable, 'tools/search/search_index.py', index_dir, '--entry',
        '3', '--topk', '4', '--dedup', 'image', '--out-json', out_json,
        '--out-sheet', sheet
    ],
                            cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=ROOT),
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out_json) as file:
        results = json.load(file)['results']
    index = GalleryIndex(index_dir)
    assert results == search_index(index, entry_id=3, topk=4, dedup='image')
    assert len({r['source'] for r in results}) == 4
    drawn = cv2.imread(sheet)
    assert drawn is not None and drawn.shape[1] == 5 * 160  # query + 4


def test_dataset_split_units_keep_the_cameras(tmp_path):
    """A PRW-layout split: one unit per gallery frame, camera from the
    frame name (c<N>s<M>_...)."""
    from mmengine.config import Config

    from mmsearch.datasets.synthetic import (SyntheticConfig,
                                             make_synthetic_dataset)
    from mmsearch.index import dataset_units
    tiny = SyntheticConfig(
        num_train_ids=10,
        num_test_ids=5,
        num_train_images=20,
        num_test_images=52,
        image_size=(96, 128),
        gallery_sizes=(50, ),
        seed=3)
    counts = make_synthetic_dataset(str(tmp_path), tiny, 'prw')
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', '_base_', 'datasets', 'prw.py'))
    cfg.test_dataloader.dataset.data_root = str(tmp_path)
    units = dataset_units(cfg, 'gallery')
    assert len(units) == counts['gallery_images']
    for unit in units:
        name = osp.basename(unit.source)
        assert unit.kind == 'image' and osp.isfile(unit.source)
        assert unit.camera == name.split('s')[0].lstrip('c')
