#!/usr/bin/env python3
"""Send every torture message of tests/data/index.tsv to a running usher,
over UDP and (where the index says it frames) over TCP, and check what comes
back against the index (SPEC §6): valid messages are processed (never 400),
invalid ones get a 4xx/5xx or nothing, responses not ours get nothing, and
usher answers a probe after each. usage: corpus.py DATA_DIR PORT PID"""
import os
import re
import socket
import sys

data, port, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
counts = {"udp": [0, 0], "tcp": [0, 0]}
failures = []


def add_rport(msg):
    # answers over UDP go to the sent-by port unless the Via asks for rport
    return re.sub(rb"^((?:Via|v)[ \t]*:[^\r\n]*?)(\r?\n)",
                  lambda m: m.group(1) + b";rport" + m.group(2), msg,
                  count=1, flags=re.M | re.I)


def send_udp(msg):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.4)
    s.bind(("127.0.0.1", 0))
    s.sendto(msg, ("127.0.0.1", port))
    try:
        return s.recv(65535)
    except socket.timeout:
        return b""
    finally:
        s.close()


def send_tcp(msg):
    s = socket.create_connection(("127.0.0.1", port), timeout=0.5)
    s.sendall(msg)
    try:
        return s.recv(65535)
    except (socket.timeout, ConnectionError):
        return b""
    finally:
        s.close()


def alive():
    return os.path.exists(f"/proc/{pid}")


def verdict(expect, answer):
    code = answer[8:11].decode() if answer.startswith(b"SIP/2.0 ") else None
    if expect == "drop":
        return code is None
    if expect.startswith("process normally"):
        return code != "400"
    allowed = [e.strip() for e in expect.split(" or ")]
    if code is None:
        return True           # dropped and counted: allowed for invalid input
    if code in allowed:
        return True
    return "process normally" in allowed and code != "400"


rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(data, "index.tsv"))][1:]
for f, sec, valid, expect, tcp, note in rows:
    raw = open(os.path.join(data, f), "rb").read()
    for tp in ("udp", "tcp"):
        if tp == "tcp" and tcp != "yes":
            continue
        answer = send_udp(add_rport(raw)) if tp == "udp" else send_tcp(raw)
        ok = verdict(expect, answer) and alive()
        counts[tp][0 if ok else 1] += 1
        if not ok:
            failures.append(f"{tp} {f}: expected {expect}, got "
                            f"{answer[:40]!r}")
for tp, (ok, bad) in counts.items():
    print(f"corpus over {tp}: {ok} as expected, {bad} not")
for line in failures:
    print("FAIL", line)
sys.exit(1 if failures or not alive() else 0)
