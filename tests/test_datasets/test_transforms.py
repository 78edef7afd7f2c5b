"""LoadPersonSearchAnnotations and PackPersonSearchInputs."""
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import get_box_tensor

from mmsearch.registry import TRANSFORMS


def data_info(**extra):
    info = dict(
        img_path='scene.jpg',
        img_id='scene.jpg',
        height=20,
        width=30,
        img=np.zeros((20, 30, 3), np.uint8),
        img_shape=(20, 30),
        ori_shape=(20, 30),
        instances=[
            dict(
                bbox=[1., 2., 5., 9.],
                bbox_label=0,
                person_id=4,
                ignore_flag=0),
            dict(
                bbox=[3., 3., 8., 8.],
                bbox_label=0,
                person_id=-1,
                ignore_flag=1),
            dict(
                bbox=[10., 1., 20., 19.],
                bbox_label=0,
                person_id=-1,
                ignore_flag=0),
        ])
    info.update(extra)
    return info


def test_load_adds_person_ids_in_box_order():
    load = TRANSFORMS.build(dict(type='LoadPersonSearchAnnotations'))
    results = load(data_info())
    assert results['gt_person_ids'].dtype == np.int64
    np.testing.assert_array_equal(results['gt_person_ids'], [4, -1, -1])
    np.testing.assert_array_equal(
        get_box_tensor(results['gt_bboxes']).numpy()[:, 0], [1, 3, 10])
    np.testing.assert_array_equal(results['gt_ignore_flags'],
                                  [False, True, False])
    assert 'with_person_id=True' in repr(load)


def test_load_names_the_image_when_person_id_is_missing():
    info = data_info()
    del info['instances'][1]['person_id']
    load = TRANSFORMS.build(dict(type='LoadPersonSearchAnnotations'))
    with pytest.raises(KeyError, match=r'instance 1 of scene\.jpg'):
        load(info)


def test_pack_splits_person_ids_like_boxes_and_keeps_query_meta():
    load = TRANSFORMS.build(dict(type='LoadPersonSearchAnnotations'))
    pack = TRANSFORMS.build(dict(type='PackPersonSearchInputs'))
    packed = pack(
        load(
            data_info(
                query_bbox=[1., 2., 5., 9.],
                query_person_id=4,
                query_index=7,
                cam_id=2,
                pair_position=1,
                scale_factor=(1.0, 1.0))))
    sample = packed['data_samples']
    assert packed['inputs'].shape == (3, 20, 30)
    assert sample.gt_instances.person_ids.dtype == torch.long
    assert sample.gt_instances.person_ids.tolist() == [4, -1]
    assert get_box_tensor(sample.gt_instances.bboxes)[:, 0].tolist() == \
        [1, 10]
    assert sample.ignored_instances.person_ids.tolist() == [-1]
    meta = sample.metainfo
    assert meta['query_bbox'] == [1., 2., 5., 9.]
    assert (meta['query_person_id'], meta['query_index'], meta['cam_id'],
            meta['pair_position']) == (4, 7, 2, 1)
    assert meta['img_id'] == 'scene.jpg'
    assert 'pair_index' not in meta  # absent keys are not invented


def test_pack_refuses_person_ids_out_of_step_with_boxes():
    load = TRANSFORMS.build(dict(type='LoadPersonSearchAnnotations'))
    pack = TRANSFORMS.build(dict(type='PackPersonSearchInputs'))
    results = load(data_info())
    results['gt_person_ids'] = results['gt_person_ids'][:2]
    with pytest.raises(ValueError, match=r'2 gt_person_ids but 3 gt_bboxes'):
        pack(results)
