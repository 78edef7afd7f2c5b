"""The search page's pieces without a browser: typed boxes and time
ranges, the person under a click, captions, example images, the check
that skips or fails the browser test."""
import math

import cv2
import numpy as np
import pytest

from mmsearch.apis import load_index
from mmsearch.testing import web as web_testing
from mmsearch.web import (example_images, format_time, parse_box,
                          parse_time_range, person_at, result_caption)


@pytest.mark.parametrize('text, box', [
    ('10, 20, 30.5, 40', [10, 20, 30.5, 40]),
    ('[1 2 3 4]', [1, 2, 3, 4]),
    (' -5;0;1e1;7 ', [-5, 0, 10, 7]),
])
def test_parse_box(text, box):
    np.testing.assert_array_equal(parse_box(text), np.float32(box))


@pytest.mark.parametrize('text, message', [
    ('', 'four numbers'),
    ('1, 2, 3', 'four numbers'),
    ('1, 2, 3, x', 'four numbers'),
    ('1, 2, 3, 4, 5', 'four numbers'),
    ('5, 2, 3, 4', 'empty'),
    ('1, 4, 3, 4', 'empty'),
])
def test_parse_box_refuses(text, message):
    with pytest.raises(ValueError, match=message):
        parse_box(text)


@pytest.mark.parametrize('text, expected', [
    ('', None),
    ('  ', None),
    ('0.5, 2', (0.5, 2.0)),
    ('3 7', (3.0, 7.0)),
    ('10,', (10.0, math.inf)),
    (', 4', (-math.inf, 4.0)),
])
def test_parse_time_range(text, expected):
    assert parse_time_range(text) == expected


@pytest.mark.parametrize('text', ['1', ',', 'a, b', '5, 1', '1, 2, 3'])
def test_parse_time_range_refuses(text):
    with pytest.raises(ValueError, match='time range'):
        parse_time_range(text)


def test_person_at_takes_the_smallest_box_holding_the_click():
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 100, (40, 2, 2))
    boxes = np.concatenate([corners.min(1), corners.max(1)], 1)
    boxes = np.concatenate([boxes, boxes[:3]])  # equal areas: first wins
    checked_overlaps = 0
    for x, y in rng.uniform(-5, 105, (300, 2)):
        best, best_area = None, None
        for i, (x1, y1, x2, y2) in enumerate(boxes):
            area = (x2 - x1) * (y2 - y1)
            if x1 <= x <= x2 and y1 <= y <= y2 and (best is None
                                                    or area < best_area):
                best, best_area = i, area
        got = person_at(boxes, x, y)
        assert got == best
        checked_overlaps += best is not None
    assert checked_overlaps > 100
    assert person_at(np.zeros((0, 4)), 1, 1) is None


def test_caption_and_time():
    assert format_time(None) == format_time(math.nan) == ''
    assert format_time(3.04) == '0:03.0'
    assert format_time(754.25) == '12:34.2'
    assert format_time(3723.5) == '1:02:03.5'
    # tenths round before minutes split: no '0:60.0'
    assert format_time(59.96) == '1:00.0'
    assert format_time(3599.96) == '1:00:00.0'
    video = dict(
        rank=3,
        similarity=0.912345,
        source='/data/cam/street.avi',
        kind='video',
        frame=12,
        timestamp=3.0)
    image = dict(
        rank=1,
        similarity=-0.5,
        source='/data/a.jpg',
        kind='image',
        frame=None,
        timestamp=None)
    assert result_caption(video) == ('#3 · 0.9123 · street.avi · frame 12 '
                                     '· 0:03.0')
    assert result_caption(image) == '#1 · -0.5000 · a.jpg'
    # the browser test reads captions back with this pattern
    assert web_testing.parse_caption(result_caption(video)) == dict(
        rank=3, similarity=0.9123, name='street.avi', frame=12, time='0:03.0')
    assert web_testing.parse_caption(result_caption(image))['frame'] is None


def test_example_images(web_index, tmp_path):
    index = load_index(web_index['index_dir'])
    examples = example_images(index, str(tmp_path / 'cache'), limit=8)
    images = sorted(web_index['images'].values())
    # the gallery's images in place, then one frame of the video (its first
    # indexed person's frame), as a lossless PNG of the decoded frame
    assert sorted(examples[:3]) == images and len(examples) == 4
    first = int(np.flatnonzero(index.entry_is_video())[0])
    frame = index.entry(first)['frame']
    assert examples[3].endswith(f'street_frame{frame}.png')
    capture = cv2.VideoCapture(web_index['video'])
    for _ in range(frame + 1):
        ok, expected = capture.read()
    capture.release()
    assert ok
    np.testing.assert_array_equal(cv2.imread(examples[3]), expected)
    assert example_images(index, str(tmp_path / 'c2'), limit=2) == \
        examples[:2]


def test_browser_check_skips_or_fails_in_ci(monkeypatch):
    monkeypatch.setattr(web_testing, 'find_chromium', lambda: None)
    monkeypatch.delenv('CI', raising=False)
    with pytest.raises(pytest.skip.Exception, match='chromium'):
        web_testing.require_browser()
    monkeypatch.setenv('CI', 'true')
    with pytest.raises(pytest.fail.Exception, match='CI=true'):
        web_testing.require_browser()
