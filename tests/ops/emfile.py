#!/usr/bin/env python3
"""accept() under EMFILE must not spin (SPEC §7, issue 11 item 7). usher's
open-file limit has been lowered (prlimit) to a few above what it holds:
open connections until accept fails, then measure usher's CPU time (from
/proc/PID/stat) and its log lines over 3 s.

usage: emfile.py PORT PID LOGFILE MAX_CPU_PERCENT MAX_LOG_LINES"""
import os
import socket
import sys
import time

port, pid = int(sys.argv[1]), int(sys.argv[2])
log, max_cpu, max_lines = sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
tick = os.sysconf("SC_CLK_TCK")


def cpu_seconds():
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick   # utime + stime


def log_lines():
    with open(log, "rb") as f:
        return f.read().count(b"\n")


held = []
for _ in range(30):     # the kernel completes them; usher cannot accept
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    held.append(s)
time.sleep(0.5)
c0, l0, t0 = cpu_seconds(), log_lines(), time.monotonic()
time.sleep(3)
c1, l1, t1 = cpu_seconds(), log_lines(), time.monotonic()
cpu = 100 * (c1 - c0) / (t1 - t0)
lines = l1 - l0
print(f"CPU under EMFILE: {cpu:.1f}% over {t1 - t0:.1f}s, "
      f"{lines} log lines")
with open(log, "rb") as f:
    tail = f.read().splitlines()[-3:]
for t in tail:
    print("  log:", t[:150].decode("utf-8", "replace"))
ok = cpu < max_cpu and lines <= max_lines
print(("ok   " if ok else "FAIL ") + f"(limits: CPU < {max_cpu}%, "
      f"<= {max_lines} log lines)")
for s in held:
    s.close()
sys.exit(0 if ok else 1)
