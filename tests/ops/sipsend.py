#!/usr/bin/env python3
"""Send one SIP request to usher over UDP or TCP and print the first
response (or nothing on timeout). Used by the operations tests to probe a
running usher without sipp.

usage: sipsend.py [--tcp] [--timeout S] HOST PORT 'METHOD URI' [extra header lines...]
exit status: 0 when a response arrived, 1 on timeout."""
import socket
import sys
import uuid


def request(method, uri, lport, extra, transport):
    tag = uuid.uuid4().hex[:8]
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport} 127.0.0.1:{lport};branch=z9hG4bK{uuid.uuid4().hex};rport",
        f"From: <sip:probe@127.0.0.1>;tag={tag}",
        f"To: <{uri}>",
        f"Call-ID: {uuid.uuid4().hex}@probe",
        f"CSeq: 1 {method}",
        "Max-Forwards: 70",
    ] + extra + ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def main():
    args = sys.argv[1:]
    tcp = False
    timeout = 2.0
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--tcp":
            tcp = True
        elif opt == "--timeout":
            timeout = float(args.pop(0))
    host, port, req = args[0], int(args[1]), args[2]
    method, uri = req.split(" ", 1)
    extra = args[3:]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if tcp:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect((host, port))
        s.sendall(request(method, uri, s.getsockname()[1], extra, "TCP"))
    else:
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        s.bind((host, 0))
        s.sendto(request(method, uri, s.getsockname()[1], extra, "UDP"),
                 (host, port))
    try:
        data = s.recv(65535)
    except (socket.timeout, ConnectionError):
        return 1
    sys.stdout.write(data.decode("utf-8", "replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
