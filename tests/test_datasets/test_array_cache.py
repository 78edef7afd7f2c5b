"""ArrayCache: exact arrays, invalidation by the sources, corrupt entries
ignored, atomic writes, no cache when the folder is unusable."""
import os
import os.path as osp

import numpy as np
import pytest

from mmsearch.datasets import array_cache
from mmsearch.datasets.array_cache import ArrayCache, default_cache_dir


class Builder:
    """Counts builds; the arrays depend on the source's bytes."""

    def __init__(self, source):
        self.source, self.calls = source, 0

    def __call__(self):
        self.calls += 1
        data = np.frombuffer(open(self.source, 'rb').read(), np.uint8)
        return dict(
            total=np.array(data.sum(), dtype=np.int64),
            names=np.array(['a', 'bcd']),
            values=data.astype(np.float64) / 7)


@pytest.fixture
def source(tmp_path):
    path = tmp_path / 'data' / 'source.bin'
    path.parent.mkdir()
    path.write_bytes(bytes(range(200)))
    return str(path)


def assert_equal(a, b):
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype
        np.testing.assert_array_equal(a[key], b[key])


def test_cached_arrays_equal_fresh_ones(tmp_path, source):
    cache, build = ArrayCache(str(tmp_path / 'cache')), Builder(source)
    fresh = build()
    first = cache.get('kind', [source], build)
    second = ArrayCache(str(tmp_path / 'cache')).get('kind', [source], build)
    assert build.calls == 2  # the fresh call + one build, then the entry
    assert_equal(first, fresh)
    assert_equal(second, fresh)
    assert os.listdir(str(tmp_path / 'cache')) == [
        osp.basename(cache.entry_path('kind', [source]))
    ]


def test_changed_source_is_read_again(tmp_path, source):
    cache, build = ArrayCache(str(tmp_path / 'cache')), Builder(source)
    cache.get('kind', [source], build)
    stat = os.stat(source)
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    cache.get('kind', [source], build)  # touched: rebuilt
    assert build.calls == 2
    # same size and time, other first bytes
    with open(source, 'r+b') as file:
        file.write(b'\xff')
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    arrays = cache.get('kind', [source], build)
    assert build.calls == 3
    assert_equal(arrays, Builder(source)())
    cache.get('kind', [source], build)
    assert build.calls == 3


@pytest.mark.parametrize('damage', ['truncate', 'garbage', 'empty'])
def test_corrupt_entry_is_ignored_and_rewritten(tmp_path, source, damage):
    cache, build = ArrayCache(str(tmp_path / 'cache')), Builder(source)
    cache.get('kind', [source], build)
    entry = cache.entry_path('kind', [source])
    data = open(entry, 'rb').read()
    with open(entry, 'wb') as file:
        file.write({
            'truncate': data[:len(data) // 2],
            'garbage': b'PK\x03\x04' + bytes(300),
            'empty': b''
        }[damage])
    arrays = cache.get('kind', [source], build)
    assert build.calls == 2
    assert_equal(arrays, Builder(source)())
    with np.load(entry) as content:  # rewritten whole
        assert_equal(
            {k: content[k]
             for k in content.files if k != '__stamp__'}, arrays)
    cache.get('kind', [source], build)
    assert build.calls == 2


def test_entry_failing_its_check_is_rebuilt(tmp_path, source):
    cache, build = ArrayCache(str(tmp_path / 'cache')), Builder(source)
    cache.get('kind', [source], build)

    def check(arrays):
        raise ValueError('bad')

    cache.get('kind', [source], build, check=check)
    assert build.calls == 2


def test_interrupted_write_leaves_no_entry(tmp_path, source, monkeypatch):
    """A process killed while writing: only a temporary file remains, and
    it is never read as an entry."""
    cache, build = ArrayCache(str(tmp_path / 'cache')), Builder(source)

    def killed(file, **arrays):
        file.write(b'PK\x03\x04 half an entry')
        raise KeyboardInterrupt  # stands in for the kill

    monkeypatch.setattr(array_cache.np, 'savez', killed)
    with pytest.raises(KeyboardInterrupt):
        cache.get('kind', [source], build)
    entry = cache.entry_path('kind', [source])
    assert not osp.exists(entry)
    monkeypatch.undo()
    arrays = cache.get('kind', [source], build)
    assert build.calls == 2 and osp.isfile(entry)
    assert_equal(arrays, Builder(source)())


def test_unwritable_or_no_cache_still_gives_arrays(tmp_path, source):
    blocker = tmp_path / 'file_not_folder'
    blocker.write_text('x')
    build = Builder(source)
    cache = ArrayCache(str(blocker / 'cache'))
    with pytest.warns(UserWarning, match='cannot write the annotation cache'):
        arrays = cache.get('kind', [source], build)
    assert_equal(arrays, Builder(source)())
    cache.get('kind', [source], build)  # warned once only
    none = ArrayCache(None)
    assert_equal(none.get('kind', [source], build), Builder(source)())
    assert build.calls == 3


def test_default_folder(monkeypatch, tmp_path):
    monkeypatch.setenv('MMSEARCH_CACHE_DIR', str(tmp_path / 'mine'))
    assert default_cache_dir() == str(tmp_path / 'mine')
    assert ArrayCache('auto').cache_dir == str(tmp_path / 'mine')
    monkeypatch.delenv('MMSEARCH_CACHE_DIR')
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    assert default_cache_dir() == str(tmp_path / 'xdg' / 'mmsearch')
    monkeypatch.delenv('XDG_CACHE_HOME')
    assert default_cache_dir() == osp.join(
        osp.expanduser('~'), '.cache', 'mmsearch')
