"""Vectorised search evaluation: hand-worked cases and the loop reference."""
import numpy as np
import pytest

from mmsearch.evaluation.functional import (CameraGallery, ListedGallery,
                                            build_search_gallery,
                                            context_matching, evaluate_search,
                                            reference_search)

QUERY_FEAT = np.array([[1.0, 0.0]], np.float32)
PERSON = 7
BIG = [0, 0, 100, 200]  # w=100, h=200 -> IoU threshold 0.5


def feat(sim):
    """2-d unit feature whose similarity to QUERY_FEAT is exactly ``sim``."""
    return [sim, np.sqrt(1 - sim**2)]


def gallery_of(images, cams=None):
    """images: list of (dets [(box, sim)], gts [(box, person_id)])."""
    return build_search_gallery([f'{i}.jpg' for i in range(len(images))], [
        np.array([d[0] for d in dets], float).reshape(-1, 4)
        for dets, _ in images
    ], [np.ones(len(dets)) for dets, _ in images], [
        np.array([feat(d[1]) for d in dets], np.float32).reshape(-1, 2)
        for dets, _ in images
    ], [
        np.array([g[0] for g in gts], float).reshape(-1, 4)
        for _, gts in images
    ], [np.array([g[1] for g in gts], int) for _, gts in images],
                                cam_ids=cams,
                                det_thresh=0.5)


def search(gallery, galleries, query_img=-1, query_cam=None, **kwargs):
    return evaluate_search(
        QUERY_FEAT, np.array([PERSON]), np.array([query_img]), gallery,
        galleries, None if query_cam is None else np.array([query_cam]),
        **kwargs)


def listed(*imgs):
    return {'g': ListedGallery(np.array([imgs]))}


def test_positive_among_negatives_and_undetected_gt_image():
    gallery = gallery_of([
        # image 0: the person, detected (sim 0.6); a stranger scores 0.9
        ([(BIG, 0.6), ([300, 0, 400, 200], 0.9)], [(BIG, PERSON)]),
        # image 1: no query person
        ([([0, 0, 50, 50], 0.8), ([60, 0, 90, 50], 0.3)], [([0, 0, 50,
                                                             50], -1)]),
        # image 2: the person, but no detection at all
        ([], [(BIG, PERSON)]),
    ])
    res = search(gallery, listed(0, 1, 2))['g']
    # ranking 0.9 N, 0.8 N, 0.6 P, 0.3 N: sklearn AP = 1/3 (precision at
    # the only positive); count_gt = 2 (images 0 and 2), count_tp = 1
    # AP = 1/3 * 1/2 = 1/6; two detections above the positive
    assert res.count_gt[0] == 2 and res.count_tp[0] == 1
    assert res.ap[0] == pytest.approx(1 / 6)
    assert res.topk_hits[0].tolist() == [False, True, True]


def test_tie_between_positive_and_negative():
    gallery = gallery_of([
        ([(BIG, 0.6), ([300, 0, 400, 200], 0.9)], [(BIG, PERSON)]),
        ([([0, 0, 50, 50], 0.6)], []),
    ])
    res = search(gallery, listed(0, 1))['g']
    # thresholds 0.9 (TP 0 of 1 item), 0.6 (TP 1 of 3 items, the tie enters
    # together) -> AP = 1 * 1/3; count_tp = count_gt = 1
    assert res.ap[0] == pytest.approx(1 / 3)
    # one detection strictly above the positive
    assert res.topk_hits[0].tolist() == [False, True, True]


def test_never_detected_query_gets_zero():
    gallery = gallery_of([
        ([([300, 0, 400, 200], 0.9)], [(BIG, PERSON)]),
    ])
    res = search(gallery, listed(0))['g']
    assert res.count_gt[0] == 1 and res.count_tp[0] == 0
    assert res.ap[0] == 0 and not res.topk_hits[0].any()


@pytest.mark.parametrize(
    'gt_box,is_positive',
    [
        # w=10, h=20: t = 200 / (20 * 30) = 1/3 <= IoU 0.4 -> positive
        ([0, 0, 10, 20], True),
        # w=100, h=200: t = min(0.5, 20000 / (110 * 210)) = 0.5 > 0.4
        ([0, 0, 100, 200], False),
    ])
def test_small_box_iou_threshold(gt_box, is_positive):
    x2, y2 = gt_box[2], gt_box[3]
    det = [0, 0, x2, 0.4 * y2]  # inside the gt box, IoU = 0.4
    gallery = gallery_of([([(det, 0.8)], [(gt_box, PERSON)])])
    res = search(gallery, listed(0))['g']
    assert res.count_tp[0] == int(is_positive)
    assert res.ap[0] == (1.0 if is_positive else 0.0)


def test_one_positive_per_image_chosen_by_similarity():
    gallery = gallery_of([
        # both detections overlap the person: d0 IoU 0.9 sim 0.7,
        # d1 IoU 0.6 sim 0.9 -> d1 (higher similarity) is the positive,
        # d0 a negative
        ([([0, 0, 100, 180], 0.7), ([0, 0, 100, 120], 0.9)], [(BIG, PERSON)]),
        ([([300, 0, 400, 200], 0.8)], []),
    ])
    res = search(gallery, listed(0, 1), ranking=('g', 3))['g']
    # ranking 0.9 P, 0.8 N, 0.7 N -> AP = 1, top-1 hit
    assert res.count_tp[0] == 1
    assert res.ap[0] == pytest.approx(1.0)
    assert res.topk_hits[0].all()
    assert res.ranked_positive[0].tolist() == [True, False, False]
    np.testing.assert_allclose(res.ranked_sims[0], [0.9, 0.8, 0.7], rtol=1e-6)


def test_full_set_extra_images_are_negatives():
    gallery = gallery_of([
        ([(BIG, 0.6)], [(BIG, PERSON)]),
        # not listed: the person is there, but in the full set the extra
        # images only add negatives
        ([(BIG, 0.9)], [(BIG, PERSON)]),
        # the query image: never in the gallery
        ([(BIG, 0.95)], [(BIG, PERSON)]),
    ])
    res = search(
        gallery, {
            'list': ListedGallery(np.array([[0]])),
            'full': ListedGallery(np.array([[0]]), add_rest=True)
        },
        query_img=2)
    assert res['list'].ap[0] == pytest.approx(1.0)
    # full: 0.9 N, 0.6 P -> AP = 1/2, count_gt 1
    assert res['full'].count_gt[0] == 1
    assert res['full'].ap[0] == pytest.approx(0.5)


def test_prw_multiview_excludes_same_camera():
    gallery = gallery_of(
        [
            ([(BIG, 1.0)], [(BIG, PERSON)]),  # the query frame, camera 0
            ([(BIG, 0.9)], [(BIG, PERSON)]),  # camera 0
            ([(BIG, 0.5)], [(BIG, PERSON)]),  # camera 1
            ([(BIG, 0.7)], [(BIG, 3)]),  # camera 1, another person
        ],
        cams=[0, 0, 1, 1])
    res = search(
        gallery, {
            'all': CameraGallery(),
            'mv': CameraGallery(other_cameras_only=True)
        },
        query_img=0,
        query_cam=0)
    # all but the query frame: 0.9 P, 0.7 N, 0.5 P
    # AP = 1/2 * 1 + 1/2 * 2/3 = 5/6, count_gt = 2
    assert res['all'].count_gt[0] == 2
    assert res['all'].ap[0] == pytest.approx(5 / 6)
    # other cameras: 0.7 N, 0.5 P -> AP = 1/2, count_gt = 1, top-1 miss
    assert res['mv'].count_gt[0] == 1
    assert res['mv'].ap[0] == pytest.approx(0.5)
    assert res['mv'].topk_hits[0].tolist() == [False, True, True]


def test_context_matching_rescoring():
    # context: query (row 0) and a companion; gallery: two detections
    context = np.array([[1, 0], [0, 1]], np.float32)
    gallery_feats = np.array([feat(0.6), feat(0.0)], np.float32)
    # weights [[0.6, 0], [0.8, 1]]: best matching q->d0 (0.6), c->d1 (1.0)
    det, new_sim = context_matching(context, gallery_feats)
    assert det == 0 and new_sim == pytest.approx(1.0)
    assert context_matching(context, np.zeros((0, 2), np.float32))[0] == -1


def random_problem(rng, num_images=25, num_queries=10, num_persons=6):
    images, cams = [], rng.integers(0, 3, num_images)
    for _ in range(num_images):
        num_gts = int(rng.integers(0, 4))
        xy = rng.uniform(0, 100, (num_gts, 2))
        gts = np.c_[xy, xy + rng.uniform(5, 60, (num_gts, 2))]
        pids = rng.choice(np.r_[-1, np.arange(num_persons)], num_gts, False)
        dets = [(list(g + rng.normal(0, 3, 4)), 0) for g in gts]
        dets += [([0, 150, 30, 220], 0)] * int(rng.integers(0, 3))
        # coarse similarities -> many exact ties
        dets = [(b, float(rng.integers(-4, 5)) / 4) for b, _ in dets]
        images.append((dets, list(zip(gts, pids))))
    gallery = gallery_of(images, cams)
    angles = rng.integers(0, 8, num_queries) * np.pi / 4
    qfeats = np.c_[np.cos(angles), np.sin(angles)].astype(np.float32)
    qimg = rng.integers(-1, num_images, num_queries)
    lists = np.stack(
        [rng.choice(num_images, 8, False) for _ in range(num_queries)])
    contexts = [
        np.r_[qfeats[i:i + 1], rng.normal(size=(2, 2))].astype(np.float32)
        for i in range(num_queries)
    ]
    return (gallery, qfeats, rng.integers(0, num_persons, num_queries), qimg,
            cams[np.maximum(qimg, 0)], lists, contexts)


@pytest.mark.parametrize('use_cbgm', [False, True])
def test_vectorised_equals_loop_reference(use_cbgm):
    rng = np.random.default_rng(0)
    for _ in range(8):
        gallery, qf, qp, qi, qc, lists, ctx = random_problem(rng)
        galleries = {
            'list': ListedGallery(lists),
            'full': ListedGallery(lists, add_rest=True),
            'all': CameraGallery(),
            'multiview': CameraGallery(other_cameras_only=True)
        }
        kwargs = dict(
            context_feats=ctx if use_cbgm else None, cbgm_topk_images=3)
        fast = evaluate_search(
            qf, qp, qi, gallery, galleries, qc, batch_size=3, **kwargs)
        loop = reference_search(qf, qp, qi, gallery, galleries, qc, **kwargs)
        for name in galleries:
            np.testing.assert_array_equal(fast[name].count_gt,
                                          loop[name].count_gt)
            np.testing.assert_array_equal(fast[name].count_tp,
                                          loop[name].count_tp)
            np.testing.assert_allclose(
                fast[name].ap, loop[name].ap, rtol=0, atol=1e-12)
            np.testing.assert_array_equal(fast[name].topk_hits,
                                          loop[name].topk_hits)


def test_bad_inputs_raise_clear_errors():
    gallery = gallery_of([([(BIG, 0.6)], [(BIG, PERSON)])])
    with pytest.raises(ValueError, match='dimension 3 but gallery .* 2'):
        evaluate_search(
            np.ones((1, 3), np.float32), np.array([PERSON]), np.array([-1]),
            gallery, listed(0))
    with pytest.raises(ValueError, match='one row per query'):
        evaluate_search(QUERY_FEAT, np.array([PERSON]), np.array([-1]),
                        gallery, {'g': ListedGallery(np.zeros((2, 1), int))})
    with pytest.raises(ValueError, match='camera ids are missing'):
        search(gallery, {'mv': CameraGallery(True)})
    with pytest.raises(KeyError, match='not in the gallery results'):
        gallery.index_of(np.array(['nope.jpg'], object), 'protocol TestG50')
