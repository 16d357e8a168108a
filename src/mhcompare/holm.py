"""Holm's step-down correction, shared by the comparison report and the Human Judge statistics."""


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (as statsmodels' multipletests, which
    runs a garbage collection on every call: 90 ms, too slow for the calibration simulations)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda k: pvalues[k])
    adjusted, running = [0.0] * m, 0.0
    for step, k in enumerate(order):
        running = max(running, min(1.0, (m - step) * pvalues[k]))
        adjusted[k] = running
    return adjusted
