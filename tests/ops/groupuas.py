#!/usr/bin/env python3
"""groupuas.py: a PBX group member for tests/ops/groups.sh. A stateless UAS
on one UDP port that logs "METHOD Call-ID" of every request it gets (to
--log, written as it goes, flushed on SIGTERM) and answers:
INVITE: 486 Busy Here, or 180 Ringing when the Call-ID holds "cancel";
CANCEL: 200 OK, then 487 Request Terminated for its INVITE; ACK: nothing;
OPTIONS: 200 OK.

usage: groupuas.py PORT --log FILE"""
import argparse
import signal
import socket
import sys


def header(lines, name):
    low = name.lower() + ":"
    return [l for l in lines if l.lower().startswith(low)]


def reply(lines, code, reason, method=None, tag=True):
    vias = header(lines, "via")
    to = header(lines, "to")[0]
    if tag and ";tag=" not in to:
        to += ";tag=uas" + str(abs(hash(header(lines, "call-id")[0])) % 10**8)
    cseq = header(lines, "cseq")[0]
    if method is not None:
        cseq = cseq.split()[0] + " " + cseq.split()[1] + " " + method
    out = [f"SIP/2.0 {code} {reason}"] + vias + header(lines, "from") + \
        [to] + header(lines, "call-id") + [cseq, "Content-Length: 0", "", ""]
    return "\r\n".join(out).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", a.port))
    log = open(a.log, "w", buffering=1 << 16)

    def stop(*_):
        log.flush()
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while True:
        data, src = s.recvfrom(65535)
        try:
            text = data.decode("utf-8", "replace")
            lines = text.split("\r\n\r\n", 1)[0].split("\r\n")
            method = lines[0].split(" ", 1)[0]
            if lines[0].startswith("SIP/2.0"):
                continue
            cid = header(lines, "call-id")[0].split(":", 1)[1].strip()
        except (IndexError, ValueError):
            continue
        log.write(f"{method} {cid}\n")
        # Stateless proxy: answers go to the top Via (usher's), i.e. the
        # source of the request.
        if method == "INVITE":
            if "cancel" in cid:
                s.sendto(reply(lines, 180, "Ringing"), src)
            else:
                s.sendto(reply(lines, 486, "Busy Here"), src)
        elif method == "CANCEL":
            s.sendto(reply(lines, 200, "OK", tag=False), src)
            s.sendto(reply(lines, 487, "Request Terminated", "INVITE"), src)
        elif method == "OPTIONS":
            s.sendto(reply(lines, 200, "OK"), src)


if __name__ == "__main__":
    main()
