"""Average precision as scikit-learn's ``average_precision_score`` defines
it, without scikit-learn."""
import numpy as np


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Step-wise area under the precision-recall curve.

    Thresholds are the distinct scores in descending order; all items tied at
    a score enter together (one threshold). With ``TP_n`` and ``N_n`` the
    positives and items with score >= the n-th threshold and ``P`` the
    positives overall:

    ``AP = sum_n (R_n - R_{n-1}) * P_n``, ``R_n = TP_n / P``,
    ``P_n = TP_n / N_n``, ``R_0 = 0``.

    Args:
        labels (np.ndarray): Binary labels of shape (N,) (non-zero = positive).
        scores (np.ndarray): Scores of shape (N,), higher = more confident.

    Returns:
        float: The average precision; 0.0 when there is no positive (where
        scikit-learn would warn).
    """
    labels = np.asarray(labels).reshape(-1).astype(bool)
    scores = np.asarray(scores).reshape(-1)
    if labels.shape != scores.shape:
        raise ValueError(f'average_precision: labels {labels.shape} and '
                         f'scores {scores.shape} differ in shape.')
    num_pos = int(labels.sum())
    if num_pos == 0:
        return 0.0
    order = np.argsort(-scores, kind='stable')
    sorted_scores = scores[order]
    # last index of each run of equal scores = one threshold
    ends = np.r_[np.flatnonzero(np.diff(sorted_scores)),
                 sorted_scores.size - 1]
    tps = np.cumsum(labels[order])[ends]
    recall = tps / num_pos
    precision = tps / (ends + 1)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def average_precision_from_counts(tp_scores: np.ndarray,
                                  num_ge: np.ndarray) -> float:
    """The same average precision from counts, without sorting every item.

    Only thresholds at a positive's score change the recall, so with ``t``
    running over the distinct positive scores, ``n_t`` positives at ``t``,
    ``TP(t)`` positives and ``N(t)`` items with score >= t:

    ``AP = sum_t (n_t / P) * TP(t) / N(t)``.

    Args:
        tp_scores (np.ndarray): Scores of the positives, shape (P,).
        num_ge (np.ndarray): For each entry of ``tp_scores``, the number of
            items (positives and negatives) with score >= it, shape (P,).

    Returns:
        float: The average precision (0.0 for P = 0).
    """
    tp_scores = np.asarray(tp_scores).reshape(-1)
    num_pos = tp_scores.size
    if num_pos == 0:
        return 0.0
    num_ge = np.asarray(num_ge, dtype=np.float64).reshape(-1)
    # TP(t) for each positive: positives with score >= its score
    sorted_tp = np.sort(tp_scores)
    tp_ge = num_pos - np.searchsorted(sorted_tp, tp_scores, side='left')
    # summing over every positive (not over distinct t) counts n_t once each
    return float(np.sum(tp_ge / num_ge) / num_pos)
