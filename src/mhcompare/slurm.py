"""Asking Slurm about a sweep's jobs: why a job waits, and whether it ever can start.

A job whose request the partition can never satisfy (more CPUs or memory than its nodes have
under the partition's limits, a bad account or QOS) waits forever with a reason such as
`PartitionConfig`; the launcher cancels it and reports the request beside what the partition
offers, instead of waiting with it.
"""
import subprocess

# pending reasons that no amount of waiting resolves (squeue's %r)
NEVER_STARTS = ("PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit", "InvalidAccount", "InvalidQOS",
                "BadConstraints", "MaxCpuPerJob", "MaxMemPerJob", "MaxNodePerJob", "MaxGRESPerJob",
                "MaxWallDurationPerJob", "MaxTRESPerJob")


def never_starts(reason: str) -> bool:
    return any(marker in reason for marker in NEVER_STARTS)


def run(command: list[str], timeout: float = 30) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def pending_reasons(job_ids: list[str]) -> dict[str, str]:
    """{job id (array tasks as 12_3): reason} of the given jobs that are pending."""
    arrays = sorted({job_id.split("_")[0] for job_id in job_ids})
    if not arrays:
        return {}
    out = run(["squeue", "-h", "-r", "-t", "PENDING", "-o", "%i|%r", "-j", ",".join(arrays)])
    wanted = set(job_ids)
    reasons = {}
    for line in out.splitlines():
        job_id, _, reason = line.partition("|")
        if job_id in wanted:
            reasons[job_id] = reason.strip()
    return reasons


def partition_offer(partition: str | None) -> str:
    """What the partition's nodes have: `2 CPUs, 7800 MB, gres gpu:1, time limit infinite`."""
    command = ["sinfo", "-h", "-o", "%c|%m|%G|%l"] + (["-p", partition] if partition else [])
    rows = sorted({line for line in run(command).splitlines() if line.strip()})
    if not rows:
        return f"nothing sinfo could report for partition {partition}"
    offers = []
    for row in rows:
        cpus, memory, gres, limit = (row.split("|") + ["?"] * 4)[:4]
        offers.append(f"{cpus} CPUs, {memory} MB, gres {gres}, time limit {limit}")
    return "nodes with " + "; ".join(offers)


def cancel(job_id: str) -> None:
    run(["scancel", job_id])
