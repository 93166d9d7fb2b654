"""Peak memory of a benchmark's child process."""

from __future__ import annotations


def peak_rss_mib() -> float:
    """This process's own peak RSS in MiB.

    Linux's VmHWM belongs to the process's own address space; ``ru_maxrss`` would report the parent's
    peak where the parent was bigger, because Linux carries it across fork and exec.
    """
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
