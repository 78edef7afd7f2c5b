"""PRWDataset on hand-written raw files and on synthetic data."""
import os
import os.path as osp

import numpy as np
import pytest
import scipy.io
from dataset_helpers import TINY, instance_table, write_image

from mmsearch.datasets import DatasetLayoutError, PRWDataset
from mmsearch.datasets.prw import camera_id

FRAMES = {  # frame: (key, rows of [id, x, y, w, h]); images are 64 x 48
    'c1s1_000010': ('box_new', [[7, 10, 10, 20, 30], [-2, 5, 5, 10, 10],
                                [932, -4, 2, 14, 20]]),
    'c2s1_000020': ('anno_file', [[15, 40, 30, 30, 30], [7, 60, 10, 10, 10],
                                  [-2, 70, 5, 5, 5]]),
    'c3s2_000030': ('anno_previous', [[100, 10, 10, 20, 30],
                                      [-2, 30, 10, 10, 20]]),
    'c6s1_000040': ('box_new', [[100, 5, 5, 20, 30], [200, 30, 5, 20, 30]]),
}
# the first query box is 1 px wider than its frame annotation
QUERY_LINES = ('100 10 10 21 30 c3s2_000030\r\n'
               '200 30 5 20 30 c6s1_000040\r\n')


def cells(names):
    array = np.empty((len(names), 1), dtype=object)
    array[:, 0] = names
    return array


@pytest.fixture
def prw_root(tmp_path):
    root = tmp_path / 'prw'
    for folder in ('frames', 'annotations'):
        os.makedirs(root / folder)
    for frame, (key, table) in FRAMES.items():
        write_image(str(root / 'frames' / f'{frame}.jpg'))
        scipy.io.savemat(
            str(root / 'annotations' / f'{frame}.jpg.mat'),
            {key: np.array(table, dtype=np.float64)})
    names = list(FRAMES)
    scipy.io.savemat(
        str(root / 'frame_train.mat'), dict(img_index_train=cells(names[:2])))
    scipy.io.savemat(
        str(root / 'frame_test.mat'), dict(img_index_test=cells(names[2:])))
    with open(root / 'query_info.txt', 'w', newline='') as file:
        file.write(QUERY_LINES)
    return str(root)


def rows(dataset):
    return {
        dataset.get_data_info(i)['img_id']: [
            tuple(inst['bbox']) + (inst['person_id'], )
            for inst in dataset.get_data_info(i)['instances']
        ]
        for i in range(len(dataset))
    }


def test_train_split_clips_remaps_and_reads_fallback_keys(prw_root):
    dataset = PRWDataset(split='train', data_root=prw_root)
    # labelled raw ids 7, 15, 932 -> 0, 1, 2; -2 -> -1; the box of x = 70
    # lies outside the 64 px wide frame and is dropped after clipping
    assert rows(dataset) == {
        'c1s1_000010.jpg': [(10, 10, 30, 40, 0), (5, 5, 15, 15, -1),
                            (0, 2, 10, 22, 2)],
        'c2s1_000020.jpg': [(40, 30, 64, 48, 1), (60, 10, 64, 20, 0)],
    }
    assert [dataset.get_data_info(i)['cam_id'] for i in range(2)] == [1, 2]
    assert dataset.metainfo['dataset_name'] == 'prw'


def test_gallery_split_keeps_raw_ids(prw_root):
    dataset = PRWDataset(split='gallery', data_root=prw_root)
    assert rows(dataset) == {
        'c3s2_000030.jpg': [(10, 10, 30, 40, 100), (30, 10, 40, 30, -1)],
        'c6s1_000040.jpg': [(5, 5, 25, 35, 100), (30, 5, 50, 35, 200)],
    }
    assert [dataset.get_data_info(i)['cam_id'] for i in range(2)] == [3, 6]
    with pytest.raises(NotImplementedError, match='every test frame'):
        dataset.get_gallery_protocol()


def test_query_split_reads_crlf_and_matches_by_iou(prw_root):
    dataset = PRWDataset(split='query', data_root=prw_root)
    assert len(dataset) == 2
    first, second = (dataset.get_data_info(i) for i in range(2))
    assert first['img_id'] == 'c3s2_000030.jpg' and first['cam_id'] == 3
    assert first['query_bbox'] == [10, 10, 31, 40]
    assert (first['query_person_id'], first['query_index'],
            first['query_instance_index']) == (100, 0, 0)
    assert second['img_id'] == 'c6s1_000040.jpg'
    assert (second['query_person_id'], second['query_index'],
            second['query_instance_index']) == (200, 1, 1)
    strict = PRWDataset(
        split='query', data_root=prw_root, query_match_iou=0.99)
    assert strict.get_data_info(0)['query_instance_index'] == -1


def test_camera_id():
    assert camera_id('c5s2_042630.jpg') == 5
    with pytest.raises(DatasetLayoutError, match='c<camera>'):
        camera_id('frame_0001.jpg')


def test_bad_files_are_named(prw_root):
    with pytest.raises(DatasetLayoutError, match='does not exist'):
        PRWDataset(split='train', data_root=osp.join(prw_root, 'missing'))
    with open(osp.join(prw_root, 'query_info.txt'), 'a') as file:
        file.write('300 1 2 c1s1_000010\r\n')
    with pytest.raises(DatasetLayoutError, match=r'query_info\.txt" line 3'):
        PRWDataset(split='query', data_root=prw_root)
    annotation = osp.join(prw_root, 'annotations', 'c1s1_000010.jpg.mat')
    scipy.io.savemat(annotation, dict(boxes=np.zeros((1, 5))))
    with pytest.raises(
            DatasetLayoutError, match=r'c1s1_000010\.jpg\.mat.*box_new'):
        PRWDataset(split='train', data_root=prw_root)
    scipy.io.savemat(annotation, dict(box_new=np.zeros((1, 4))))
    with pytest.raises(DatasetLayoutError, match=r'shape \(1, 4\)'):
        PRWDataset(split='train', data_root=prw_root)
    os.remove(annotation)
    with pytest.raises(DatasetLayoutError, match=r'Missing file.*c1s1_000010'):
        PRWDataset(split='train', data_root=prw_root)
    os.remove(osp.join(prw_root, 'frame_test.mat'))
    with pytest.raises(DatasetLayoutError, match='img_index_test'):
        PRWDataset(split='gallery', data_root=prw_root)


def test_synthetic_prw_matches_cuhk_layout(tiny_synthetic):
    root, counts = tiny_synthetic
    train = PRWDataset(split='train', data_root=osp.join(root, 'prw'))
    gallery = PRWDataset(split='gallery', data_root=osp.join(root, 'prw'))
    query = PRWDataset(split='query', data_root=osp.join(root, 'prw'))
    assert len(train) == counts['train_images']
    assert len(gallery) == counts['gallery_images']
    assert len(query) == counts['queries'] == TINY.num_test_ids
    train_table = instance_table(train)
    assert sum(map(len, train_table)) == counts['train_boxes']
    assert {row[-1] for image in train_table for row in image} == \
        set(range(TINY.num_train_ids)) | {-1}
    assert all(
        query.get_data_info(i)['query_instance_index'] >= 0
        for i in range(len(query)))


# Boxes crossing the border of the 64 x 48 frame c6s1_000040 (raw x, y, w,
# h), and their (x1, y1, x2, y2) worked out by hand under each convention.
BORDER_ROWS = [
    [100, -4, 2, 14, 20],  # starts left of the image
    [200, 60, 10, 10, 10],  # ends past the right edge
    [-2, 70, 5, 5, 5],  # entirely right of the image
    [300, 10, 40, 10, 20],  # ends past the bottom edge
]
PUBLISHED = [(0, 2, 14, 22, 100), (60, 10, 70, 20, 200), (70, 5, 75, 10, -1),
             (10, 40, 20, 60, 300)]
CLIPPED = [(0, 2, 10, 22, 100), (60, 10, 64, 20, 200), (10, 40, 20, 48, 300)]


@pytest.fixture
def border_root(prw_root):
    scipy.io.savemat(
        osp.join(prw_root, 'annotations', 'c6s1_000040.jpg.mat'),
        dict(box_new=np.array(BORDER_ROWS, dtype=np.float64)))
    with open(osp.join(prw_root, 'query_info.txt'), 'w', newline='') as f:
        f.write('100 -4.6 2.5 14 20 c6s1_000040\r\n'
                '200 60 10 10.7 10 c6s1_000040\r\n')
    return prw_root


def test_evaluation_defaults_to_the_published_box_convention(border_root):
    gallery = PRWDataset(split='gallery', data_root=border_root)
    assert gallery.box_convention == 'published'
    assert rows(gallery)['c6s1_000040.jpg'] == PUBLISHED
    query = PRWDataset(split='query', data_root=border_root)
    first, second = (query.get_data_info(i) for i in range(2))
    # int(-4.6) = -4 -> 0, int(2.5) = 2, int(9.4) = 9, int(22.5) = 22
    assert first['query_bbox'] == [0, 2, 9, 22]
    assert first['query_instance_index'] == 0  # IoU 180 / 280 with row 0
    # 60 + 10.7 = 70.7 -> 70, past the 64 px edge: kept
    assert second['query_bbox'] == [60, 10, 70, 20]
    assert second['query_instance_index'] == 1
    # the train split keeps the geometric clip by default
    train = PRWDataset(split='train', data_root=border_root)
    assert train.box_convention == 'clip'


def test_geometric_clip_convention(border_root):
    gallery = PRWDataset(
        split='gallery', data_root=border_root, box_convention='clip')
    assert rows(gallery)['c6s1_000040.jpg'] == CLIPPED
    query = PRWDataset(
        split='query', data_root=border_root, box_convention='clip')
    first, second = (query.get_data_info(i) for i in range(2))
    assert first['query_bbox'] == pytest.approx([0, 2.5, 9.4, 22.5])
    assert second['query_bbox'] == [60, 10, 64, 20]
    assert second['query_instance_index'] == 1
    published_train = PRWDataset(
        split='train', data_root=border_root, box_convention='published')
    # c1s1_000010 row [932, -4, 2, 14, 20]: shifted right, w kept
    assert rows(published_train)['c1s1_000010.jpg'][2] == (0, 2, 14, 22, 2)
    with pytest.raises(ValueError, match="box_convention must be one of"):
        PRWDataset(split='gallery', data_root=border_root, box_convention='x')
