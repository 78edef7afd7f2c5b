"""On-disk index format: round trip, append, checksums, versions, errors.

These tests write indexes from arrays (no model): the builder is tested in
test_build.py.
"""
import json
import os
import os.path as osp

import numpy as np
import pytest

from mmsearch.index import (FORMAT_VERSION, GalleryIndex, IndexFormatError,
                            IndexNotFoundError, ModelMismatchError, add_shard,
                            check_signature, read_manifest)
from mmsearch.index.format import empty_shard, read_shard, write_shard

DIM = 8


def fake_signature(seed=0):
    feats = np.random.default_rng(seed).normal(size=(2, DIM))
    return dict(
        config='cfg.py',
        model_cfg_sha256='a' * 64,
        checkpoint=None,
        checkpoint_sha256=None,
        embed_dim=DIM,
        probe_boxes=[[0, 0, 1, 1]] * 2,
        probe_feats=feats.tolist(),
        pipeline=[],
        score_thr=0.5)


def make_arrays(rng, sources, per_unit=3, video=False, fps=10.0):
    """Shard arrays: ``per_unit`` entries for each source (a unit)."""
    arrays = empty_shard(DIM, 'float32')
    num = per_unit * len(sources)
    feats = rng.normal(size=(num, DIM)).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    frames = (np.arange(num) * 2 if video else np.full(num, -1)).astype(
        np.int64)
    arrays.update(
        feats=feats,
        boxes=rng.uniform(0, 50, (num, 4)).astype(np.float32),
        scores=rng.uniform(0.5, 1, num).astype(np.float32),
        entry_unit=np.repeat(np.arange(len(sources)),
                             per_unit).astype(np.int32),
        frames=frames,
        timestamps=frames / fps if video else np.full(num, np.nan),
        unit_keys=np.array([f'k:{s}' for s in sources]),
        unit_sources=np.array(sources),
        unit_cameras=np.array([osp.dirname(s) or 'c' for s in sources]),
        unit_kinds=np.array(['video' if video else 'image'] * len(sources)),
        skipped_keys=np.array(['bad.jpg']),
        skipped_reasons=np.array(['not a decodable image']))
    return arrays


def test_shard_round_trip_and_checksum(tmp_path):
    arrays = make_arrays(np.random.default_rng(0), ['a/x.jpg', 'b/y.jpg'])
    path = str(tmp_path / 's.npz')
    info = write_shard(path, arrays)
    assert info['num_entries'] == 6 and info['num_units'] == 2
    assert not [n for n in os.listdir(tmp_path) if 'tmp' in n]
    back = read_shard(path, info['sha256'])
    for name, value in arrays.items():
        np.testing.assert_array_equal(back[name], value)
    with open(path, 'r+b') as file:  # flip one byte in the middle
        file.seek(info['bytes'] // 2)
        byte = file.read(1)
        file.seek(info['bytes'] // 2)
        file.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(IndexFormatError, match='checksum'):
        read_shard(path, info['sha256'])


def test_shard_arrays_are_checked(tmp_path):
    arrays = make_arrays(np.random.default_rng(0), ['x.jpg'])
    arrays['scores'] = arrays['scores'][:-1]
    with pytest.raises(IndexFormatError, match='scores has 2 rows'):
        write_shard(str(tmp_path / 's.npz'), arrays)


def test_index_round_trip_and_append_keep_entry_ids(tmp_path):
    rng = np.random.default_rng(1)
    index_dir = str(tmp_path / 'idx')
    first = make_arrays(rng, ['cam1/a.jpg', 'cam2/b.jpg'], per_unit=2)
    add_shard(index_dir, first, fake_signature(), feat_dtype='float32')
    index = GalleryIndex(index_dir)
    assert len(index) == 4
    np.testing.assert_array_equal(index.feats, first['feats'])
    assert index.entry(2) == dict(
        entry_id=2,
        source='cam2/b.jpg',
        kind='image',
        camera='cam2',
        frame=None,
        timestamp=None,
        box=first['boxes'][2].tolist(),
        score=float(first['scores'][2]))
    # Append a video: earlier ids unchanged, new ones follow.
    second = make_arrays(rng, ['v.avi'], per_unit=3, video=True)
    manifest = add_shard(index_dir, second)
    assert manifest['num_entries'] == 7 and len(manifest['shards']) == 2
    index = GalleryIndex(index_dir)
    np.testing.assert_array_equal(index.feats[:4], first['feats'])
    np.testing.assert_array_equal(index.feats[4:], second['feats'])
    entry = index.entry(6)
    assert (entry['kind'], entry['frame'], entry['source']) == ('video', 4,
                                                                'v.avi')
    assert entry['timestamp'] == pytest.approx(0.4)
    assert index.skipped == [('bad.jpg', 'not a decodable image')] * 2
    with pytest.raises(IndexError, match='out of range'):
        index.entry(7)


def test_float16_storage(tmp_path):
    arrays = make_arrays(np.random.default_rng(2), ['a.jpg'])
    add_shard(str(tmp_path), arrays, fake_signature(), feat_dtype='float16')
    index = GalleryIndex(str(tmp_path))
    assert index.feats.dtype == np.float16
    assert read_manifest(
        str(tmp_path))['feat_dtype_note'].startswith('float16')
    np.testing.assert_allclose(
        index.feats.astype(np.float32), arrays['feats'], atol=1e-3)


def test_missing_index_and_wrong_version(tmp_path):
    with pytest.raises(IndexNotFoundError, match='not found'):
        GalleryIndex(str(tmp_path / 'nothing'))
    with pytest.raises(IndexNotFoundError, match='holds no manifest.json'):
        GalleryIndex(str(tmp_path))
    add_shard(
        str(tmp_path), make_arrays(np.random.default_rng(0), ['a']),
        fake_signature())
    path = tmp_path / 'manifest.json'
    manifest = json.loads(path.read_text())
    manifest['format_version'] = FORMAT_VERSION + 1
    path.write_text(json.dumps(manifest))
    with pytest.raises(
            IndexFormatError, match=f'format version {FORMAT_VERSION + 1}'):
        GalleryIndex(str(tmp_path))
    path.write_text('{"format": "something else"}')
    with pytest.raises(IndexFormatError, match='not an mmsearch gallery'):
        GalleryIndex(str(tmp_path))
    path.write_text('{truncated')
    with pytest.raises(IndexFormatError, match='cannot read'):
        GalleryIndex(str(tmp_path))


def test_stray_and_damaged_shards(tmp_path):
    index_dir = str(tmp_path)
    add_shard(index_dir, make_arrays(np.random.default_rng(0), ['a', 'b']),
              fake_signature())
    # A stray half-written shard beside the listed one is never read.
    (tmp_path / 'shards' / 'shard-00001.npz').write_bytes(b'PK\x03\x04junk')
    assert len(GalleryIndex(index_dir)) == 6
    # A listed shard replaced by another file is refused.
    other = make_arrays(np.random.default_rng(5), ['a', 'b'])
    write_shard(str(tmp_path / 'shards' / 'shard-00000.npz'), other)
    with pytest.raises(IndexFormatError, match='checksum'):
        GalleryIndex(index_dir)
    os.remove(tmp_path / 'shards' / 'shard-00000.npz')
    with pytest.raises(IndexFormatError, match='missing'):
        GalleryIndex(index_dir)


def test_signature_check():
    sig = fake_signature(0)
    check_signature(sig, dict(sig), 'idx')  # same: accepted
    close = dict(sig, checkpoint_sha256='b' * 64)
    close['probe_feats'] = (np.asarray(sig['probe_feats']) + 1e-4).tolist()
    check_signature(sig, close, 'idx')  # re-saved checkpoint: accepted
    with pytest.raises(ModelMismatchError, match='probe embeddings differ'):
        check_signature(sig, fake_signature(1), 'idx')
    with pytest.raises(ModelMismatchError, match='embedding dimension 4'):
        check_signature(sig, dict(sig, embed_dim=4), 'idx')
