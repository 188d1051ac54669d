"""How the course compares two measured things: seeds, intervals, and a verdict word computed from them.

Introduced in chapter 3 (the first measured comparison); every later chapter's comparisons use it.

The protocol (CONTRIBUTING.md, "Measured comparisons"): choices are tuned on a validation split; the
test split is read once; each side is run with >= 5 seeds that were not used for tuning; both sides
get equal work, or the difference is stated beside the number; speed is measured over training steps
only, warm-up excluded. This module turns the per-seed numbers into what a page may say: a mean, a
spread, a 95% interval, and a word ("higher", "lower", or "not resolved") that comes from the
interval of the difference, never from one pair of runs. bootstrap_interval is for statistics
other than a mean; bootstrap_groups for one fitted from several groups of seeds (a constant such
as B_crit: resample the seeds within each batch size, refit). compare_ratio is for speeds (a
ratio, with its interval from the logarithms). validation_split carves the validation split out of
the training data, the same way every time.

    >>> d = compare([0.61, 0.60, 0.63, 0.62, 0.61], [0.55, 0.57, 0.56, 0.54, 0.58])
    >>> d.word
    'higher'
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SEEDS = 5
LEVEL = 0.95   # for bootstrap_interval; the t intervals below are 95%


@dataclass(frozen=True)
class Summary:
    """Per-seed values of one side: their mean, sample standard deviation, range and 95% interval of the mean."""
    n: int
    mean: float
    sd: float
    low: float          # Student-t interval of the mean
    high: float
    min: float
    max: float

    def __str__(self) -> str:
        return f"{self.mean:.4g} ± {self.sd:.2g} (n={self.n}, 95% interval {self.low:.4g}–{self.high:.4g})"


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b) with Welch's interval, and the word it licenses."""
    a: Summary
    b: Summary
    diff: float
    low: float
    high: float
    word: str           # "higher": a above b at 95%; "lower": a below b; "not resolved": the interval holds 0
    ratio: float        # mean(a) / mean(b), for speeds

    def sentence(self, a_name: str, b_name: str, what: str, unit: str = "", scale: float = 1.0) -> str:
        """One sentence that says no more than the numbers: e.g. 'A's accuracy is higher than B's by 3.1
        points (95% interval 1.2 to 5.0; 5 seeds each).'"""
        seeds = f"{self.a.n} and {self.b.n} seeds" if self.a.n != self.b.n else f"{self.a.n} seeds each"
        span = f"95% interval {self.low * scale:.3g} to {self.high * scale:.3g}{unit}; {seeds}"
        if self.word == "not resolved":
            return (f"{a_name} and {b_name} are not resolved on {what}: the difference is {self.diff * scale:.3g}{unit} "
                    f"({span}), an interval that holds zero.")
        sign = 1 if self.word == "higher" else -1          # the interval of the gap the sentence names
        low, high = sorted((sign * self.low * scale, sign * self.high * scale))
        span = f"95% interval {low:.3g} to {high:.3g}{unit}; {seeds}"
        return (f"{a_name}'s {what} is {self.word} than {b_name}'s by {abs(self.diff) * scale:.3g}{unit} ({span}).")


def _values(values, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError(f"{name}: no values to summarise")
    if not np.isfinite(v).all():
        raise ValueError(f"{name}: contains NaN or infinity: {v.tolist()}")
    return v


# Two-sided 95% quantiles of Student's t, t_{0.975}(df), df = 1..30; beyond 30 the normal's 1.96 is within 2%.
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t_quantile(df: float) -> float:
    """t_{0.975} for (possibly fractional, Welch) degrees of freedom, interpolated in the table above."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    if df >= 30:
        return 2.042 + (1.960 - 2.042) * min(1.0, (df - 30) / 90)
    i = int(df)
    return _T975[i - 1] + (df - i) * ((_T975[i] if i < 30 else 2.042) - _T975[i - 1])


def bootstrap_interval(values, statistic=np.mean, level: float = LEVEL, resamples: int = 10_000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic` over resamples of `values` (seeded: the same input
    gives the same interval)."""
    v = _values(values, "values")
    rng = np.random.default_rng(seed)
    stats = np.array([statistic(v[rng.integers(0, v.size, v.size)]) for _ in range(resamples)])
    tail = (1 - level) / 2
    return float(np.quantile(stats, tail)), float(np.quantile(stats, 1 - tail))


def bootstrap_groups(groups, statistic, level: float = LEVEL, resamples: int = 2000,
                     seed: int = 0) -> list[tuple[float, float]]:
    """Percentile bootstrap intervals of a statistic of several groups of per-seed values, each group
    resampled within itself (a stratified bootstrap: every batch size keeps its number of seeds).

    statistic(list of arrays, one per group) returns a float or a tuple of floats (e.g. a fit's
    (S_min, B_crit)); the answer is one (low, high) per float. Seeded: the same input gives the same
    intervals."""
    arrays = [_values(g, f"group {i}") for i, g in enumerate(groups)]
    if not arrays:
        raise ValueError("bootstrap_groups needs at least one group of values")
    rng = np.random.default_rng(seed)
    stats = np.array([np.atleast_1d(statistic([a[rng.integers(0, a.size, a.size)] for a in arrays]))
                      for _ in range(resamples)], dtype=np.float64)             # (resamples, k)
    tail = (1 - level) / 2
    return [(float(np.quantile(col, tail)), float(np.quantile(col, 1 - tail))) for col in stats.T]


@dataclass(frozen=True)
class Ratio:
    """mean(a) / mean(b) (for speeds), with a 95% interval from Welch's interval of the mean logs."""
    a: Summary
    b: Summary
    ratio: float
    low: float
    high: float
    word: str           # "higher": a/b above 1 at 95%; "lower": below 1; "not resolved": the interval holds 1


def compare_ratio(a, b, min_seeds: int = MIN_SEEDS) -> Ratio:
    """How many times a is b (positive per-run values such as images per second): the ratio of the
    means, and the interval exp(Welch interval of mean(log a) - mean(log b)), whose word says whether
    it excludes 1."""
    va, vb = _values(a, "a"), _values(b, "b")
    if (va <= 0).any() or (vb <= 0).any():
        raise ValueError("compare_ratio needs positive values (speeds, times)")
    logs = compare(np.log(va), np.log(vb), min_seeds=min_seeds)
    return Ratio(a=summarize(va), b=summarize(vb), ratio=float(va.mean() / vb.mean()),
                 low=float(np.exp(logs.low)), high=float(np.exp(logs.high)), word=logs.word)


@dataclass(frozen=True)
class Split:
    """Indices of a training set split in two: `train` to learn from, `validation` to tune on."""
    train: np.ndarray
    validation: np.ndarray
    seed: int

    def record(self) -> dict:
        """What a results file keeps: the sizes, the seed, and the validation indices themselves."""
        return {"train": int(self.train.size), "validation": int(self.validation.size), "seed": self.seed,
                "how": "a seeded random permutation of the training data; its first `validation` indices",
                "validation_indices": self.validation.tolist()}


def validation_split(n: int, n_validation: int, seed: int = 0) -> Split:
    """Carve `n_validation` of `n` training examples into a validation split, by a seeded permutation
    (the same seed, the same split; both index arrays sorted)."""
    if not 0 < n_validation < n:
        raise ValueError(f"need 0 < n_validation < n, got n_validation={n_validation}, n={n}")
    order = np.random.default_rng(seed).permutation(n)
    return Split(train=np.sort(order[n_validation:]), validation=np.sort(order[:n_validation]), seed=seed)


def summarize(values) -> Summary:
    """Mean, spread and the 95% Student-t interval of the mean of per-seed values."""
    v = _values(values, "values")
    half = t_quantile(v.size - 1) * v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else float("inf")
    low, high = v.mean() - half, v.mean() + half
    return Summary(n=v.size, mean=float(v.mean()), sd=float(v.std(ddof=1)) if v.size > 1 else 0.0,
                   low=low, high=high, min=float(v.min()), max=float(v.max()))


def compare(a, b, min_seeds: int = MIN_SEEDS) -> Difference:
    """Difference of the means of two independent sets of per-seed values, with Welch's 95% interval
    (no assumption that both sides vary alike). Fewer than `min_seeds` on a side is refused: the
    protocol asks for at least five."""
    va, vb = _values(a, "a"), _values(b, "b")
    if min(va.size, vb.size) < max(min_seeds, 2):
        raise ValueError(f"compare needs at least {min_seeds} seeds a side (the course's protocol), got "
                         f"{va.size} and {vb.size}; pass min_seeds= to override for a smoke run")
    qa, qb = va.var(ddof=1) / va.size, vb.var(ddof=1) / vb.size
    diff = float(va.mean() - vb.mean())
    if qa + qb == 0:
        low = high = diff
    else:
        df = (qa + qb) ** 2 / (qa ** 2 / (va.size - 1) + qb ** 2 / (vb.size - 1))
        half = t_quantile(max(df, 1.0)) * float(np.sqrt(qa + qb))
        low, high = diff - half, diff + half
    word = "higher" if low > 0 else "lower" if high < 0 else "not resolved"
    return Difference(a=summarize(va), b=summarize(vb), diff=diff, low=float(low), high=float(high), word=word,
                      ratio=float(va.mean() / vb.mean()) if vb.mean() else float("nan"))
