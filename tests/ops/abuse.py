#!/usr/bin/env python3
"""TCP abuse against a running usher (SPEC §4, §6): slow and idle
connections, too many connections, a Content-Length larger than the data, a
message over max_message_size, garbage. Each must be closed or refused
within the configured limits, and usher's memory must come back to its
baseline. usage: abuse.py PORT PID IDLE_TIMEOUT MAX_CONNS MAX_SIZE"""
import socket
import sys
import time

port, pid, idle, maxconn, maxsize = (int(a) for a in sys.argv[1:6])
failures = []


def rss_kb():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=idle + 3)
    return s


def closed_within(s, limit):
    """Seconds until the peer closed s (reads and discards), or None."""
    t0 = time.monotonic()
    s.settimeout(0.2)
    while time.monotonic() - t0 < limit:
        try:
            d = s.recv(65536)
            if d == b"":
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except ConnectionError:
            return time.monotonic() - t0
    return None


def read_head(s, timeout):
    """What s gives until an empty line, the peer closes or timeout."""
    s.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except (socket.timeout, ConnectionError):
        pass
    return data


def invite(cl=None, body=b"", extra=b""):
    h = (b"INVITE sip:bob@example.com SIP/2.0\r\n"
         b"Via: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKabuse\r\n"
         b"From: <sip:a@x>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
         b"Call-ID: abuse\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n" + extra)
    if cl is None:
        cl = len(body)
    return h + b"Content-Length: %d\r\n\r\n" % cl + body


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name} {detail} [rss {rss_kb()} kB]")
    if not ok:
        failures.append(name)


base = rss_kb()
print(f"rss before: {base} kB")

# 1. Slowloris: a message trickled one byte at a time never completes.
s = conn()
msg = invite()
t0 = time.monotonic()
closed = False
for b in msg[:-4]:
    try:
        s.send(bytes([b]))
    except OSError:
        closed = True
        break
    if time.monotonic() - t0 > idle + 1.5:
        break
    time.sleep(0.05)
took = time.monotonic() - t0
if not closed:
    c = closed_within(s, idle + 2 - min(took, idle))
    closed = c is not None
    took = time.monotonic() - t0
check("slowloris closed", closed and took <= idle + 1.5, f"({took:.1f}s)")
s.close()

# 2. Idle connection.
s = conn()
c = closed_within(s, idle + 2)
check("idle closed", c is not None and c <= idle + 1.2, f"({c}s)")
s.close()

# 3. More connections than tcp_max_connections: the extra is closed at once.
# Each held connection carries one request and its answer first, so it is
# known to be accepted and counted before the extra one arrives (a fixed sleep
# was not enough on a loaded CI machine).
held = []
for i in range(maxconn):
    h = conn()
    h.sendall(invite(extra=b"X-Held: %d\r\n" % i))
    got = read_head(h, idle)
    if not got.startswith(b"SIP/2.0 "):
        check(f"held connection {i} answered", False, repr(got[:40]))
    held.append(h)
extra = conn()
c = closed_within(extra, 1.0)
check("over the limit closed at once", c is not None and c < 1.0, f"({c})")
extra.close()
for h in held:
    h.close()
time.sleep(0.5)

# 4. Content-Length larger than the data: waits, then closes at the timeout.
s = conn()
s.sendall(invite(cl=500, body=b"x" * 10))
c = closed_within(s, idle + 2)
check("short body closed at idle timeout", c is not None and c <= idle + 1.2,
      f"({c}s)")
s.close()

# 5. Announced size over max_message_size: 513, then closed.
s = conn()
s.sendall(invite(cl=maxsize + 100))
data = read_head(s, 2)
check("too large answered 513", data.startswith(b"SIP/2.0 513"),
      repr(data[:40]))
c = closed_within(s, 2)
check("too large closed", c is not None)
s.close()

# 6. Garbage: closed (or answered 400), never kept forever.
s = conn()
s.sendall(b"\x00\x01GARBAGE garbage\r\n\xff\xfe\r\n\r\n" * 50)
c = closed_within(s, idle + 2)
check("garbage closed", c is not None, f"({c})")
s.close()

# 7. A good message on a fresh connection still works.
s = conn()
s.sendall(invite())
data = read_head(s, 2)
check("still answering", data.startswith(b"SIP/2.0 604"), repr(data[:30]))
s.close()

time.sleep(1)
after = rss_kb()
print(f"rss after: {after} kB (before {base} kB)")
check("memory back to baseline", after <= base + 2048,
      f"(+{after - base} kB)")
sys.exit(1 if failures else 0)
