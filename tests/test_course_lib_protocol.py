"""course_lib.protocol: intervals and verdict words for measured comparisons."""
import numpy as np
import pytest

from course_lib.protocol import (bootstrap_groups, bootstrap_interval, compare, compare_ratio, summarize,
                                t_quantile, validation_split)


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


def test_bootstrap_groups_resamples_within_each_group_and_refits():
    rng = np.random.default_rng(0)
    groups = [rng.normal(10, 1, 5), rng.normal(20, 1, 5), rng.normal(40, 1, 5)]
    (lo0, hi0), (lo1, hi1) = bootstrap_groups(groups, lambda gs: (gs[0].mean(), gs[2].mean() - gs[0].mean()))
    assert lo0 < groups[0].mean() < hi0 and lo1 < groups[2].mean() - groups[0].mean() < hi1
    assert hi0 - lo0 < 2.5                                    # about 4 standard errors of a mean of 5
    assert bootstrap_groups(groups, lambda gs: gs[1].mean()) == bootstrap_groups(groups, lambda gs: gs[1].mean())
    constant = [np.full(5, 3.0), np.full(4, 7.0)]            # nothing to resample: a zero-width interval
    assert bootstrap_groups(constant, lambda gs: gs[1].mean() - gs[0].mean()) == [(4.0, 4.0)]


def test_compare_ratio_interval_holds_the_ratio_and_decides_on_one():
    fast, slow = [260, 250, 270, 255, 265], [176, 170, 180, 175, 178]
    r = compare_ratio(fast, slow)
    assert r.word == "higher" and r.low < r.ratio < r.high and r.ratio == pytest.approx(260 / 175.8)
    assert compare_ratio(slow, fast).word == "lower"
    assert compare_ratio([1.0, 1.2, 0.9, 1.1, 1.0], [1.05, 0.95, 1.1, 1.0, 1.0]).word == "not resolved"
    with pytest.raises(ValueError, match="positive"):
        compare_ratio([1, 2, 3, 4, 0], fast)


def test_validation_split_is_seeded_disjoint_and_complete():
    s = validation_split(100, 20, seed=3)
    assert s.validation.size == 20 and s.train.size == 80
    assert sorted(np.concatenate([s.train, s.validation]).tolist()) == list(range(100))
    assert validation_split(100, 20, seed=3).validation.tolist() == s.validation.tolist()
    assert validation_split(100, 20, seed=4).validation.tolist() != s.validation.tolist()
    assert s.record()["validation"] == 20 and s.record()["validation_indices"] == s.validation.tolist()
    with pytest.raises(ValueError, match="n_validation"):
        validation_split(10, 10)


def test_sentence_gives_the_interval_of_the_gap_it_names():
    lower = compare([1.0, 2, 3, 4, 5], [11.0, 12, 13, 14, 15]).sentence("A", "B", "loss")
    assert "lower than B's by 10" in lower and "interval 7.69 to 12.3" in lower
