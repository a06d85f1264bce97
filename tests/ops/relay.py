#!/usr/bin/env python3
"""No open relay (SPEC §3): from an untrusted source, a foreign domain, an IP
Request-URI or a Route pointing elsewhere gets 403 and nothing leaves usher;
from a trusted source the same request is forwarded.
usage: relay.py USHER_PORT"""
import socket
import sys
import uuid

port = int(sys.argv[1])
far = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # "somewhere else"
far.bind(("127.0.0.3", 0))
far.settimeout(0.5)
farport = far.getsockname()[1]
failures = []


def ask(src, ruri, extra=""):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(0.5)
    lp = s.getsockname()[1]
    msg = (f"INVITE {ruri} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP {src}:{lp};branch=z9hG4bK{uuid.uuid4().hex};rport\r\n"
           f"From: <sip:a@{src}>;tag=1\r\nTo: <{ruri}>\r\n"
           f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
           f"{extra}Content-Length: 0\r\n\r\n").encode()
    s.sendto(msg, ("127.0.0.1", port))
    try:
        ans = s.recv(65535).split(b"\r\n")[0].decode()
    except socket.timeout:
        ans = ""
    try:
        got = far.recv(65535)
    except socket.timeout:
        got = b""
    return ans, got


cases = [
    ("127.0.0.1", f"sip:x@127.0.0.3:{farport}", "", False),
    ("127.0.0.1", "sip:x@elsewhere.example.org", "", False),
    ("127.0.0.1", "sip:bob@example.com",
     f"Route: <sip:127.0.0.3:{farport};lr>\r\n", False),
    ("127.0.0.2", f"sip:x@127.0.0.3:{farport}", "", True),
    ("127.0.0.2", "sip:bob@example.com",
     f"Route: <sip:127.0.0.3:{farport};lr>\r\n", True),
]
for src, ruri, extra, relayed in cases:
    ans, got = ask(src, ruri, extra)
    if relayed:
        ok = got.startswith(b"INVITE ")
    else:
        ok = ans.startswith("SIP/2.0 403") and got == b""
    print(f"{'ok  ' if ok else 'FAIL'} from {src} {ruri} {extra.strip()}: "
          f"answer {ans!r}, forwarded {got[:30]!r}")
    if not ok:
        failures.append(ruri)
sys.exit(1 if failures else 0)
