"""CUHKSYSUDataset on hand-written raw files and on synthetic data."""
import os
import os.path as osp

import numpy as np
import pytest
import scipy.io
from dataset_helpers import TINY, instance_table, write_image

from mmsearch.datasets import CUHKSYSUDataset, DatasetLayoutError, cuhk_sysu


def structs(rows, fields):
    """A 1 x N MATLAB struct array, built independently of the generator."""
    array = np.empty((1, len(rows)), dtype=[(f, object) for f in fields])
    for index, row in enumerate(rows):
        for field, value in zip(fields, row):
            array[0, index][field] = value
    return array


def cells(items):
    array = np.empty((len(items), 1), dtype=object)
    for index, item in enumerate(items):
        array[index, 0] = item
    return array


def box(*xywh):
    return np.array([xywh], dtype=np.float64)


EMPTY = np.zeros((0, 0))
SCENE = ('imname', 'idlocate', 'ishard')
IMAGES = {
    'a.jpg': [
        box(10, 10, 20, 40),
        box(40, 5, 15, 30),
        box(5, 5, 0, 10),
        box(50, 20, 10, -3)
    ],
    'b.jpg': [box(12, 8, 20, 40), box(30, 10, 10.6, 20)],
    'c.jpg': [box(0, 0, 10, 20)],
    'q1.jpg': [box(5, 5, 10, 20), box(20, 5, 10, 20)],
    'g1.jpg': [box(6, 6, 10, 20), box(30, 5, 5, 5)],
    'g2.jpg': [box(1, 1, 10, 20)],
}
QUERIES = [('q1.jpg', box(5, 5, 10, 20)), ('q1.jpg', box(20, 5, 10, 20))]
GALLERY_BOXES = {
    ('g1.jpg', 0): box(6, 6, 10, 20),
    ('g2.jpg', 1): box(1, 1, 10, 20)
}


def protocol(query_indices, gallery_names, extra=None):
    rows = []
    for q in query_indices:
        name, query_box = QUERIES[q]
        query = structs([(name, query_box, 0.0, f'p{q}')],
                        SCENE + ('idname', ))
        gallery = structs([(g, GALLERY_BOXES.get((g, q), EMPTY), 0.0)
                           for g in gallery_names], SCENE)
        rows.append((query, gallery) + ((extra, ) if extra else ()))
    return structs(rows, ('Query', 'Gallery') + (('occlusion', ) if extra else
                                                 ()))


def write_cuhk_fixture(root):
    """The hand-made CUHK-SYSU files; see the expected values below."""
    annotation = osp.join(root, 'annotation')
    os.makedirs(osp.join(annotation, 'test', 'train_test'))
    os.makedirs(osp.join(annotation, 'test', 'subset'))
    os.makedirs(osp.join(root, 'Image', 'SSM'))
    for name in IMAGES:
        write_image(osp.join(root, 'Image', 'SSM', name))
    scipy.io.savemat(
        osp.join(annotation, 'Images.mat'),
        dict(
            Img=structs([(name, float(len(boxes)),
                          structs([(b, 0.0)
                                   for b in boxes], ('idlocate', 'ishard')))
                         for name, boxes in IMAGES.items()], ('imname',
                                                              'nAppear',
                                                              'box'))))
    scipy.io.savemat(
        osp.join(annotation, 'pool.mat'),
        dict(pool=cells(['q1.jpg', 'g1.jpg', 'g2.jpg'])))
    train = [('p0', [('a.jpg', box(10, 10, 20, 40), 0.0),
                     ('b.jpg', box(12, 8, 20, 40), 0.0)]),
             ('p1', [('b.jpg', box(30, 10, 10, 20), 0.0)])]
    scipy.io.savemat(
        osp.join(annotation, 'test', 'train_test', 'Train.mat'),
        dict(
            Train=cells([
                structs([(idname, float(len(rows)),
                          structs(rows, SCENE))], ('idname', 'nAppear',
                                                   'scene'))
                for idname, rows in train
            ])))
    train_test = osp.join(annotation, 'test', 'train_test')
    scipy.io.savemat(
        osp.join(train_test, 'TestG50.mat'),
        dict(TestG50=protocol([0, 1], ['g1.jpg', 'g2.jpg'])))
    scipy.io.savemat(
        osp.join(train_test, 'TestG100.mat'),
        dict(TestG100=protocol([0, 1], ['g2.jpg', 'g1.jpg'])))
    scipy.io.savemat(
        osp.join(annotation, 'test', 'subset', 'Occlusion.mat'),
        dict(Occlusion1=protocol([1], ['g2.jpg', 'g1.jpg'], extra=1.0)))
    return root


@pytest.fixture
def cuhk_root(tmp_path):
    return write_cuhk_fixture(str(tmp_path / 'cuhk'))


def rows(dataset):
    return {
        dataset.get_data_info(i)['img_id']: [
            tuple(inst['bbox']) + (inst['person_id'], )
            for inst in dataset.get_data_info(i)['instances']
        ]
        for i in range(len(dataset))
    }


def test_train_split_drops_empty_boxes_and_matches_int32_ids(cuhk_root):
    dataset = CUHKSYSUDataset(split='train', data_root=cuhk_root)
    assert rows(dataset) == {
        'a.jpg': [(10, 10, 30, 50, 0), (40, 5, 55, 35, -1)],
        # 10.6 wide in Images.mat, 10 in Train.mat: equal as int32
        'b.jpg': [(12, 8, 32, 48, 0), (30, 10, 40.6, 30, 1)],
        'c.jpg': [(0, 0, 10, 20, -1)],
    }
    info = dataset.get_data_info(0)
    assert (info['height'], info['width']) == (48, 64)
    assert info['img_path'] == osp.join(cuhk_root, 'Image/SSM', 'a.jpg')
    assert all(i['bbox_label'] == 0 and i['ignore_flag'] == 0
               for i in info['instances'])
    assert dataset.metainfo['classes'] == ('person', )
    assert dataset.metainfo['dataset_name'] == 'cuhk_sysu'


def test_filter_unlabelled_only_when_configured(cuhk_root):
    dataset = CUHKSYSUDataset(
        split='train',
        data_root=cuhk_root,
        filter_cfg=dict(filter_unlabelled=True))
    assert sorted(rows(dataset)) == ['a.jpg', 'b.jpg']


def test_gallery_split_uses_testg50_query_indices(cuhk_root):
    dataset = CUHKSYSUDataset(split='gallery', data_root=cuhk_root)
    assert rows(dataset) == {
        'q1.jpg': [(5, 5, 15, 25, 0), (20, 5, 30, 25, 1)],
        'g1.jpg': [(6, 6, 16, 26, 0), (30, 5, 35, 10, -1)],
        'g2.jpg': [(1, 1, 11, 21, 1)],
    }


def test_query_split_and_gallery_protocols(cuhk_root):
    dataset = CUHKSYSUDataset(
        split='query', data_root=cuhk_root, gallery_size=50)
    assert len(dataset) == 2
    for index, expected_box in enumerate([[5, 5, 15, 25], [20, 5, 30, 25]]):
        info = dataset.get_data_info(index)
        assert info['img_id'] == 'q1.jpg'
        assert info['query_bbox'] == expected_box
        assert info['query_person_id'] == index
        assert info['query_index'] == index
    query_indices, galleries = dataset.get_gallery_protocol()
    np.testing.assert_array_equal(query_indices, [0, 1])
    assert query_indices.dtype == np.int64 and galleries.dtype == object
    assert galleries.tolist() == [['g1.jpg', 'g2.jpg']] * 2
    assert dataset.get_gallery_protocol(100)[1].tolist() == \
        [['g2.jpg', 'g1.jpg']] * 2
    query_indices, galleries = dataset.get_gallery_protocol('occlusion')
    np.testing.assert_array_equal(query_indices, [1])
    assert galleries.tolist() == [['g2.jpg', 'g1.jpg']]
    boxes = dataset.get_gallery_query_boxes(50)
    np.testing.assert_array_equal(boxes[0, 0], [6, 6, 16, 26])
    np.testing.assert_array_equal(boxes[1, 1], [1, 1, 11, 21])
    assert np.isnan(boxes[0, 1]).all() and np.isnan(boxes[1, 0]).all()


def test_missing_subset_file_is_named(cuhk_root):
    dataset = CUHKSYSUDataset(split='query', data_root=cuhk_root)
    with pytest.raises(DatasetLayoutError, match='Resolution.mat'):
        dataset.get_gallery_protocol('resolution')
    with pytest.raises(DatasetLayoutError, match='TestG500.mat'):
        dataset.get_gallery_protocol(500)
    with pytest.raises(ValueError, match='unknown gallery protocol'):
        dataset.get_gallery_protocol(70)


def test_bad_arguments(cuhk_root, tmp_path):
    with pytest.raises(ValueError, match='split'):
        CUHKSYSUDataset(split='test', data_root=cuhk_root)
    with pytest.raises(ValueError, match='gallery_size'):
        CUHKSYSUDataset(split='query', data_root=cuhk_root, gallery_size=70)
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(DatasetLayoutError, match='nowhere.*does not exist'):
        CUHKSYSUDataset(split='train', data_root=missing)


def test_missing_or_malformed_files_are_named(cuhk_root):
    annotation = osp.join(cuhk_root, 'annotation')
    os.remove(osp.join(annotation, 'pool.mat'))
    with pytest.raises(DatasetLayoutError, match=r'pool\.mat.*"pool"'):
        CUHKSYSUDataset(split='gallery', data_root=cuhk_root)
    scipy.io.savemat(
        osp.join(annotation, 'Images.mat'), dict(Images=np.zeros((1, 1))))
    with pytest.raises(DatasetLayoutError, match=r'Images\.mat.*Img'):
        CUHKSYSUDataset(split='train', data_root=cuhk_root)
    scipy.io.savemat(
        osp.join(annotation, 'Images.mat'),
        dict(Img=structs([('a.jpg', 1.0)], ('imname', 'nAppear'))))
    with pytest.raises(DatasetLayoutError, match=r"Images\.mat.*\['box'\]"):
        CUHKSYSUDataset(split='train', data_root=cuhk_root)
    with open(osp.join(annotation, 'Images.mat'), 'w') as file:
        file.write('not a mat file')
    with pytest.raises(DatasetLayoutError, match=r'Cannot read.*Images\.mat'):
        CUHKSYSUDataset(split='train', data_root=cuhk_root)


def test_unreadable_image_is_named(cuhk_root):
    with open(osp.join(cuhk_root, 'Image', 'SSM', 'b.jpg'), 'w') as file:
        file.write('garbage')
    with pytest.raises(DatasetLayoutError, match=r'b\.jpg'):
        CUHKSYSUDataset(split='train', data_root=cuhk_root)


def test_synthetic_loader_returns_generated_boxes(tiny_synthetic):
    from mmsearch.datasets.synthetic import plan_dataset
    root, counts = tiny_synthetic
    train, test, _, queries = plan_dataset(TINY)

    def planned(plans):
        return sorted(
            sorted(
                (float(p.box[0]), float(p.box[1]), float(p.box[0] + p.box[2]),
                 float(p.box[1] + p.box[3]), p.person_id)
                for p in plan.persons) for plan in plans)

    data_root = osp.join(root, 'cuhk_sysu')
    train_set = CUHKSYSUDataset(split='train', data_root=data_root)
    gallery_set = CUHKSYSUDataset(
        split='gallery', data_root=data_root, gallery_size=50)
    query_set = CUHKSYSUDataset(
        split='query', data_root=data_root, gallery_size=50)
    assert instance_table(train_set) == planned(train)
    assert instance_table(gallery_set) == planned(test)
    assert len(train_set) == counts['train_images'] == TINY.num_train_images
    assert len(gallery_set) == counts['gallery_images']
    assert len(query_set) == counts['queries'] == TINY.num_test_ids
    train_ids = {
        i['person_id']
        for k in range(len(train_set))
        for i in train_set.get_data_info(k)['instances']
    }
    assert train_ids == set(range(counts['train_ids'])) | {-1}
    # every query has its person in >= 1 gallery image of TestG50
    _, galleries = query_set.get_gallery_protocol(50)
    boxes = query_set.get_gallery_query_boxes(50)
    assert galleries.shape == (TINY.num_test_ids, 50)
    assert (~np.isnan(boxes[..., 0])).sum(axis=1).min() >= 1
    for k in range(len(query_set)):
        info = query_set.get_data_info(k)
        assert info['img_id'] not in galleries[k]
        matched = [
            i for i in info['instances'] if i['bbox'] == info['query_bbox']
        ]
        assert [i['person_id'] for i in matched] == [info['query_person_id']]


def protocol_views(dataset, names=(50, 100, 'occlusion')):
    return {
        name: (dataset.get_gallery_protocol(name)[0].tolist(),
               dataset.get_gallery_protocol(name)[1].tolist(),
               np.nan_to_num(dataset.get_gallery_query_boxes(name),
                             nan=-1e9).tolist())
        for name in names
    }


def test_readers_and_cache_give_the_same_protocols(cuhk_root, tmp_path,
                                                   monkeypatch):
    cache_dir = str(tmp_path / 'cache')

    def make(**kwargs):
        return CUHKSYSUDataset(
            split='query', data_root=cuhk_root, lazy_init=True, **kwargs)

    scipy_views = protocol_views(make(protocol_reader='scipy', cache_dir=None))
    assert scipy_views[50][1] == [['g1.jpg', 'g2.jpg']] * 2  # as above
    assert protocol_views(make(cache_dir=None)) == scipy_views
    first = make(cache_dir=cache_dir)
    assert protocol_views(first) == scipy_views
    assert len(os.listdir(cache_dir)) == 3  # one entry per file
    # a new dataset (a later evaluation) reads the entries, not the files
    later = make(cache_dir=cache_dir, protocol_reader='scipy')

    def no_parsing(*args):
        raise AssertionError('parsed a protocol file again')

    monkeypatch.setattr(cuhk_sysu, 'read_protocol', no_parsing)
    assert protocol_views(later) == scipy_views
    with pytest.raises(ValueError, match='protocol_reader'):
        make(protocol_reader='fast')


def test_changed_protocol_file_is_read_again(cuhk_root, tmp_path):
    cache_dir = str(tmp_path / 'cache')
    before = CUHKSYSUDataset(
        split='query', data_root=cuhk_root, cache_dir=cache_dir)
    assert before.get_gallery_protocol(100)[1].tolist() == \
        [['g2.jpg', 'g1.jpg']] * 2
    path = osp.join(cuhk_root, 'annotation', 'test', 'train_test',
                    'TestG100.mat')
    scipy.io.savemat(path, dict(TestG100=protocol([0, 1], ['g1.jpg'])))
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = CUHKSYSUDataset(
        split='query', data_root=cuhk_root, cache_dir=cache_dir)
    assert after.get_gallery_protocol(100)[1].tolist() == [['g1.jpg']] * 2
    # the query split itself (TestG50) came from the cache, unchanged
    assert [after.get_data_info(i)['query_bbox'] for i in range(2)] == \
        [[5, 5, 15, 25], [20, 5, 30, 25]]


def test_synthetic_protocols_equal_across_readers(tiny_synthetic, tmp_path):
    root = osp.join(tiny_synthetic[0], 'cuhk_sysu')
    lean = CUHKSYSUDataset(
        split='query', data_root=root, cache_dir=str(tmp_path / 'c'))
    old = CUHKSYSUDataset(
        split='query', data_root=root, cache_dir=None, protocol_reader='scipy')
    assert [lean.get_data_info(i) for i in range(len(lean))] == \
        [old.get_data_info(i) for i in range(len(old))]
    assert protocol_views(lean, (50, )) == protocol_views(old, (50, ))


def test_gallery_ids_carry_a_name_table_the_metric_uses(cuhk_root):
    from mmsearch.evaluation.functional import build_search_gallery
    from mmsearch.evaluation.metrics.search_protocols import cuhk_galleries
    dataset = CUHKSYSUDataset(
        split='query', data_root=cuhk_root, lazy_init=True, cache_dir=None)
    _, ids = dataset.get_gallery_protocol(100)
    names, index = ids.name_table
    assert np.array_equal(names[index], ids) and index.shape == ids.shape
    assert ids[0].name_table is None  # a row is not described by it
    images = ['g2.jpg', 'q1.jpg', 'g1.jpg']
    gallery = build_search_gallery(images, [np.zeros(
        (1, 4))] * 3, [np.ones(1)] * 3, [np.ones(
            (1, 2), np.float32)] * 3, [np.zeros((0, 4))] * 3,
                                   [np.zeros(0, np.int64)] * 3)

    def plain(name):
        query_indices, gallery_ids = dataset.get_gallery_protocol(name)
        return query_indices, np.array(gallery_ids.tolist(), dtype=object)

    for protocol in (dataset.get_gallery_protocol, plain):
        (rows, galleries), = cuhk_galleries([100], protocol, gallery, {
            0: 0,
            1: 1
        })
        np.testing.assert_array_equal(galleries['100'].img_indices,
                                      [[0, 2], [0, 2]])
