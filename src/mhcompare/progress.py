"""Progress that reads well on a terminal and in a Slurm log file.

On a terminal: tqdm bars. In a file (Slurm's job log, `> log`): a bar redrawn with a carriage
return several times a second becomes thousands of lines of noise, so

- `quiet_bars_in_logs()` makes every tqdm bar in this process and its children (ms-swift,
  EvalScope, ModelScope downloads: tqdm 4.66+ reads TQDM_* variables) redraw at most every
  LOG_INTERVAL_S seconds;
- `progress(...)` for our own loops logs one readable line at most every LOG_INTERVAL_S seconds
  (`judge: 12 of 60 conversations, 4 min left`).
"""
import logging
import os
import sys
import time

LOG_INTERVAL_S = 30


def to_terminal() -> bool:
    return sys.stderr.isatty()


def quiet_bars_in_logs() -> None:
    if not to_terminal():
        os.environ.setdefault("TQDM_MININTERVAL", str(LOG_INTERVAL_S))


def progress(items, total: int, what: str, log: logging.Logger, every_s: float = LOG_INTERVAL_S):
    """Yield from `items`, showing how far along the loop is and how long it has left."""
    if to_terminal():
        from tqdm import tqdm

        yield from tqdm(items, total=total, desc=what)
        return
    started = last = time.monotonic()
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= every_s or done == total:
            last = now
            left = (now - started) / done * (total - done)
            log.info("%s: %d of %d%s", what, done, total, f", {format_duration(left)} left" if done < total else "")


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
