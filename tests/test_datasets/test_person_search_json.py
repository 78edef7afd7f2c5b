"""PersonSearchJSONDataset: the converters reproduce the native loaders,
the format's rules, and its errors."""
import json
import os.path as osp
import re

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmsearch.datasets import (CUHKSYSUDataset, DatasetLayoutError,
                               PersonSearchJSONDataset, PRWDataset,
                               parse_annotations)
from mmsearch.engine import query_dataloader_cfg
from mmsearch.evaluation import PersonSearchMetric
from mmsearch.testing import evaluate_fake_search, load_tool_module

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
NATIVE = dict(cuhk_sysu=CUHKSYSUDataset, prw=PRWDataset)
IMAGES = dict(cuhk_sysu='Image/SSM/', prw='frames/')


@pytest.fixture(scope='module')
def converted(tiny_synthetic, tmp_path_factory):
    """{format: json folder}: both tiny layouts converted by the tool."""
    root, _ = tiny_synthetic
    tool = load_tool_module(
        'tools/dataset_converters/person_search_to_json.py')
    folders = {}
    for data_format in NATIVE:
        out = tmp_path_factory.mktemp(f'json_{data_format}')
        for split, content in tool.convert(
                osp.join(root, data_format), data_format).items():
            with open(out / f'{split}.json', 'w') as f:
                json.dump(content, f)
        folders[data_format] = str(out)
    return folders


def native_and_json(root, folder, data_format, split):
    kwargs = dict(split=split, pipeline=[])
    if data_format == 'cuhk_sysu':
        native = CUHKSYSUDataset(
            data_root=osp.join(root, data_format), gallery_size=50, **kwargs)
    else:
        native = PRWDataset(data_root=osp.join(root, data_format), **kwargs)
    ours = PersonSearchJSONDataset(
        data_root=osp.join(root, data_format),
        ann_file=osp.join(folder,
                          'train.json' if split == 'train' else 'test.json'),
        data_prefix=dict(img=IMAGES[data_format]),
        gallery_name=50 if data_format == 'cuhk_sysu' else None,
        **kwargs)
    return native, ours


@pytest.mark.parametrize('data_format', ['cuhk_sysu', 'prw'])
@pytest.mark.parametrize('split', ['train', 'gallery', 'query'])
def test_converted_data_infos_equal_native(tiny_synthetic, converted,
                                           data_format, split):
    root, counts = tiny_synthetic
    native, ours = native_and_json(root, converted[data_format], data_format,
                                   split)
    expected_len = dict(
        train=counts['train_images'],
        gallery=counts['gallery_images'],
        query=counts['queries'])[split]
    assert len(native) == len(ours) == expected_len
    for index in range(len(native)):
        a, b = native.get_data_info(index), ours.get_data_info(index)
        assert sorted(a) == sorted(b), (index, sorted(a), sorted(b))
        for key in a:
            assert a[key] == b[key], (split, index, key, a[key], b[key])
    if split == 'train':
        assert ours.metainfo['num_person_ids'] == counts['train_ids']


def test_converted_gallery_lists_equal_native(tiny_synthetic, converted):
    root, _ = tiny_synthetic
    native, ours = native_and_json(root, converted['cuhk_sysu'], 'cuhk_sysu',
                                   'query')
    assert ours.gallery_names() == ['50', 'occlusion', 'resolution']
    for name in (50, 'occlusion', 'resolution'):
        (q_native, g_native), (q_ours,
                               g_ours) = (native.get_gallery_protocol(name),
                                          ours.get_gallery_protocol(name))
        assert q_native.tolist() == q_ours.tolist()
        assert g_native.tolist() == g_ours.tolist()
    with pytest.raises(
            KeyError, match='no gallery list "100"; it has 50, occlusion'):
        ours.get_gallery_protocol(100)


@pytest.mark.parametrize('data_format,options', [
    ('cuhk_sysu', dict(gallery_sizes=(50, 'full', 'occlusion'), cbgm=True)),
    ('prw', dict(multiview=True, cbgm=True)),
])
def test_metric_gives_the_same_numbers(tiny_synthetic, converted, data_format,
                                       options):
    root, _ = tiny_synthetic
    results = []
    for source in (0, 1):
        datasets = [
            native_and_json(root, converted[data_format], data_format,
                            split)[source] for split in ('gallery', 'query')
        ]
        results.append(
            evaluate_fake_search(PersonSearchMetric(**options), *datasets))
    native, ours = results
    assert native == ours
    key = 'cuhk/mAP@50' if data_format == 'cuhk_sysu' else 'prw/mAP'
    # not a degenerate search: some but not all queries find their person
    assert 0.05 < native[key] < 0.999, native


def write(path, content):
    with open(path, 'w') as f:
        json.dump(content, f)
    return str(path)


def own_file(tmp_path, **extra):
    """A hand-made test file: 3 images, persons 7 (twice), 3, 12 and one
    unlabelled, one empty box."""
    content = dict(
        images=[
            dict(id=10, file_name='a.jpg', height=100, width=200, cam_id=1),
            dict(id=11, file_name='b.jpg', height=100, width=200, cam_id=2),
            dict(id=12, file_name='c.jpg', height=100, width=200, cam_id=2)
        ],
        annotations=[
            dict(id=1, image_id=10, bbox=[10, 10, 20, 40], person_id=7),
            dict(id=2, image_id=10, bbox=[50, 10, 20, 40], person_id=-1),
            dict(id=3, image_id=11, bbox=[5, 5, 30, 60], person_id=12),
            dict(id=4, image_id=11, bbox=[60, 5, 0, 60], person_id=3),
            dict(
                id=5,
                image_id=12,
                bbox=[1.5, 2, 30, 60],
                person_id=7,
                ignore=1),
            dict(id=6, image_id=12, bbox=[100, 5, 30, 60], person_id=3),
        ],
        queries=[
            dict(
                image_id=12,
                bbox=[1.5, 2, 30, 60],
                person_id=7,
                annotation_id=5),
            dict(image_id=11, bbox=[5, 5, 30, 60], person_id=12),
        ])
    content.update(extra)
    return write(tmp_path / 'test.json', content)


def test_own_file_train_split(tmp_path):
    dataset = PersonSearchJSONDataset(
        ann_file=own_file(tmp_path), split='train', pipeline=[])
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    # labelled ids 3, 7, 12 -> 0, 1, 2; the empty box (id 4) is left out
    assert [[i['person_id'] for i in info['instances']]
            for info in infos] == [[1, -1], [2], [1, 0]]
    assert dataset.metainfo['num_person_ids'] == 3
    assert dataset.person_id_map == {3: 0, 7: 1, 12: 2}
    assert infos[2]['instances'][0] == dict(
        bbox=[1.5, 2.0, 31.5, 62.0], bbox_label=0, person_id=1, ignore_flag=1)
    assert infos[0]['img_path'] == osp.join('images/', 'a.jpg')
    assert infos[0]['img_id'] == 'a.jpg' and infos[0]['cam_id'] == 1
    assert (infos[0]['height'], infos[0]['width']) == (100, 200)


def test_own_file_without_galleries_is_prw_protocol(tmp_path):
    query = PersonSearchJSONDataset(
        ann_file=own_file(tmp_path), split='query', pipeline=[])
    assert query.metainfo['dataset_name'] == 'prw'
    first, second = query.get_data_info(0), query.get_data_info(1)
    # ids kept as in the file; the query's box is instance 0 of c.jpg
    assert first['query_person_id'] == 7 and first['query_index'] == 0
    assert first['query_bbox'] == [1.5, 2.0, 31.5, 62.0]
    assert first['query_instance_index'] == 0
    assert 'query_instance_index' not in second
    assert second['query_person_id'] == 12 and second['img_id'] == 'b.jpg'
    with pytest.raises(NotImplementedError, match='every other test image'):
        query.get_gallery_protocol()


def test_own_file_with_galleries_numbers_persons_by_query(tmp_path):
    path = own_file(
        tmp_path,
        galleries={
            'main': [
                dict(query=0, image_ids=[10, 11]),
                dict(query=1, image_ids=[10, 12])
            ]
        })
    gallery = PersonSearchJSONDataset(
        ann_file=path, split='gallery', pipeline=[])
    query = PersonSearchJSONDataset(ann_file=path, split='query', pipeline=[])
    assert gallery.metainfo['dataset_name'] == 'cuhk_sysu'
    # queried 7 -> 0, 12 -> 1; the other labelled person 3 -> 2 (= Q + 0)
    assert [[i['person_id'] for i in gallery.get_data_info(k)['instances']]
            for k in range(3)] == [[0, -1], [1], [0, 2]]
    assert [query.get_data_info(k)['query_person_id']
            for k in range(2)] == [0, 1]
    indices, images = query.get_gallery_protocol()  # the only list
    assert indices.tolist() == [0, 1]
    assert images.tolist() == [['a.jpg', 'b.jpg'], ['a.jpg', 'c.jpg']]


@pytest.mark.parametrize('change,message', [
    (dict(images=[dict(id=1, file_name='a.jpg', height=10)]),
     r'images\[0\] \(id 1\): missing or invalid width'),
    (dict(annotations=[dict(image_id=99, bbox=[0, 0, 1, 1], person_id=1)]),
     r'annotations\[0\]: image_id 99 is not the id'),
    (dict(annotations=[dict(id=5, image_id=10, bbox=[0, 0, 1], person_id=1)]),
     r'annotations\[0\] \(id 5\): bbox \[0, 0, 1\]; expected \[x, y, width'),
    (dict(annotations=[dict(image_id=10, bbox=[0, 0, 1, 1], person_id=-2)]),
     r'person_id -2; expected an integer >= 0, or -1'),
    (dict(queries=[dict(image_id=10, bbox=[0, 0, 5, 5], person_id=-1)]),
     r'queries\[0\]: person_id -1; a query needs a labelled person'),
    (dict(galleries={'g': [dict(query=5, image_ids=[10])]}),
     r'galleries\["g"\]\[0\]: expected \{"query": a position'),
    (dict(
        queries=[
            dict(image_id=10, bbox=[0, 0, 5, 5], person_id=7),
            dict(image_id=12, bbox=[0, 0, 5, 5], person_id=7)
        ],
        galleries={'g': [dict(query=0, image_ids=[11])]
                   }), r'more than one query \(e.g. person 7\)'),
])
def test_bad_file_names_file_and_entry(tmp_path, change, message):
    path = own_file(tmp_path, **change)
    with pytest.raises(DatasetLayoutError) as error:
        PersonSearchJSONDataset(ann_file=path, split='query', pipeline=[])
    assert path in str(error.value)
    assert 'check_dataset.py' in str(error.value)
    assert re.search(message, str(error.value)), error.value


def test_unreadable_files(tmp_path):
    with pytest.raises(DatasetLayoutError, match='does not exist'):
        PersonSearchJSONDataset(
            ann_file=str(tmp_path / 'none.json'), pipeline=[])
    bad = tmp_path / 'bad.json'
    bad.write_text('{"images": [')
    with pytest.raises(DatasetLayoutError, match='Cannot read .*bad.json'):
        PersonSearchJSONDataset(ann_file=str(bad), pipeline=[])
    with pytest.raises(DatasetLayoutError, match='no queries'):
        PersonSearchJSONDataset(
            ann_file=write(tmp_path / 'train.json',
                           dict(images=[], annotations=[])),
            split='query',
            pipeline=[])


def test_warnings_do_not_stop_loading(tmp_path):
    with open(own_file(tmp_path)) as f:
        content = json.load(f)
    content['annotations'].append(
        dict(image_id=10, bbox=[190, 0, 20, 10], person_id=-1))
    parsed = parse_annotations(content)
    assert parsed.errors == []
    assert parsed.num_dropped == 1  # annotation 4, width 0
    messages = [str(p) for p in parsed.problems]
    assert any('annotations[3] (id 4): empty bbox' in m for m in messages)
    assert any('annotations[6]: bbox [190, 0, 20, 10] reaches outside' in m
               for m in messages)


def test_example_config_builds_dataloaders_and_metric(tiny_synthetic,
                                                      converted):
    """The synthetic JSON example config, pointed at the tiny set."""
    root, counts = tiny_synthetic
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'dcinet', 'dcinet_r18_synthetic_json.py'))
    data_root = osp.join(root, 'cuhk_sysu')
    ann = dict(
        train=osp.join(converted['cuhk_sysu'], 'train.json'),
        test=osp.join(converted['cuhk_sysu'], 'test.json'))
    cfg.train_dataloader.dataset.dataset.update(
        data_root=data_root, ann_file=ann['train'])
    for loader in (cfg.test_dataloader, cfg.val_dataloader,
                   cfg.test_cfg.query_dataloader):
        loader.dataset.update(data_root=data_root, ann_file=ann['test'])
    assert cfg.test_cfg.query_dataloader.dataset.split == 'query'
    assert cfg.test_cfg.query_dataloader.dataset.type == \
        'PersonSearchJSONDataset'
    loaders = dict(
        train=cfg.train_dataloader,
        gallery=cfg.val_dataloader,
        query=query_dataloader_cfg(cfg.val_dataloader, 'test'))
    for loader in loaders.values():
        loader.update(num_workers=0, persistent_workers=False)
    built = {k: Runner.build_dataloader(v, seed=0) for k, v in loaders.items()}
    assert len(built['train'].dataset) == counts['train_images']
    assert len(built['gallery'].dataset) == counts['gallery_images']
    assert len(built['query'].dataset) == counts['queries']
    # a training batch: pairs of images sharing a labelled person
    batch = next(iter(built['train']))
    samples = batch['data_samples']
    assert len(samples) == 2 * cfg.train_dataloader.batch_size
    shared = set(samples[0].gt_instances.person_ids.tolist()) & set(
        samples[1].gt_instances.person_ids.tolist())
    assert any(pid >= 0 for pid in shared)
    query_batch = next(iter(built['query']))
    assert 'query_bbox' in query_batch['data_samples'][0]
    # the config's metric on the built splits equals the native loader's
    options = {k: v for k, v in cfg.val_evaluator.items() if k != 'type'}
    assert cfg.val_evaluator.type == 'PersonSearchMetric'
    ours = evaluate_fake_search(
        PersonSearchMetric(**options), built['gallery'].dataset,
        built['query'].dataset)
    native = evaluate_fake_search(
        PersonSearchMetric(**options), *[
            CUHKSYSUDataset(
                data_root=data_root, split=s, gallery_size=50, pipeline=[])
            for s in ('gallery', 'query')
        ])
    assert ours == native and 'cuhk/mAP@50' in ours
    assert np.isfinite(ours['cuhk/mAP@50'])
