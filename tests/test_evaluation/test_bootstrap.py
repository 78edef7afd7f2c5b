"""Bootstrap intervals over queries, against hand-worked cases and the
normal approximation."""
import numpy as np
import pytest

from mmsearch.evaluation import bootstrap_mean_ci, paired_bootstrap_diff_ci


def test_constant_values_give_a_point_interval():
    assert bootstrap_mean_ci(np.full(7, 0.25), 200) == (0.25, 0.25, 0.25)


def test_interval_matches_the_normal_approximation():
    """For 2000 queries of 0/1 hits with p = 0.7 the 95 % interval is
    about mean +- 1.96 sqrt(p (1 - p) / Q)."""
    hits = (np.random.default_rng(3).random(2000) < 0.7).astype(float)
    mean, low, high = bootstrap_mean_ci(hits, 4000, seed=1)
    assert mean == pytest.approx(hits.mean())
    half = 1.96 * np.sqrt(mean * (1 - mean) / len(hits))
    assert (high - low) / 2 == pytest.approx(half, rel=0.1)
    assert low < mean < high


def test_runs_are_averaged_per_query_first():
    rng = np.random.default_rng(0)
    runs = rng.random((3, 50))
    assert bootstrap_mean_ci(
        runs, 300, seed=5) == bootstrap_mean_ci(
            runs.mean(0), 300, seed=5)


def test_paired_difference_cancels_the_query_effect():
    """b = a - 0.1 on every query: the difference is exactly 0.1 whatever
    the resample, although each method alone has a wide interval."""
    a = np.random.default_rng(1).random(40)
    assert paired_bootstrap_diff_ci(a, a - 0.1, 500) == pytest.approx(
        (0.1, 0.1, 0.1))
    _, low, high = bootstrap_mean_ci(a, 500)
    assert high - low > 0.1


def test_paired_difference_matches_a_plain_loop():
    """The same resampled indices, looped by hand."""
    rng = np.random.default_rng(2)
    a, b = rng.random(30), rng.random((2, 30))
    mean, low, high = paired_bootstrap_diff_ci(a, b, 100, 0.9, seed=4)
    indices = np.random.default_rng(4).integers(0, 30, size=(100, 30))
    diff = a - b.mean(0)
    means = []
    for row in indices:
        means.append(sum(diff[i] for i in row) / len(row))
    assert mean == pytest.approx(diff.mean())
    assert (low,
            high) == pytest.approx(tuple(np.quantile(means, [0.05, 0.95])))


@pytest.mark.parametrize('call, match', [
    (lambda: bootstrap_mean_ci(np.zeros(0)), 'at least one query'),
    (lambda: bootstrap_mean_ci(np.zeros((2, 2, 2))), r'\(Q,\) or \(S, Q\)'),
    (lambda: bootstrap_mean_ci(np.array([0.1, np.nan])), 'non-finite'),
    (lambda: bootstrap_mean_ci(np.ones(3), confidence=1.5), 'confidence'),
    (lambda: paired_bootstrap_diff_ci(np.ones(3), np.ones(4)), 'same queries'),
])
def test_bad_input_is_explained(call, match):
    with pytest.raises(ValueError, match=match):
        call()
