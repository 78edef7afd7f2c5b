"""average_precision against hand-worked scikit-learn definitions."""
import numpy as np
import pytest

from mmsearch.evaluation.functional import (average_precision,
                                            average_precision_from_counts)


def test_no_ties():
    # ranks: P N P N -> precision at recall steps: 1/1, 2/3
    # AP = 0.5 * 1 + 0.5 * 2/3 = 5/6
    ap = average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
    assert ap == pytest.approx(5 / 6, abs=1e-15)


def test_tie_between_positive_and_negative_is_one_threshold():
    # threshold 0.9: TP=1, N=1 -> P=1, R=0.5
    # threshold 0.8: the tied P and N enter together: TP=2, N=3 -> P=2/3
    # AP = 0.5 * 1 + 0.5 * 2/3 = 5/6 (not 0.5 + 0.5 * 1 = 1)
    ap = average_precision([1, 0, 1], [0.9, 0.8, 0.8])
    assert ap == pytest.approx(5 / 6, abs=1e-15)
    # order of the tied items does not matter
    assert average_precision([1, 1, 0], [0.9, 0.8, 0.8]) == ap


def test_all_tied():
    # one threshold: TP=2, N=4 -> AP = 1 * 2/4
    assert average_precision([0, 1, 0, 1], [0.5] * 4) == 0.5


def test_no_positive_gives_zero():
    assert average_precision([0, 0], [0.3, 0.2]) == 0.0


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match='differ in shape'):
        average_precision([1, 0], [0.1])


def test_counts_form_equals_sort_form_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(1, 40))
        scores = rng.integers(0, 6, n) / 5.0  # many ties
        labels = rng.random(n) < 0.3
        tp_scores = scores[labels]
        num_ge = (scores[None, :] >= tp_scores[:, None]).sum(1)
        assert average_precision_from_counts(tp_scores,
                                             num_ge) == pytest.approx(
                                                 average_precision(
                                                     labels, scores),
                                                 abs=1e-12)
