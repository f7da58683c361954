"""Every interval the book prints, from one place: the Student-t interval over replicates (fine-tuning seeds),
the same on a scale where a bounded quantity's range is the whole line (so an interval never leaves it), the
text form "estimate [low, high]", and the smallest effect n replicates can detect.  No helper imports."""
from __future__ import annotations

import numpy as np

LEVEL = 0.95
"""Two-sided confidence level of every interval: the field's convention."""


def format_interval(estimate: float, low: float, high: float, fmt: str = "{:+.3g}") -> str:
    """"estimate [low, high]" ("n/a" without an estimate, "(no interval)" without bounds)."""
    if not np.isfinite(estimate):
        return "n/a"
    if not (np.isfinite(low) and np.isfinite(high)):
        return fmt.format(estimate) + " (no interval)"
    return f"{fmt.format(estimate)} [{fmt.format(low)}, {fmt.format(high)}]"


def detectable_ratio(n: int, level: float = LEVEL) -> float:
    """The smallest |mean| / sd of ``n`` replicate differences whose two-sided ``level`` t-interval excludes 0:
    t_{(1+level)/2, n-1} / sqrt(n) (2.48 for n = 3 at 95%).  A smaller effect, however real, is inconclusive
    here: the power statement the findings page gives."""
    from scipy import stats

    if n < 2:
        return float("inf")
    return float(stats.t.ppf(0.5 + level / 2, n - 1) / np.sqrt(n))


def detectable_effect(low: float, high: float, n: int, level: float = LEVEL, power: float = 0.8) -> float:
    """The minimum detectable effect of a t-interval [``low``, ``high``] over ``n`` replicates: the true distance
    from the threshold that its two-sided ``level`` test detects with probability ``power``,
    (t_{(1+level)/2, n-1} + t_{power, n-1}) x se, with se = half-width / t_{(1+level)/2, n-1} (the usual
    approximation for a one-sample t-test, with the observed sd).  At n = 3, 95% and 80% power: 1.25 half-widths.  NaN without bounds."""
    from scipy import stats

    if n < 2 or not (np.isfinite(low) and np.isfinite(high)):
        return float("nan")
    t_level = stats.t.ppf(0.5 + level / 2, n - 1)
    return float((high - low) / 2 * (1 + stats.t.ppf(power, n - 1) / t_level))


def shared_run_inflation(n: int) -> float:
    """Variance factor that makes the t-interval of :func:`t_interval` valid for the mean of ``n`` per-replicate
    effects e_s that each compare fine-tuning run s with run s' = s + 1 (mod n), so that replicates share runs
    (C2's seed-to-seed floor): 2 (n - 1) / (n - 2), i.e. 4 at n = 3 (the half-width doubles), 8/3 at n = 5;
    infinite for n < 3 (two replicates would share both runs: no interval).

    Why: write e_s = g(run s, run s', sample s) and decompose g over its two runs (Hoeffding 1948),
    g = mu + a(run s) + b(run s') + r(run s, run s') + the sample's noise, uncorrelated parts.  With n >= 3 two
    replicates share at most one run, which enters one as a and the other as b, so their covariance is
    Cov(a, b) <= (Var a + Var b) / 2 <= sigma^2 / 2 (correlation rho <= 1/2).  Each replicate has two such
    neighbours, so Var(mean) = sigma^2 (1 + 2 rho) / n while the sample variance estimates
    sigma^2 (1 - 2 rho / (n - 1)); their ratio is largest at rho = 1/2, where it is the factor returned."""
    if n < 3:
        return float("inf")
    return 2 * (n - 1) / (n - 2)


def t_interval(values, level: float = LEVEL, quantum: float = 0.0,
               inflation: float = 1.0) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of a two-sided Student-t interval of the mean; low = high = NaN for n < 2.

    ``quantum``: for differences of two measurements rounded to this resolution (a count of directions: 1), the
    rounding variance of each, quantum^2 / 12 (Sheppard's correction), is added twice to the sample variance, so
    that identical integer differences (+1, +1, +1) do not give a zero-width interval that any level would call
    decided: a count that moved by one in every seed is within its own resolution.
    ``inflation``: a factor on the variance of the mean for replicates that are not independent (e.g.
    :func:`shared_run_inflation`); infinite gives infinite bounds (no interval)."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return np.nan, np.nan, np.nan, 0
    m = float(v.mean())
    if n < 2:
        return m, np.nan, np.nan, n
    sd = float(np.sqrt(v.var(ddof=1) + 2 * quantum ** 2 / 12))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n))
    if inflation != 1.0:
        half = float("inf") if not np.isfinite(inflation) else half * float(np.sqrt(inflation))
    return m, m - half, m + half, n


def welch_interval(a, b, level: float = LEVEL) -> tuple[float, float, float, int, int]:
    """(mean(a) - mean(b), low, high, n_a, n_b): Welch's t-interval for the difference of two independent means
    (Welch 1947; Satterthwaite's degrees of freedom), e.g. two models' effects over their own fine-tuning seeds.
    NaN bounds when either side has fewer than 2 values or both have no spread."""
    from scipy import stats

    a, b = (np.asarray(x, dtype=np.float64) for x in (a, b))
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    na, nb = len(a), len(b)
    if na == 0 or nb == 0:
        return np.nan, np.nan, np.nan, na, nb
    d = float(a.mean() - b.mean())
    if na < 2 or nb < 2:
        return d, np.nan, np.nan, na, nb
    va, vb = a.var(ddof=1) / na, b.var(ddof=1) / nb
    if va + vb == 0:
        return d, np.nan, np.nan, na, nb
    df = (va + vb) ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1))
    half = float(stats.t.ppf(0.5 + level / 2, df) * np.sqrt(va + vb))
    return d, d - half, d + half, na, nb


BOUNDS = {"IsoScore": (0.0, 1.0), "IsoScore* (zeta=0.2)": (0.0, 1.0), "I(W)": (0.0, 1.0),
          "average cosine": (-1.0, 1.0), "log10 I(W)": (None, 0.0), "log10 I(W) single-sign": (None, 0.0),
          "mean norm": (0.0, None), "norm of the mean": (0.0, None),
          "accuracy": (0.0, 1.0), "f1": (0.0, 1.0), "matthews": (-1.0, 1.0), "mcc": (-1.0, 1.0), "pearson": (-1.0, 1.0),
          "spearman": (-1.0, 1.0), "count": (0.0, None)}
"""The range of each measured quantity: intervals of its level are taken on a scale where the range is the whole
line (:func:`bounded_interval`), so they cannot leave it.  I(W) <= 1, so log10 I(W) <= 0."""


def bounded_interval(values, low: float | None = None, high: float | None = None,
                     level: float = LEVEL) -> tuple[float, float, float, int]:
    """(mean, low, high, n) for a quantity confined to [``low``, ``high``]: a t-interval on the logit scale
    (both bounds), the log of the distance to the bound (one bound), or plain (none), mapped back.  The mean
    is the arithmetic one; the interval is that of the transformed mean, so it never leaves the range (a
    plain t-interval over 3 seeds of an IsoScore near 0 reaches below 0)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if low is None and high is None or len(v) < 2:
        return t_interval(v, level)
    eps = 1e-12
    if low is not None and high is not None:
        u = np.clip((v - low) / (high - low), eps, 1 - eps)
        fwd, back = np.log(u / (1 - u)), lambda z: low + (high - low) / (1 + np.exp(-z))
    elif low is not None:
        fwd, back = np.log(np.maximum(v - low, eps)), lambda z: low + np.exp(z)
    else:
        fwd, back = np.log(np.maximum(high - v, eps)), lambda z: high - np.exp(z)
    _, lo_z, hi_z, n = t_interval(fwd, level)
    a, b = back(lo_z), back(hi_z)
    return float(v.mean()), float(min(a, b)), float(max(a, b)), n


COUNTS = ("dominant", "pcs_", "above_", "rogue")
"""Metric-name prefixes of integer counts of directions, in [0, dims]."""
AT_LEAST_ONE = ("participation ratio", "effective rank")
"""Spread measures in [1, dims]."""


def level_interval(values, metric: str, level: float = LEVEL, dims: int | None = None) -> tuple[float, float, float, int]:
    """:func:`bounded_interval` with the range of ``metric``: :data:`BOUNDS`; a count of directions (:data:`COUNTS`)
    in [0, ``dims``], taken as continuous on (-0.5, dims + 0.5) so that a count of 0 is inside the range (a log of
    0 would make the interval span thirty decades) and clipped back; a spread measure (:data:`AT_LEAST_ONE`) in [1,
    dims]; a share of the variance (its name says "share") in [0, 1]; plain for anything else.  ``dims``: the
    space's dimension, where known (else a count has no upper bound)."""
    if metric.startswith(COUNTS):
        m, lo, hi, n = bounded_interval(values, -0.5, None if dims is None else dims + 0.5, level)
        return m, max(lo, 0.0), (hi if dims is None else min(hi, float(dims))), n
    if metric in AT_LEAST_ONE:
        return bounded_interval(values, 1.0, None if dims is None else float(dims), level)
    if "share" in metric:
        return bounded_interval(values, 0.0, 1.0, level)
    return bounded_interval(values, *BOUNDS.get(metric, (None, None)), level=level)
