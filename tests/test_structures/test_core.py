"""The torch-free core: boxes, ranking, image reading, listing, hashing and
atomic writes, against independently computed values."""
import hashlib
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mmsearch.fileio import (IMAGE_EXTENSIONS, ImageReadError, atomic_write,
                             atomic_write_json, is_image_file, is_video_file,
                             list_images, read_image, read_image_file,
                             sha256_file, sha256_json)
from mmsearch.structures import (SearchMatch, as_box, box_iou, clip_query_box,
                                 match_boxes, paired_box_iou, rank_detections,
                                 rank_gallery)


def iou_loop(a, b):
    """IoU of two boxes in plain Python."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    union = area_a + area_b - w * h
    return w * h / union if union > 0 else 0.0


def test_box_iou_equals_a_plain_loop():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (7, 2))
    boxes1 = np.concatenate([xy, xy + rng.uniform(1, 30, (7, 2))], 1)
    xy = rng.uniform(0, 50, (5, 2))
    boxes2 = np.concatenate([xy, xy + rng.uniform(1, 30, (5, 2))], 1)
    expected = [[iou_loop(a, b) for b in boxes2] for a in boxes1]
    np.testing.assert_allclose(box_iou(boxes1, boxes2), expected, rtol=1e-12)
    np.testing.assert_allclose(
        paired_box_iou(boxes1[:5], boxes2),
        [iou_loop(a, b) for a, b in zip(boxes1[:5], boxes2)],
        rtol=1e-12)
    assert box_iou([0, 0, 10, 10], [[5, 0, 15, 10]])[0, 0] == 50 / 150
    assert box_iou([0, 0, 0, 0], [[0, 0, 0, 0]])[0, 0] == 0.0  # no union


def test_match_boxes_is_one_to_one_by_decreasing_iou():
    boxes1 = np.array([[0, 0, 10, 10], [0, 0, 10, 11], [50, 50, 60, 60.]])
    boxes2 = np.array([[0, 0, 10, 11], [100, 100, 110, 110.]])
    # boxes2[0] equals boxes1[1] (IoU 1) and overlaps boxes1[0] (10/11)
    assert match_boxes(boxes1, boxes2, 0.5) == [(1, 0)]
    assert match_boxes(boxes1[:1], boxes2, 0.95) == []


def test_query_box_rule():
    np.testing.assert_array_equal(
        clip_query_box([1, 2, 30, 40], (50, 60), 'img'), [1, 2, 30, 40])
    with pytest.warns(
            UserWarning, match=r'clipped to \[0\.0, 2\.0, 60\.0, '
            r'40\.0\]'):
        np.testing.assert_array_equal(
            clip_query_box([-5, 2, 70, 40], (50, 60), 'img'), [0, 2, 60, 40])
    for outside in ([60, 2, 70, 40], [1, 50, 30, 60], [-9, 2, 0, 40]):
        with pytest.raises(
                ValueError, match='lies outside image "img" '
                r'\(60 x 50 pixels'):
            clip_query_box(outside, (50, 60), 'img')
    for bad in ([1, 2, 3], [1, 2, np.nan, 4], [1, 2, np.inf, 4], [5, 2, 1,
                                                                  4], 'abcd'):
        with pytest.raises(ValueError, match='query box must be 4'):
            as_box(bad, 'query box')


def test_rank_detections_keeps_and_scores():
    feats = np.array([[1, 0], [0.6, 0.8], [0, 1]], np.float32)
    matches = rank_detections('a.jpg',
                              np.arange(12).reshape(3, 4), [0.9, 0.4, 0.7],
                              feats, np.array([0.6, 0.8]), 0.5)
    assert [(m.score, m.similarity)
            for m in matches] == [(pytest.approx(0.9), pytest.approx(0.6)),
                                  (pytest.approx(0.7), pytest.approx(0.8))]
    assert all(isinstance(m, SearchMatch) for m in matches)
    np.testing.assert_array_equal(matches[1].bbox, [8, 9, 10, 11])
    with pytest.raises(ValueError, match="'a.jpg': 1 NaN"):
        rank_detections('a.jpg', np.zeros((1, 4)), [np.nan], feats[:1],
                        np.array([1, 0]), 0.5)
    with pytest.raises(ValueError, match='query_feat has 3 dimensions'):
        rank_detections('a.jpg', np.zeros((1, 4)), [1.0], feats[:1],
                        np.ones(3), 0.5)


@pytest.fixture
def image_folder(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), np.uint8)
    cv2.imwrite(str(tmp_path / 'b.png'), image)
    cv2.imwrite(str(tmp_path / 'a.JPG'), image)
    (tmp_path / 'notes.txt').write_text('x')
    (tmp_path / 'sub').mkdir()
    cv2.imwrite(str(tmp_path / 'sub' / 'c.png'), image)
    return tmp_path, image


def test_listing_and_reading(image_folder, tmp_path):
    folder, image = image_folder
    assert list_images(
        str(folder)) == [str(folder / 'a.JPG'),
                         str(folder / 'b.png')]
    assert is_image_file('x.WEBP') and not is_image_file('x.mp4')
    assert is_video_file('x.MP4') and not is_video_file('x.jpg')
    assert '.jpg' in IMAGE_EXTENSIONS
    np.testing.assert_array_equal(read_image(str(folder / 'b.png')), image)
    with pytest.raises(ValueError, match='holds no images'):
        list_images(str(_empty(tmp_path)))
    with pytest.raises(NotADirectoryError, match='not found'):
        list_images(str(folder / 'missing'))
    data = (folder / 'b.png').read_bytes()
    cases = {
        'empty.jpg': (b'', 'empty file (0 bytes)'),
        'text.jpg': (b'hello', 'not a decodable image'),
        'cut.png': (data[:len(data) - 20], 'truncated PNG (no IEND chunk)'),
        'cut.jpg': (cv2.imencode('.jpg', image)[1].tobytes()[:-2],
                    'truncated JPEG (no end-of-image marker)'),
    }
    for name, (content, reason) in cases.items():
        (tmp_path / name).write_bytes(content)
        assert read_image_file(str(tmp_path / name)) == (None, reason)
        with pytest.raises(ImageReadError) as info:
            read_image(str(tmp_path / name))
        assert str(info.value) == \
            f'image "{tmp_path / name}" cannot be read: {reason}'
    assert read_image_file(str(tmp_path /
                               'nowhere.jpg'))[1].startswith('cannot open: ')
    with pytest.raises(FileNotFoundError, match='nowhere.jpg'):
        read_image(str(tmp_path / 'nowhere.jpg'))
    with pytest.raises(ValueError, match='uint8'):
        read_image(image.astype(np.float32))


def _empty(tmp_path):
    folder = tmp_path / 'empty_folder'
    folder.mkdir()
    return folder


def test_rank_gallery_skips_and_says_why(image_folder, tmp_path):
    folder, image = image_folder
    (folder / 'c_empty.jpg').write_bytes(b'')
    calls = []

    def detect(images):
        calls.append(len(images))
        return [
            dict(
                bboxes=np.array([[0, 0, 5, 5]], np.float32),
                scores=np.array([0.9], np.float32),
                reid_feats=np.array([[float(img.mean() > 0), 0]], np.float32))
            for img in images
        ]

    skipped, progress = [], []
    with pytest.warns(UserWarning, match='skipped gallery image .*c_empty'):
        matches = rank_gallery(
            detect,
            np.array([1.0, 0.0]),
            str(folder),
            batch_size=2,
            skipped=skipped,
            progress=lambda d, t: progress.append((d, t)))
    assert calls == [2]  # the unreadable file of the second batch: no call
    assert [m.img_path for m in matches
            ] == [str(folder / 'a.JPG'),
                  str(folder / 'b.png')]
    assert skipped == [(str(folder / 'c_empty.jpg'),
                        f'image "{folder / "c_empty.jpg"}" cannot be read: '
                        'empty file (0 bytes)')]
    assert progress == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(ValueError, match='query_feat holds NaN'):
        rank_gallery(detect, np.array([np.nan, 0]), [image])


def test_hashing_and_atomic_writes(tmp_path):
    path = str(tmp_path / 'sub' / 'data.json')
    atomic_write_json(path, {'b': 1, 'a': [1, 2]})
    with open(path, 'rb') as file:
        raw = file.read()
    assert json.loads(raw) == {'b': 1, 'a': [1, 2]}
    assert sha256_file(path) == hashlib.sha256(raw).hexdigest()
    assert sha256_json({
        'b': 1,
        'a': 2
    }) == hashlib.sha256(b'{"a": 2, "b": 1}').hexdigest()

    def failing(file):
        file.write(b'half')
        raise RuntimeError('disk full')

    with pytest.raises(RuntimeError, match='disk full'):
        atomic_write(path, failing)
    with open(path, 'rb') as file:
        assert file.read() == raw  # the old file, whole
    assert os.listdir(osp.dirname(path)) == ['data.json']  # no temporary
    atomic_write(str(tmp_path / 't.txt'), lambda f: f.write('é'), binary=False)
    assert (tmp_path / 't.txt').read_text(encoding='utf-8') == 'é'
