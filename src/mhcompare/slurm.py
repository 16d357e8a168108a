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
    return ask(command, timeout).stdout


def ask(command: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
    """A Slurm command's answer; a missing binary or a timeout reads as a failed command."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return subprocess.CompletedProcess(command, 1, "", str(error))


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


def partition_nodes(partition: str) -> list[dict]:
    """What each kind of node of the partition can give one job, in the launcher's units:
    [{cpus_per_task, mem_gb, gpus_per_node, timeout_min}] (None where sinfo does not say)."""
    nodes = []
    for row in sorted({line for line in run(["sinfo", "-h", "-p", partition, "-o", "%c|%m|%G|%l"]).splitlines()
                       if line.strip()}):
        cpus, memory, gres, limit = (row.split("|") + ["?"] * 4)[:4]
        nodes.append({"cpus_per_task": number(cpus), "mem_gb": None if number(memory) is None else number(memory) / 1024,
                      "gpus_per_node": gpu_count(gres), "timeout_min": minutes(limit)})
    return nodes


def number(text: str) -> float | None:
    try:
        return float(text.strip().rstrip("+"))
    except ValueError:
        return None


def gpu_count(gres: str) -> int:
    """`gpu:4`, `gpu:h100:8(S:0-1)`, `(null)` -> the GPUs a node has."""
    count = 0
    for item in gres.split(","):
        parts = item.split("(")[0].split(":")
        if parts[0] == "gpu" and len(parts) > 1 and parts[-1].isdigit():
            count += int(parts[-1])
    return count


def minutes(limit: str) -> float | None:
    """sinfo's time limit (`infinite`, `30`, `12:00:00`, `1-00:00:00`) in minutes; None for no limit."""
    limit = limit.strip()
    if limit.lower() in ("infinite", "unlimited", "n/a", "?", ""):
        return None
    days, _, clock = limit.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:  # with days, the clock is hours[:minutes[:seconds]]
        hours, mins, secs = (parts + [0, 0])[:3]
    else:  # without, minutes | minutes:seconds | hours:minutes:seconds
        hours, mins, secs = parts if len(parts) == 3 else (0, parts[0], parts[1] if len(parts) > 1 else 0)
    return (int(days or 0) * 24 + hours) * 60 + mins + secs / 60


def cancel(job_id: str) -> None:
    run(["scancel", job_id])
