"""Person detection evaluation of the person-search protocol (numpy)."""
from typing import Dict, Sequence

import numpy as np

from .average_precision import average_precision
from .box_iou import box_iou


def match_detections(gt_boxes: np.ndarray,
                     det_boxes: np.ndarray,
                     iou_thr: float = 0.5) -> np.ndarray:
    """Mark the detections of one image that are true positives.

    A (gt, det) pair matches when its IoU >= ``iou_thr`` and it is the
    largest IoU both of its gt row and of its det column (first index on
    ties). IoUs are compared in float32, as the reference code stores them.

    Args:
        gt_boxes (np.ndarray): Ground-truth boxes of shape (G, 4).
        det_boxes (np.ndarray): Detected boxes of shape (D, 4).
        iou_thr (float): Minimum IoU of a match. Defaults to 0.5.

    Returns:
        np.ndarray: bool array of shape (D,), True for matched detections.
    """
    num_gts, num_dets = len(gt_boxes), len(det_boxes)
    if num_gts == 0 or num_dets == 0:
        return np.zeros(num_dets, dtype=bool)
    ious = box_iou(gt_boxes, det_boxes).astype(np.float32)
    best_gt_of_det = ious.argmax(axis=0)
    best_det_of_gt = ious.argmax(axis=1)
    matched = ious >= np.float32(iou_thr)
    matched &= np.arange(num_gts)[:, None] == best_gt_of_det[None, :]
    matched &= np.arange(num_dets)[None, :] == best_det_of_gt[:, None]
    return matched.any(axis=0)


def evaluate_detection(gt_boxes: Sequence[np.ndarray],
                       gt_labelled: Sequence[np.ndarray],
                       det_boxes: Sequence[np.ndarray],
                       det_scores: Sequence[np.ndarray],
                       det_thresh: float = 0.01,
                       iou_thr: float = 0.5) -> Dict[str, float]:
    """Detection AP and recall over all gallery images.

    Detections with score >= ``det_thresh`` are matched per image
    (:func:`match_detections`). With TP matched detections and #gt people:

    ``recall = TP / #gt``; ``AP = average_precision(is_tp, scores) * recall``.

    The "labelled" variant removes unlabelled people from the ground truth and
    skips images left without any (their detections are not counted), as the
    reference code does.

    Args:
        gt_boxes (Sequence[np.ndarray]): Per image, gt boxes (G_i, 4).
        gt_labelled (Sequence[np.ndarray]): Per image, bool (G_i,), True for
            people with an identity.
        det_boxes (Sequence[np.ndarray]): Per image, detections (D_i, 4).
        det_scores (Sequence[np.ndarray]): Per image, scores (D_i,).
        det_thresh (float): Minimum score of a kept detection.
            Defaults to 0.01.
        iou_thr (float): IoU of a match. Defaults to 0.5.

    Returns:
        dict[str, float]: ``AP``, ``recall``, ``AP_labelled`` and
        ``recall_labelled``.
    """
    if not (len(gt_boxes) == len(gt_labelled) == len(det_boxes) ==
            len(det_scores)):
        raise ValueError('evaluate_detection: gt_boxes, gt_labelled, '
                         'det_boxes and det_scores must have one entry per '
                         f'image, got {len(gt_boxes)}, {len(gt_labelled)}, '
                         f'{len(det_boxes)} and {len(det_scores)}.')
    results = {}
    for suffix, labelled_only in (('', False), ('_labelled', True)):
        is_tp, scores, num_gts = [], [], 0
        for gts, labelled, dets, det_score in zip(gt_boxes, gt_labelled,
                                                  det_boxes, det_scores):
            gts = np.asarray(gts, dtype=np.float64).reshape(-1, 4)
            if labelled_only:
                gts = gts[np.asarray(labelled, dtype=bool)]
                if len(gts) == 0:
                    continue
            det_score = np.asarray(det_score).reshape(-1)
            keep = det_score >= det_thresh
            dets = np.asarray(dets).reshape(-1, 4)[keep]
            num_gts += len(gts)
            is_tp.append(match_detections(gts, dets, iou_thr))
            scores.append(det_score[keep])
        is_tp = np.concatenate(is_tp) if is_tp else np.zeros(0, bool)
        scores = np.concatenate(scores) if scores else np.zeros(0)
        recall = is_tp.sum() / num_gts if num_gts else 0.0
        results[f'AP{suffix}'] = float(
            average_precision(is_tp, scores) * recall)
        results[f'recall{suffix}'] = float(recall)
    return results
