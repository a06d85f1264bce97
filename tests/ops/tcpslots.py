#!/usr/bin/env python3
"""TCP slots against a running usher (SPEC §7, issue 11 item 3): the
per-source cap (the 33rd connection from one address is closed at once;
another address and a trusted one are still served; ::1's /64 has its own
count), the outgoing pool (with every inbound slot taken, a UDP request to
a TCP target is still forwarded), CRLF keep-alives re-arming the idle
timer, and the output queue cap on a client that never reads.

usage: tcpslots.py PORT METRICS_PORT PBX_PORT MAX_CONNS PER_SOURCE IDLE
The configuration must listen on 127.0.0.1 and ::1, trust 127.0.0.2 only,
route alice@example.com to sip:alice@127.0.0.1:PBX_PORT;transport=tcp and
set a small tcp_max_queue."""
import socket
import sys
import time
import uuid

from checks import check, done, metric as metric_at

port, mport, pbxport, maxconn, persrc, idle = (int(a) for a in sys.argv[1:7])


def metric(name):
    return metric_at(mport, name)


def request(method="INVITE", user="bob", via="TCP", host="127.0.0.1", lp=1):
    return (f"{method} sip:{user}@example.com SIP/2.0\r\n"
            f"Via: SIP/2.0/{via} {host}:{lp};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
            f"From: <sip:a@x>;tag=1\r\nTo: <sip:{user}@example.com>\r\n"
            f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 {method}\r\n"
            f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


def conn(src):
    six = ":" in src
    s = socket.socket(socket.AF_INET6 if six else socket.AF_INET,
                      socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(3)
    s.connect(("::1" if six else "127.0.0.1", port))
    return s


def served(s):
    """True when s gets an answer to a request (so it is accepted and
    counted by usher); False when closed or silent."""
    try:
        s.sendall(request())
        s.settimeout(3)
        data = b""
        while b"\r\n\r\n" not in data:
            d = s.recv(65536)
            if not d:
                return False
            data += d
        return data.startswith(b"SIP/2.0 ")
    except OSError:
        return False


def closed_within(s, limit):
    """Seconds until the peer closed s (reads and discards), or None."""
    t0 = time.monotonic()
    s.settimeout(0.1)
    while time.monotonic() - t0 < limit:
        try:
            if s.recv(65536) == b"":
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - t0
    return None


drops0 = metric('usher_dropped_total{reason="tcp_limit"}')

# 1. Per source: 40 connections from 127.0.0.1, PER_SOURCE are served, the
# rest closed at once.
held, extra_closed = [], 0
for i in range(40):
    s = conn("127.0.0.1")
    if i < persrc:
        check(f"127.0.0.1 connection {i + 1} served", served(s))
        held.append(s)
    else:
        c = closed_within(s, 1.0)
        extra_closed += c is not None
        s.close()
check(f"127.0.0.1 connections {persrc + 1}..40 closed at once",
      extra_closed == 40 - persrc, f"({extra_closed} of {40 - persrc})")

# 2. Another source is still served; a trusted one is held to the global
# cap only (exempt from the per-source one), up to MAX_CONNS in all.
s = conn("127.0.0.3")
check("127.0.0.3 served while 127.0.0.1 is at its cap", served(s))
held.append(s)
n2 = 0
while len(held) < maxconn:
    s = conn("127.0.0.2")
    ok = served(s)
    n2 += ok
    held.append(s)
    if not ok:
        break
check(f"trusted 127.0.0.2 holds {n2} (> {persrc}) connections",
      n2 == maxconn - persrc - 1 and n2 > persrc, f"({n2})")
s = conn("127.0.0.4")
c = closed_within(s, 1.0)
check("over tcp_max_connections closed at once", c is not None, f"({c})")
s.close()
check("usher_tcp_connections at the limit",
      metric("usher_tcp_connections") == maxconn,
      f"({metric('usher_tcp_connections')})")

# 3. Every inbound slot is taken: a UDP request for a TCP target still
# reaches the PBX over a connection of usher's own pool.
pbx = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
pbx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
pbx.bind(("127.0.0.1", pbxport))
pbx.listen(8)
pbx.settimeout(3)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
u.sendto(request(user="alice", via="UDP", lp=u.getsockname()[1]),
         ("127.0.0.1", port))
got = b""
try:
    p, _ = pbx.accept()
    p.settimeout(3)
    while b"\r\n\r\n" not in got:
        d = p.recv(65536)
        if not d:
            break
        got += d
    p.close()
except OSError:
    pass
check("UDP request forwarded to the TCP PBX with inbound full",
      got.startswith(b"INVITE sip:alice@"), repr(got[:40]))
pbx.close()
u.close()
for s in held:
    s.close()
time.sleep(0.5)

# 3b. IPv6: the same cap for the /64 of ::1, apart from 127.0.0.1's.
held = [conn("127.0.0.1")]
check("127.0.0.1 served again once its connections closed", served(held[0]))
n6 = 0
for i in range(persrc + 2):
    s = conn("::1")
    if i < persrc:
        n6 += served(s)
        held.append(s)
    else:
        c = closed_within(s, 1.0)
        check(f"::1 connection {i + 1} closed at once", c is not None,
              f"({c})")
        s.close()
check(f"::1 holds {persrc} connections", n6 == persrc, f"({n6})")
for s in held:
    s.close()
time.sleep(0.5)

# 4. Keep-alives: CRLFCRLF every second past the idle timeout keeps a
# connection open (each answered CRLF), a silent one closes on time.
ka = conn("127.0.0.1")
silent = conn("127.0.0.1")
t0 = time.monotonic()
pongs, ka_open = 0, True
silent_closed = None
ka.settimeout(0.2)
silent.settimeout(0)
while time.monotonic() - t0 < idle + 3:
    try:
        ka.sendall(b"\r\n\r\n")
    except OSError:
        ka_open = False
        break
    end = time.monotonic() + 1
    while time.monotonic() < end:
        try:
            d = ka.recv(100)
            if d == b"":
                ka_open = False
                break
            pongs += d.count(b"\r\n")
        except socket.timeout:
            pass
        if silent_closed is None:
            try:
                if silent.recv(100) == b"":
                    silent_closed = time.monotonic() - t0
            except BlockingIOError:
                pass
            except OSError:
                silent_closed = time.monotonic() - t0
    if not ka_open:
        break
took = time.monotonic() - t0
check(f"keep-alive connection open after {took:.1f}s (idle {idle}s)",
      ka_open and took > idle + 2, f"({pongs} pongs)")
check("pongs answered", pongs >= idle + 2, f"({pongs})")
check("silent connection closed on time",
      silent_closed is not None and silent_closed <= idle + 1.2,
      f"({silent_closed})")
check("keep-alive connection still served", served(ka))
ka.close()
silent.close()

# 5. A client that sends and never reads: once its unsent answers pass
# tcp_max_queue, usher closes it and counts tcp_limit.
before = metric('usher_dropped_total{reason="tcp_limit"}')
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind(("127.0.0.1", 0))
s.connect(("127.0.0.1", port))
s.settimeout(2)
batch = request(method="OPTIONS") * 100
sent, cut = 0, False
t0 = time.monotonic()
while time.monotonic() - t0 < 30 and not cut:
    try:
        s.sendall(batch)
        sent += 100
    except (socket.timeout, OSError):
        cut = True
after = metric('usher_dropped_total{reason="tcp_limit"}')
if not cut:     # usher may have closed while our sends still fitted
    cut = closed_within(s, 3) is not None
check("never-reading client closed", cut,
      f"(after {sent} requests, {time.monotonic() - t0:.1f}s)")
check("queue overflow counted as tcp_limit", after > before,
      f"({before} -> {after})")
s.close()

# 6. Still serving, and the slots came back.
time.sleep(0.5)
s = conn("127.0.0.1")
check("still serving", served(s))
s.close()
TCP_LIMIT = 'usher_dropped_total{reason="tcp_limit"}'
print(f"tcp_limit drops: {metric(TCP_LIMIT) - drops0}")
done()
