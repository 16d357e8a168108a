"""A paired difference over a fixed item set evaluated on several training seeds, tested as a
crossed design: items and seeds are both samples (Miller 2024, "Adding Error Bars to Evals":
cluster by item, pair the models, separate the item variance from the sampling variance).

For two models, d[s, i] = outcome of A - outcome of B on item i of seed s (over the items both
scored on every shared seed). Under greedy decoding an item's answer repeats across seeds, so the
same item on three seeds is not three pieces of evidence; and each seed's fine-tune shifts a whole
run a little, so the seeds' mean differences vary more than the items' noise says. The model

    d[s, i] = mu + item_i + seed_s + noise[s, i]

has the variance of the mean difference

    Var(mean d) = var_item / N + var_seed / S + var_noise / (N S)

estimated from the two-way analysis of variance's mean squares (the method of moments for
crossed random effects; a component estimated below zero counts as zero), with Satterthwaite's
degrees of freedom, and the mean difference is tested against t. With one seed the seed term
cannot be estimated: the test is then a paired t-test over items, covering item sampling only.

The power of the test at a difference delta is exact under this model: |T| > t_crit with T
noncentral t (df, delta / se), scipy.stats.nct.
"""
import numpy as np


def crossed_difference(d) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, standard error, degrees of freedom) of the mean of d[..., seed, item], vectorised over
    the leading axes. Needs at least 2 items."""
    d = np.asarray(d, dtype=float)
    seeds, items = d.shape[-2], d.shape[-1]
    mean = d.mean(axis=(-2, -1))
    item_means = d.mean(axis=-2)
    ms_item = seeds * item_means.var(axis=-1, ddof=1)
    if seeds == 1:
        return mean, np.sqrt(ms_item / items), np.full(mean.shape, float(items - 1))
    seed_means = d.mean(axis=-1)
    ms_seed = items * seed_means.var(axis=-1, ddof=1)
    residual = d - item_means[..., None, :] - seed_means[..., :, None] + mean[..., None, None]
    df_noise = (items - 1) * (seeds - 1)
    ms_noise = (residual ** 2).sum(axis=(-2, -1)) / df_noise
    # Var(mean) * N * S = [ms_item - ms_noise]+ + [ms_seed - ms_noise]+ + ms_noise, written as a
    # combination of the mean squares (coefficients 1, 1, -1; or fewer where a part is zero)
    item_on = ms_item > ms_noise
    seed_on = ms_seed > ms_noise
    c_item, c_seed = item_on.astype(float), seed_on.astype(float)
    c_noise = 1.0 - c_item - c_seed
    total = c_item * ms_item + c_seed * ms_seed + c_noise * ms_noise
    parts = ((c_item * ms_item) ** 2 / (items - 1) + (c_seed * ms_seed) ** 2 / (seeds - 1)
             + (c_noise * ms_noise) ** 2 / df_noise)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(parts > 0, total ** 2 / parts, float(df_noise))
    return mean, np.sqrt(np.maximum(total, 0.0) / (items * seeds)), df


def t_test(mean, se, df) -> np.ndarray:
    """Two-sided p of mean / se against t(df): 1 where there is no difference at all, 0 where every
    paired outcome differs the same way (no spread to test against)."""
    from scipy import stats

    mean, se, df = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (mean, se, df)))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.t.sf(np.abs(mean) / se, df)
    p = np.where(se > 0, p, np.where(mean == 0, 1.0, 0.0))
    return p


def power_of(difference, se, df, level: float) -> np.ndarray:
    """The chance a two-sided t-test at `level` detects a true `difference` whose estimate has
    standard error `se` and df degrees of freedom: the exact noncentral t."""
    from scipy import stats

    critical = stats.t.ppf(1 - level / 2, df)
    shift = np.abs(np.asarray(difference, dtype=float) / se)
    # the far tail (the wrong sign) is negligible where scipy cannot evaluate it (NaN)
    return stats.nct.sf(critical, df, shift) + np.nan_to_num(stats.nct.cdf(-critical, df, shift))


def detectable(se: float, df: float, level: float, power: float = 0.8) -> float:
    """The smallest true difference the test detects with `power` at `level` (noncentral t),
    found in standard errors and scaled back."""
    from scipy.optimize import brentq

    if not se > 0:
        return 0.0
    high = 4.0
    while float(power_of(high, 1.0, df, level)) < power:
        high *= 2
    shift = brentq(lambda x: float(power_of(x, 1.0, df, level)) - power, 0.0, high, xtol=1e-9)
    return float(shift * se)
