"""Sources of an index: image folders, video frame sampling, bad files."""
import os.path as osp

import numpy as np
import pytest

from mmsearch.index import list_image_units, list_video_units
from mmsearch.index.sources import read_video_unit
from .conftest import VIDEO_FPS, VIDEO_FRAMES, write_video


def test_image_units_recurse_sorted_with_cameras(gallery):
    units = list_image_units(gallery['root'])
    root = gallery['root']
    assert [
        u.source for u in units
    ] == sorted(gallery['good'][:3] + gallery['bad']) + [gallery['good'][3]]
    assert [u.camera for u in units
            ] == ['cam1'] * 2 + ['cam2'] * 3 + [osp.basename(root)]
    flat = list_image_units(root, camera='gate', recursive=False)
    assert [(u.source, u.camera)
            for u in flat] == [(gallery['good'][3], 'gate')]
    with pytest.raises(NotADirectoryError, match='not found'):
        list_image_units(osp.join(root, 'nope'))


def test_video_units_sample_by_fps_in_chunks(tmp_path):
    path = tmp_path / 'v.avi'
    frames = write_video(path)
    units = list_video_units(str(path), fps=VIDEO_FPS / 2, chunk_frames=3)
    assert [(u.start, u.stop, u.step) for u in units] == [(0, 6, 2),
                                                          (6, -1, 2)]
    assert len({u.key for u in units}) == 2
    assert units[0].camera == 'v'
    read = [[(f.number, f.timestamp) for f, _ in read_video_unit(u)]
            for u in units]
    assert read == [[(0, 0.0), (2, 0.5), (4, 1.0)], [(6, 1.5)]]
    # MJPG is lossy: each decoded frame is nearest to the one written as
    # its number.
    for unit in units:
        for frame, _ in read_video_unit(unit):
            errors = [
                np.abs(frame.image.astype(int) - f).mean() for f in frames
            ]
            assert int(np.argmin(errors)) == frame.number
    step3 = list_video_units(str(path), frame_step=3)
    assert len(step3) == 1 and step3[0].step == 3
    with pytest.raises(ValueError, match='not both'):
        list_video_units(str(path), frame_step=2, fps=1)


def test_truncated_video_reports_the_missing_frames(tmp_path):
    path = tmp_path / 'cut.avi'
    write_video(path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    (unit, ) = list_video_units(str(path))
    read = list(read_video_unit(unit))
    good = [f for f, _ in read if f is not None]
    reasons = [r for f, r in read if f is None]
    assert 0 < len(good) < VIDEO_FRAMES
    assert [f.number for f in good] == list(range(len(good)))
    assert len(reasons) == 1 and 'unreadable from frame' in reasons[0]
