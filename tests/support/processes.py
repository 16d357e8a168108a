"""Process checks for tests that promise nothing is left running."""


def process_alive(pid: int) -> bool:
    """True while pid runs; an exited process that lingers as a zombie counts as gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
