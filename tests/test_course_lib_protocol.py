"""course_lib.protocol: intervals and verdict words for measured comparisons."""
import numpy as np
import pytest

from course_lib.protocol import bootstrap_interval, compare, summarize, t_quantile


def test_t_quantile_matches_the_table_and_the_normal_limit():
    assert t_quantile(4) == pytest.approx(2.776)
    assert 2.571 > t_quantile(5.5) > 2.447
    assert t_quantile(1000) == pytest.approx(1.960)


def test_summary_interval_holds_the_mean_and_widens_with_spread():
    tight, loose = summarize([1.0, 1.01, 0.99, 1.0, 1.0]), summarize([1.0, 1.5, 0.5, 1.2, 0.8])
    assert tight.low < 1.0 < tight.high and loose.low < 1.0 < loose.high
    assert loose.high - loose.low > 10 * (tight.high - tight.low)


def test_compare_words_come_from_the_interval():
    assert compare([0.61, 0.60, 0.63, 0.62, 0.61], [0.55, 0.57, 0.56, 0.54, 0.58]).word == "higher"
    assert compare([0.55, 0.57, 0.56, 0.54, 0.58], [0.61, 0.60, 0.63, 0.62, 0.61]).word == "lower"
    overlap = compare([0.60, 0.55, 0.62, 0.58, 0.57], [0.59, 0.61, 0.56, 0.58, 0.60])
    assert overlap.word == "not resolved" and overlap.low < 0 < overlap.high
    assert "not resolved" in overlap.sentence("A", "B", "accuracy")


def test_compare_refuses_fewer_than_five_seeds():
    with pytest.raises(ValueError, match="at least 5 seeds"):
        compare([1.0, 2.0], [1.0, 2.0, 3.0, 4.0, 5.0])


def test_bootstrap_interval_is_seeded_and_brackets_the_statistic():
    v = np.random.default_rng(1).normal(size=50)
    assert bootstrap_interval(v) == bootstrap_interval(v)
    low, high = bootstrap_interval(v, statistic=np.median)
    assert low < np.median(v) < high
