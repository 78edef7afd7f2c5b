"""A broken model output never enters an index."""
import numpy as np
import pytest

from mmsearch.index.builder import _shard_arrays
from mmsearch.index.sources import Unit


def _results(feats):
    num = len(feats)
    return dict(
        reid_feats=np.asarray(feats, np.float32),
        bboxes=np.tile(np.array([[1, 2, 30, 60]], np.float32), (num, 1)),
        scores=np.full(num, 0.9, np.float32),
        frames=np.full(num, -1),
        timestamps=np.full(num, np.nan),
        skipped=[])


def test_nan_embedding_is_refused_naming_the_source():
    units = [
        Unit(
            key='cam1/a.jpg',
            source='/data/cam1/a.jpg',
            camera='cam1',
            kind='image')
    ]
    good = _results([[0.6, 0.8], [1.0, 0.0]])
    arrays = _shard_arrays(units, {'cam1/a.jpg': good}, 2, 'float32')
    np.testing.assert_array_equal(arrays['feats'], good['reid_feats'])
    bad = _results([[0.6, 0.8], [np.nan, 0.0]])
    with pytest.raises(ValueError, match=r"cam1/a.jpg.*1 NaN or infinite"):
        _shard_arrays(units, {'cam1/a.jpg': bad}, 2, 'float32')
