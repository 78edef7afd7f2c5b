"""Detection AP / recall on hand-worked images."""
import numpy as np
import pytest

from mmsearch.evaluation.functional import evaluate_detection, match_detections


def test_competing_detections_match_one_gt_each():
    gts = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], float)
    # det a: IoU 1 with g0, 50/150 = 1/3 with g1
    # det b: IoU 90/110 with g0, 60/140 with g1 -> its best gt is g0, but g0's
    # best det is a, and g1's best det (b, 0.43) is below 0.5 -> b is a FP
    dets = np.array([[0, 0, 10, 10], [1, 0, 11, 10]], float)
    assert match_detections(gts, dets).tolist() == [True, False]


def test_evaluate_detection_all_and_labelled():
    gt_boxes = [
        np.array([[0, 0, 10, 10], [5, 0, 15, 10]], float),  # g0 labelled
        np.array([[0, 0, 10, 10]], float),  # unlabelled only
    ]
    gt_labelled = [np.array([True, False]), np.array([False])]
    det_boxes = [
        np.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10]], float),
        np.array([[0, 0, 10, 10]], float)
    ]
    # third det of image 0 is below det_thresh=0.01 and is ignored
    det_scores = [np.array([0.9, 0.8, 0.005]), np.array([0.95])]
    res = evaluate_detection(gt_boxes, gt_labelled, det_boxes, det_scores)
    # all: dets 0.95 TP, 0.9 TP, 0.8 FP; 3 gts -> recall 2/3
    # sklearn AP: at 0.95 P=1 R=.5, at 0.9 P=1 R=1 -> 1; AP = 1 * 2/3
    assert res['recall'] == pytest.approx(2 / 3)
    assert res['AP'] == pytest.approx(2 / 3)
    # labelled: image 1 skipped; g1 removed -> det a TP, det b FP, 1 gt
    # recall 1; AP = 1 (the TP ranks first)
    assert res['recall_labelled'] == pytest.approx(1.0)
    assert res['AP_labelled'] == pytest.approx(1.0)


def test_image_without_gt_counts_false_positives():
    res = evaluate_detection(
        [np.zeros((0, 4)), np.array([[0, 0, 10, 10]], float)],
        [np.zeros(0, bool), np.array([True])],
        [np.array([[0, 0, 5, 5]], float),
         np.array([[0, 0, 10, 10]], float)],
        [np.array([0.9]), np.array([0.8])])
    # ranks: 0.9 FP, 0.8 TP -> AP = 1 * (1/2); recall 1
    assert res['recall'] == 1.0
    assert res['AP'] == pytest.approx(0.5)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match='one entry per image'):
        evaluate_detection([np.zeros((0, 4))], [], [], [])
