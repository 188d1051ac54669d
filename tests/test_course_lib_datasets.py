"""Unit tests of course_lib.datasets: the shipped Iris data is the real one, loaded correctly."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib import datasets


def test_iris_shapes_types_and_classes():
    X, y = datasets.load_iris()
    assert X.shape == (150, 4) and X.dtype == np.float64
    assert y.shape == (150,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [50, 50, 50]
    assert (np.diff(y) >= 0).all(), "the rows come grouped by species, as in the source"


def test_iris_matches_the_published_summary_statistics():
    # Means in cm of the UCI copy (sepal length, sepal width, petal length, petal width).
    X, y = datasets.load_iris()
    np.testing.assert_allclose(X.mean(axis=0), [5.843333, 3.054, 3.758667, 1.198667], atol=1e-5)
    np.testing.assert_allclose(X.min(axis=0), [4.3, 2.0, 1.0, 0.1])
    np.testing.assert_allclose(X.max(axis=0), [7.9, 4.4, 6.9, 2.5])
    # Setosa's petals are shorter than anyone else's: the class is linearly separable.
    assert X[y == 0, 2].max() < X[y != 0, 2].min()
    assert X[0].tolist() == [5.1, 3.5, 1.4, 0.2] and X[-1].tolist() == [5.9, 3.0, 5.1, 1.8]


def test_iris_standardized():
    Xs, _ = datasets.load_iris(standardize=True)
    np.testing.assert_allclose(Xs.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Xs.std(axis=0), 1, atol=1e-12)


def test_iris_csv_text_is_checked(monkeypatch):
    text = datasets.iris_csv()
    assert text.splitlines()[0] == "sepal_length,sepal_width,petal_length,petal_width,species"
    assert len(text.splitlines()) == 151
    monkeypatch.setattr(datasets, "_IRIS_CSV", text.replace("5.1,3.5", "5.2,3.5", 1))
    with pytest.raises(RuntimeError, match="checksum"):
        datasets.load_iris()


def test_train_test_split_is_a_seeded_partition():
    train, test = datasets.train_test_split(150, 30, seed=3)
    assert len(train) == 120 and len(test) == 30
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(150))
    again = datasets.train_test_split(150, 30, seed=3)
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    assert not np.array_equal(test, datasets.train_test_split(150, 30, seed=4)[1])
    with pytest.raises(ValueError):
        datasets.train_test_split(10, 10)
