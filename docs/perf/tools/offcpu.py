#!/usr/bin/env python3
"""Off-CPU intervals over 1 ms per thread, grouped by state and kernel/user stack.

Record the scheduler's switches with stacks, then fold them:

    perf record -e sched:sched_switch --call-graph dwarf,8192 -o sched.data -- <command>
    perf script -i sched.data -F comm,tid,time,event,trace,ip,sym > sched.txt
    python3 docs/perf/tools/offcpu.py sched.txt

For each thread: how many times it was off the CPU for more than 1 ms, for how long in
all, and the most common (state, stack) pairs at the moment it was switched out. State
`R` means it was runnable (preempted, or it yielded); `S`/`D` that it slept. Used in
docs/perf/concurrent.md, "Session 15".
"""
import collections
import re
import sys

HEADER = re.compile(
    r"^(\S.*?)\s+(\d+)\s+([\d.]+): sched:sched_switch: prev_comm=(.*?) prev_pid=(\d+) "
    r"prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)"
)
SCHEDULER_FRAMES = {
    "__schedule", "schedule", "io_schedule", "preempt_schedule", "preempt_schedule_common",
    "schedule_preempt_disabled", "__cond_resched", "preempt_schedule_irq",
    "raw_irqentry_exit_cond_resched", "irqentry_exit",
}


def main(path, threshold_s=0.001):
    events, current = [], None
    for line in open(path):
        match = HEADER.match(line)
        if match:
            current = dict(t=float(match.group(3)), prev=int(match.group(5)),
                           prev_comm=match.group(4), state=match.group(6),
                           next=int(match.group(8)), next_comm=match.group(7), stack=[])
            events.append(current)
            continue
        fields = line.split()
        if current is not None and len(fields) >= 2:
            current["stack"].append(fields[1])
    switched_out, names = {}, {}
    long_waits = collections.defaultdict(list)
    for event in events:
        names[event["prev"]] = event["prev_comm"]
        names[event["next"]] = event["next_comm"]
        switched_out[event["prev"]] = event
        out = switched_out.pop(event["next"], None)
        if out is None:
            continue
        gap = event["t"] - out["t"]
        if gap > threshold_s:
            frames = [f for f in out["stack"] if f not in SCHEDULER_FRAMES][:6]
            long_waits[event["next"]].append((gap, out["state"], " < ".join(frames)))
    for tid, waits in sorted(long_waits.items(), key=lambda item: -len(item[1])):
        total_ms = sum(w[0] for w in waits) * 1e3
        print(f"tid {tid} ({names.get(tid)}): {len(waits)} off-CPU intervals > "
              f"{threshold_s * 1e3:g} ms, total {total_ms:.0f} ms")
        counts, times = collections.Counter(), collections.Counter()
        for gap, state, frames in waits:
            counts[(state, frames)] += 1
            times[(state, frames)] += gap
        for key, count in counts.most_common(8):
            print(f"   {count:5d}  {times[key] * 1e3:8.1f} ms  [{key[0]}] {key[1][:230]}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
