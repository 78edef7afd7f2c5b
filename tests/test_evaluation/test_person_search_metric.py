"""PersonSearchMetric on a hand-worked three-image, two-query problem.

3-d features: query 0 = e0, query 1 = e1, so a detection's similarity to
query 0 / 1 is its feature's first / second coordinate.

- a.jpg (camera 0): person 0 at BIG; detections a0 = BIG (0.6, 0, 0.8),
  a1 = far (0.9, 0.1, .)
- b.jpg (camera 1): person 1 at BIG; detection b0 = BIG (0.8, 0.5, .)
- q.jpg (camera 0): the query image, person 0 at BIG, person 1 at RIGHT.

Query 0 over {a, b}: 0.9 N, 0.8 N, 0.6 P -> AP = 1/3, top-1 miss.
Query 1 over {a, b}: 0.5 P first -> AP = 1, top-1 hit.
"""
import json

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.structures import InstanceData

from mmsearch.evaluation import PersonSearchMetric
from mmsearch.evaluation.functional import build_search_gallery
from mmsearch.evaluation.metrics.result_collection import (
    collect_unique_results, result_difference)

BIG = [0.0, 0.0, 100.0, 200.0]
FAR = [300.0, 0.0, 400.0, 200.0]
RIGHT = [200.0, 0.0, 300.0, 200.0]


def unit(x, y):
    return [x, y, float(np.sqrt(1 - x * x - y * y))]


def gallery_sample(img_id, cam_id, dets, gts):
    sample = DetDataSample(metainfo=dict(img_id=img_id, cam_id=cam_id))
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([d[0] for d in dets]).reshape(-1, 4),
        scores=torch.full((len(dets), ), 0.9),
        labels=torch.zeros(len(dets), dtype=torch.long),
        reid_feats=torch.tensor([d[1] for d in dets]).reshape(len(dets), 3))
    sample.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(torch.tensor([g[0] for g in gts])),
        labels=torch.zeros(len(gts), dtype=torch.long),
        person_ids=torch.tensor([g[1] for g in gts]))
    return sample.to_dict()


QUERY_IMAGE_DETS = [(BIG, [0.0, 0.0, 1.0]), (RIGHT, [0.0, 1.0, 0.0])]


def query_sample(index, bbox, feat_dim=3):
    sample = DetDataSample(
        metainfo=dict(
            img_id='q.jpg',
            cam_id=0,
            query_bbox=bbox,
            query_person_id=index,
            query_index=index))
    sample.pred_query_feat = torch.eye(feat_dim)[index]
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([d[0] for d in QUERY_IMAGE_DETS]),
        scores=torch.tensor([0.9, 0.9]),
        labels=torch.zeros(2, dtype=torch.long),
        reid_feats=torch.tensor([d[1] for d in QUERY_IMAGE_DETS]))
    return sample.to_dict()


def samples(query_feat_dim=3):
    gallery = [
        gallery_sample('a.jpg', 0, [(BIG, unit(0.6, 0)),
                                    (FAR, unit(0.9, 0.1))], [(BIG, 0)]),
        gallery_sample('b.jpg', 1, [(BIG, unit(0.8, 0.5))], [(BIG, 1)]),
        gallery_sample('q.jpg', 0, QUERY_IMAGE_DETS, [(BIG, 0), (RIGHT, 1)]),
    ]
    queries = [
        query_sample(0, BIG, query_feat_dim),
        query_sample(1, RIGHT, query_feat_dim)
    ]
    return gallery, queries


def protocol(name, listed=None):
    lists = {
        100: [['a.jpg', 'b.jpg'], ['b.jpg', 'a.jpg']],
        50: [['a.jpg'], ['b.jpg']]
    }
    if listed is not None:
        lists[100] = listed
    if name == 'occlusion':  # a subset: query 1 only, mapped to the list
        return np.array([1]), np.array([['a.jpg', 'b.jpg']], dtype=object)
    return np.arange(2), np.array(lists[name], dtype=object)


def run_metric(metric,
               gallery,
               queries,
               listed=None,
               dataset_name='cuhk_sysu',
               num_queries=None):
    metric.dataset_meta = dict(
        classes=('person', ),
        dataset_name=dataset_name,
        gallery_protocol=lambda name: protocol(name, listed),
        num_gallery_images=len(gallery),
        num_queries=len(queries) if num_queries is None else num_queries)
    metric.process({}, gallery)
    metric.process({}, queries)
    return metric.evaluate(len(gallery) + len(queries))


def test_cuhk_keys_and_values(tmp_path):
    ranking_file = tmp_path / 'rank.json'
    metric = PersonSearchMetric(
        gallery_sizes=(100, 'full'), cbgm=True, ranking_file=str(ranking_file))
    res = run_metric(metric, *samples())
    # (1/3 + 1) / 2; top-1: only query 1; top-5: both
    assert res['cuhk/mAP@100'] == pytest.approx(2 / 3)
    assert res['cuhk/top1@100'] == 0.5
    assert res['cuhk/top5@100'] == 1.0
    # full = TestG50 list + the other non-query image: same detections
    assert res['cuhk/mAP@full'] == pytest.approx(2 / 3)
    # CBGM, query 0 (context: e0, then the RIGHT detection e1): image a
    # matches q->a1 (0.9) + e1->a0 (0) over q->a0 (0.6) + e1->a1 (0.1); the
    # max matched value 0.9 is a1's own similarity: AP stays 1/3.
    # Query 1 (context: e1, then the BIG detection e2): image a matches
    # q->a1 (0.1) + e2->a0 (0.8) = 0.9 over q->a0 (0) + e2->a1 (0.42), so a1
    # becomes 0.8 > b0 = 0.5: AP = 1/2. mAP = (1/3 + 1/2) / 2 = 5/12
    assert res['cbgm/cuhk/mAP@100'] == pytest.approx(5 / 12)
    assert res['cbgm/cuhk/top1@100'] == 0.0
    # detection: 4 gts, 5 detections at one score, 4 TP -> AP = 4/5 * 1
    assert res['det/AP'] == pytest.approx(0.8)
    assert res['det/recall'] == 1.0
    assert res['det/AP_labelled'] == pytest.approx(0.8)
    ranking = json.loads(ranking_file.read_text())
    assert ranking['gallery'] == '100'
    ranked = ranking['queries'][0]['ranked']
    assert [(r['img_id'], r['is_positive'])
            for r in ranked] == [('a.jpg', False), ('b.jpg', False),
                                 ('a.jpg', True)]
    assert ranked[0]['similarity'] == pytest.approx(0.9)
    assert ranking['options']['query_feat_source'] == 'gt_box'


def test_query_subset_evaluates_its_queries_only():
    metric = PersonSearchMetric(gallery_sizes=(100, 'occlusion'))
    res = run_metric(metric, *samples())
    # the occlusion subset holds query 1 only: AP 1, top-1 hit
    assert res['cuhk/mAP@occlusion'] == pytest.approx(1.0)
    assert res['cuhk/top1@occlusion'] == 1.0
    assert res['cuhk/mAP@100'] == pytest.approx(2 / 3)


def test_query_ids_outside_the_protocol_raise():
    gallery, queries = samples()
    queries[1]['query_person_id'] = 5
    with pytest.raises(ValueError, match='query_person_id other than'):
        run_metric(PersonSearchMetric(), gallery, queries)


def test_gallery_without_any_detection_scores_zero():
    gallery = [
        gallery_sample(name, 0, [], [(BIG, i)])
        for i, name in enumerate(('a.jpg', 'b.jpg', 'q.jpg'))
    ]
    res = run_metric(PersonSearchMetric(), gallery, samples()[1])
    # every query person is in the gallery (count_gt 1) but never found
    assert res['cuhk/mAP@100'] == 0.0 and res['cuhk/top10@100'] == 0.0
    assert res['det/AP'] == 0.0 and res['det/recall'] == 0.0


def test_query_feature_from_detection():
    metric = PersonSearchMetric(query_feat_source='detection')
    res = run_metric(metric, *samples())
    # query 0 now uses the query-image detection at BIG, feature e2:
    # a0 0.8 P, a1 0.42, b0 0.33 -> AP 1 for both queries
    assert res['cuhk/mAP@100'] == pytest.approx(1.0)


def test_prw_whole_and_multiview_gallery():
    metric = PersonSearchMetric(protocol='prw')
    res = run_metric(metric, *samples(), dataset_name='prw')
    # query 0: all = {a, b}: AP 1/3; multiview = {b}: person 0 absent -> 0
    # query 1: all = {a, b}: AP 1; multiview = {b}: AP 1
    assert res['prw/mAP'] == pytest.approx(2 / 3)
    assert res['prw/mAP@multiview'] == pytest.approx(0.5)
    assert res['prw/top1@multiview'] == 0.5


def test_missing_protocol_query_raises():
    gallery, queries = samples()
    metric = PersonSearchMetric()
    with pytest.raises(ValueError, match=r'missing from the query results'):
        run_metric(metric, gallery, queries[:1])


def test_missing_query_sample_raises():
    gallery, queries = samples()
    metric = PersonSearchMetric()
    with pytest.raises(ValueError, match='expected 3 distinct query'):
        run_metric(metric, gallery, queries, num_queries=3)


def test_protocol_image_missing_from_gallery_raises():
    metric = PersonSearchMetric()
    with pytest.raises(KeyError, match=r"protocol 100.*'zz.jpg'"):
        run_metric(
            metric,
            *samples(),
            listed=[['a.jpg', 'zz.jpg'], ['a.jpg', 'b.jpg']])


def test_wrong_query_feature_dimension_raises():
    metric = PersonSearchMetric()
    with pytest.raises(ValueError, match='gallery features have dimension 3'):
        run_metric(metric, *samples(query_feat_dim=4))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match='gallery_sizes entry 123'):
        PersonSearchMetric(gallery_sizes=(123, ))
    with pytest.raises(ValueError, match='query_feat_source'):
        PersonSearchMetric(query_feat_source='crop')


# Results that would give wrong numbers silently must raise.
def poison(sample, key, index, value):
    """Set one value of ``pred_instances[key]`` (a tensor) in place."""
    sample['pred_instances'][key].view(-1)[index] = value


@pytest.mark.parametrize('key,index,value', [('reid_feats', 0, np.nan),
                                             ('reid_feats', 4, np.inf),
                                             ('scores', 1, np.nan),
                                             ('bboxes', 2, -np.inf)])
def test_nan_or_inf_gallery_detection_names_the_image(key, index, value):
    gallery, queries = samples()
    poison(gallery[0], key, index, value)
    with pytest.raises(
            ValueError,
            match=rf"gallery image 'a\.jpg': 1 NaN or infinite "
            rf"values in its detections' {key}"):
        run_metric(PersonSearchMetric(), gallery, queries)


def test_all_nan_gallery_features_raise():
    # before the check: mAP = inf and top-1 100 %
    gallery, queries = samples()
    for sample in gallery:
        sample['pred_instances']['reid_feats'][:] = float('nan')
    with pytest.raises(ValueError, match=r"'a\.jpg': 6 NaN"):
        run_metric(
            PersonSearchMetric(protocol='prw'),
            gallery,
            queries,
            dataset_name='prw')


def test_nan_query_feature_and_query_image_detections_raise():
    gallery, queries = samples()
    queries[1]['pred_query_feat'][0] = float('nan')
    with pytest.raises(ValueError, match=r"query 1 \(image 'q\.jpg'\)"):
        run_metric(PersonSearchMetric(), gallery, queries)
    gallery, queries = samples()
    poison(queries[0], 'reid_feats', 0, np.nan)
    with pytest.raises(ValueError, match=r"query image 'q\.jpg'"):
        run_metric(PersonSearchMetric(cbgm=True), gallery, queries)


def test_build_search_gallery_checks_every_detection():
    # a NaN score would be dropped by det_thresh (NaN >= 0.5 is False)
    args = ([np.zeros((1, 4)), np.zeros(
        (1, 4))], [np.array([0.9]),
                   np.array([np.nan])], [np.ones(
                       (1, 2)), np.ones((1, 2))], [np.zeros(
                           (0, 4))] * 2, [np.zeros(0, int)] * 2)
    with pytest.raises(ValueError, match=r"'y\.jpg': 1 NaN .* scores"):
        build_search_gallery(['x.jpg', 'y.jpg'], *args)


def test_contradictory_duplicate_gallery_record_raises():
    gallery, queries = samples()
    # a second 'b.jpg' with other detections (the first used to be kept)
    other_b = gallery_sample('b.jpg', 1, [(BIG, unit(0.1, 0.9))], [(BIG, 1)])
    with pytest.raises(
            ValueError,
            match=r"two different results for gallery 'b\.jpg' "
            r'\(det_feats: different values\)'):
        run_metric(PersonSearchMetric(), gallery + [other_b], queries)


def test_identical_duplicates_from_padding_are_fine():
    gallery, queries = samples()
    expected = run_metric(PersonSearchMetric(), *samples())
    assert expected['cuhk/mAP@100'] == pytest.approx(2 / 3)
    # a padded rank repeats gallery image a.jpg and query 0
    metric = PersonSearchMetric()
    metric.dataset_meta = dict(
        dataset_name='cuhk_sysu',
        gallery_protocol=protocol,
        num_gallery_images=3,
        num_queries=2)
    metric.process({}, gallery + samples()[0][:1])
    metric.process({}, queries + samples()[1][:1])
    assert metric.evaluate(5) == pytest.approx(expected)


def test_result_difference_names_the_field():
    first = dict(kind='gallery', img_id='a', det_scores=np.array([0.9, 0.8]))
    assert result_difference(first, dict(first)) is None
    rounded = dict(first, det_scores=np.array([0.9, 0.8 + 1e-9]))
    assert result_difference(first, rounded) is None
    assert result_difference(
        first, dict(first, det_scores=np.array([0.9]))) == \
        'det_scores: shape (2,) vs (1,)'
    assert result_difference(first, dict(first, cam_id=1)).startswith('keys')
    with pytest.raises(ValueError, match="gallery 'a'"):
        collect_unique_results(
            [first, dict(first, det_scores=np.array([0.9, 0.1]))], lambda r:
            (r['kind'], r['img_id']))


def test_prw_query_frame_missing_from_gallery_raises():
    gallery, queries = samples()
    # before: q.jpg could not be excluded from its own gallery and top-1 rose
    with pytest.raises(
            ValueError,
            match=r"2 PRW queries have a frame that is not among "
            r"the gallery results, e\.g\. .*\(0, 'q\.jpg'\)"):
        run_metric(
            PersonSearchMetric(protocol='prw'),
            gallery[:2],
            queries,
            dataset_name='prw')
