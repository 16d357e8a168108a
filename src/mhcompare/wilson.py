"""The Wilson score interval of a proportion (scipy's), shared by the instruments' validation figures
(the crisis rules' recall and false alarms, blinding's recall and false changes)."""


def wilson(k: int, n: int) -> tuple[float, float] | None:
    """The 95% Wilson interval of k successes in n; None when there are no cases."""
    from scipy.stats import binomtest

    if n == 0:
        return None
    interval = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)
