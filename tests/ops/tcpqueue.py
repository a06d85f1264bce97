#!/usr/bin/env python3
"""The total of all TCP output queues is capped (SPEC §7: 64 MiB), not only
each one (tcp_max_queue). With tcp_max_queue = 60 MiB, client A that never
reads leaves about 36 MiB of answers queued; then client B that never reads
is closed well before its own 60 MiB, once the total passes 64 MiB, and
counted (tcp_limit), while A keeps its connection and every answer.

usage: tcpqueue.py PORT METRICS_PORT"""
import socket
import sys
import time
import uuid

from checks import check, done, metric as metric_at

port, mport = int(sys.argv[1]), int(sys.argv[2])
MiB = 1 << 20


def metric(name):
    return metric_at(mport, name)

REQ = ("OPTIONS sip:bob@example.com SIP/2.0\r\n"
       "Via: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK%s\r\n"
       "From: <sip:a@x>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
       "Call-ID: q%s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
       "Content-Length: 0\r\n\r\n" % (uuid.uuid4().hex, uuid.uuid4().hex)
       ).encode()
OPTIONS = 'usher_requests_total{method="OPTIONS"}'
LIMIT = 'usher_dropped_total{reason="tcp_limit"}'


def conn():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.settimeout(30)
    return s


# The size of one answer.
s = conn()
s.sendall(REQ)
ans = b""
while b"\r\n\r\n" not in ans:
    ans += s.recv(65536)
s.close()
alen = len(ans)
print(f"answer: {alen} bytes")

# A: about 36 MiB of answers, all handled before B starts.
na = 36 * MiB // alen
before = metric(OPTIONS)
a = conn()
for i in range(0, na, 1000):
    a.sendall(REQ * min(1000, na - i))
t0 = time.monotonic()
while metric(OPTIONS) < before + na and time.monotonic() - t0 < 60:
    time.sleep(0.2)
check("A's requests all handled", metric(OPTIONS) >= before + na,
      f"({metric(OPTIONS) - before} of {na})")

# B: sends until usher closes it; that must come from the total.
drops = metric(LIMIT)
b = conn()
b.settimeout(5)
sent, cut = 0, False
t0 = time.monotonic()
while not cut and sent * alen < 60 * MiB and time.monotonic() - t0 < 60:
    try:
        b.sendall(REQ * 1000)
        sent += 1000
    except OSError:
        cut = True
if not cut:
    b.settimeout(0.2)
    end = time.monotonic() + 5
    while time.monotonic() < end and not cut:
        try:
            cut = b.recv(65536) == b""
        except socket.timeout:
            pass
        except OSError:
            cut = True
check("B closed before its own tcp_max_queue", cut,
      f"(after {sent * alen / MiB:.1f} MiB of answers)")
check("counted as tcp_limit once", metric(LIMIT) == drops + 1,
      f"({drops} -> {metric(LIMIT)})")
b.close()

# A still has its connection and gets every answer.
got, eof = 0, False
a.settimeout(10)
try:
    while got < na * alen:
        d = a.recv(1 << 20)
        if not d:
            eof = True
            break
        got += len(d)
except OSError:
    eof = True
check("A kept its connection and every answer", not eof and got == na * alen,
      f"({got} of {na * alen} bytes)")
a.close()
done()
