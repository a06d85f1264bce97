#!/usr/bin/env python3
"""member.py: a PBX group member for the health tests (SPEC §8): answers
OPTIONS with --options-code (200 by default; 0: never answers), INVITE with
486 carrying "X-Member: NAME", ignores ACK, and counts what it got. Over UDP
(and TCP with --tcp). SIGUSR1 writes the counts to --stats as JSON; the
first OPTIONS it receives is written raw to --capture (a probe for the
forged-answer test).

usage: member.py --port P --name N [--tcp] [--options-code C]
                 [--stats FILE] [--capture FILE]"""
import argparse
import json
import os
import select
import signal
import socket
import sys


def headers(msg):
    head = msg.split("\r\n\r\n", 1)[0].split("\r\n")
    return head[0], head[1:]


def answer(msg, code, reason, extra):
    first, hs = headers(msg)
    out = [f"SIP/2.0 {code} {reason}"]
    for h in hs:
        name = h.split(":", 1)[0].strip().lower()
        if name in ("via", "v", "from", "f", "call-id", "i", "cseq"):
            out.append(h)
        elif name in ("to", "t"):
            out.append(h if ";tag=" in h else h + ";tag=m1")
    out += extra + ["Content-Length: 0", "", ""]
    return "\r\n".join(out).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--tcp", action="store_true")
    ap.add_argument("--options-code", type=int, default=200)
    ap.add_argument("--stats")
    ap.add_argument("--capture")
    a = ap.parse_args()
    counts = {"OPTIONS": 0, "INVITE": 0, "ACK": 0, "CANCEL": 0, "other": 0}
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    u.bind(("127.0.0.1", a.port))
    socks = [u]
    lst = None
    if a.tcp:
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", a.port))
        lst.listen(16)
        socks.append(lst)
    bufs = {}

    def dump(*_):
        if a.stats:
            with open(a.stats + ".tmp", "w") as f:
                json.dump(counts, f)
            os.replace(a.stats + ".tmp", a.stats)
    signal.signal(signal.SIGUSR1, dump)
    signal.signal(signal.SIGTERM, lambda *_: (dump(), sys.exit(0)))

    def handle(msg, reply):
        method = msg.split(" ", 1)[0]
        if msg.startswith("SIP/2.0"):
            return
        counts[method if method in counts else "other"] += 1
        if method == "OPTIONS":
            if a.capture and counts["OPTIONS"] == 1:
                with open(a.capture, "w", newline="") as f:
                    f.write(msg)
            if a.options_code:
                reply(answer(msg, a.options_code, "Probe", []))
        elif method == "INVITE":
            reply(answer(msg, 486, "Busy Here", [f"X-Member: {a.name}"]))
        elif method not in ("ACK",):
            reply(answer(msg, 200, "OK", []))

    while True:
        try:
            r, _, _ = select.select(socks + list(bufs), [], [], 1.0)
        except InterruptedError:
            continue
        for s in r:
            if s is u:
                data, src = u.recvfrom(65535)
                handle(data.decode(errors="replace"),
                       lambda b, src=src: u.sendto(b, src))
            elif s is lst:
                c, _ = lst.accept()
                bufs[c] = b""
            else:
                try:
                    data = s.recv(65535)
                except OSError:
                    data = b""
                if not data:
                    bufs.pop(s, None)
                    s.close()
                    continue
                bufs[s] += data
                while b"\r\n\r\n" in bufs[s]:
                    head, rest = bufs[s].split(b"\r\n\r\n", 1)
                    clen = 0
                    for line in head.split(b"\r\n"):
                        k = line.split(b":", 1)
                        if k[0].strip().lower() in (b"content-length", b"l"):
                            clen = int(k[1])
                    if len(rest) < clen:
                        break
                    bufs[s] = rest[clen:]
                    handle((head + b"\r\n\r\n").decode(errors="replace"),
                           lambda b, s=s: s.sendall(b))


if __name__ == "__main__":
    main()
