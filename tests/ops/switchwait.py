#!/usr/bin/env python3
"""Wait until each usher answers a request with a given status, probing all
of them every 20 ms from one process (a probe per process spawn costs more
than what is measured). Prints "PORT MS" per instance, ms since start.

usage: switchwait.py TIMEOUT_S STATUS 'METHOD URI' PORT [PORT...]
exit status: 0 when all switched, 1 otherwise (those that did not: "PORT -")."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sipsend import request  # noqa: E402


def main():
    limit, status = float(sys.argv[1]), sys.argv[2].encode()
    method, uri = sys.argv[3].split(" ", 1)
    ports = [int(p) for p in sys.argv[4:]]
    t0 = time.monotonic()
    done = {}
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.02)
    lport = s.getsockname()[1]
    while len(done) < len(ports) and time.monotonic() - t0 < limit:
        for p in ports:
            if p not in done:
                s.sendto(request(method, uri, lport, [], "UDP"), ("127.0.0.1", p))
        end = time.monotonic() + 0.02
        while time.monotonic() < end:
            try:
                data, addr = s.recvfrom(65535)
            except socket.timeout:
                break
            if addr[1] not in done and data.split(b"\r\n", 1)[0].split(b" ")[1:2] == [status]:
                done[addr[1]] = int((time.monotonic() - t0) * 1000)
    for p in ports:
        print(p, done.get(p, "-"))
    return 0 if len(done) == len(ports) else 1


if __name__ == "__main__":
    sys.exit(main())
