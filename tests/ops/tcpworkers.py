#!/usr/bin/env python3
"""TCP with several workers (issue 12, item 4): a connection belongs to one
worker, and a worker that must send on another's hands it the bytes.

1. Responses into a TCP connection that another worker owns: a client sends
   N INVITEs over one TCP connection (accepted by one worker); usher
   forwards them over UDP to a UAS, whose 486s come back over UDP and are
   spread at random over the workers, so about half are relayed by a
   worker that does not own the client's connection. Every 486 must arrive,
   on that connection, whole.
2. Requests onto an outgoing TCP connection: N INVITEs over UDP (spread
   over the workers) to a user whose target is a TCP UAS. Every worker
   that finds a connection to it uses it (through its owner), so the UAS
   sees at most one connection per worker (two workers connecting at once
   both keep theirs), and every 486 comes back over UDP.

usage: tcpworkers.py USHER_PORT UAS_UDP_PORT UAS_TCP_PORT WORKERS"""
import selectors
import socket
import sys
import threading
import time
import uuid

from checks import check, done

port, udp_uas_port, tcp_uas_port, workers = map(int, sys.argv[1:5])
N = 200


def answer(req):
    """A 486 for req (bytes), as a UAS makes it."""
    head = req.split(b"\r\n\r\n", 1)[0].decode()
    lines = head.split("\r\n")
    keep = [l for l in lines[1:] if l.split(":", 1)[0].strip().lower() in
            ("via", "from", "call-id", "cseq")]
    to = [l for l in lines[1:] if l.lower().startswith("to:")][0]
    return ("SIP/2.0 486 Busy Here\r\n" + "\r\n".join(keep) + "\r\n" +
            to + ";tag=uas\r\nContent-Length: 0\r\n\r\n").encode()


def split_stream(buf):
    """Whole messages (Content-Length: 0) from a stream buffer."""
    out = []
    while b"\r\n\r\n" in buf:
        msg, buf = buf.split(b"\r\n\r\n", 1)
        out.append(msg + b"\r\n\r\n")
    return out, buf


stop = threading.Event()
tcp_conns = []


def udp_uas():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", udp_uas_port))
    s.settimeout(0.2)
    while not stop.is_set():
        try:
            req, src = s.recvfrom(65535)
        except socket.timeout:
            continue
        if req.startswith(b"INVITE "):
            s.sendto(answer(req), src)


def tcp_uas(ls):
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ)
    bufs = {}
    while not stop.is_set():
        for key, _ in sel.select(0.2):
            if key.fileobj is ls:
                c, _ = ls.accept()
                tcp_conns.append(c)
                bufs[c] = b""
                sel.register(c, selectors.EVENT_READ)
                continue
            c = key.fileobj
            data = c.recv(65536)
            if not data:
                sel.unregister(c)
                continue
            msgs, bufs[c] = split_stream(bufs[c] + data)
            for m in msgs:
                if m.startswith(b"INVITE "):
                    c.sendall(answer(m))


def invite(user, tp, host, lport):
    cid = uuid.uuid4().hex
    return cid, (f"INVITE sip:{user}@example.com SIP/2.0\r\n"
                 f"Via: SIP/2.0/{tp} {host}:{lport};branch=z9hG4bK{cid};rport\r\n"
                 f"From: <sip:a@{host}>;tag=1\r\nTo: <sip:{user}@example.com>\r\n"
                 f"Call-ID: {cid}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
                 f"Content-Length: 0\r\n\r\n").encode()


ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", tcp_uas_port))
ls.listen(64)
threads = [threading.Thread(target=udp_uas, daemon=True),
           threading.Thread(target=tcp_uas, args=(ls,), daemon=True)]
for t in threads:
    t.start()

# 1. 486s relayed into one incoming TCP connection by either worker.
c = socket.create_connection(("127.0.0.1", port))
c.settimeout(10)
lport = c.getsockname()[1]
want = set()
for i in range(N):
    cid, msg = invite("u", "TCP", "127.0.0.1", lport)
    want.add(cid)
    c.sendall(msg)
    if i % 20 == 19:    # UDP on the far side: no burst to lose
        time.sleep(0.01)
got, bad, buf = set(), 0, b""
deadline = time.monotonic() + 15
while got != want and time.monotonic() < deadline:
    try:
        data = c.recv(65536)
    except socket.timeout:
        break
    if not data:
        break
    msgs, buf = split_stream(buf + data)
    for m in msgs:
        head = m.decode(errors="replace")
        cid = [l for l in head.split("\r\n") if l.startswith("Call-ID:")]
        if not head.startswith("SIP/2.0 486") or not cid:
            bad += 1
            continue
        got.add(cid[0].split(":", 1)[1].strip())
c.close()
check("every 486 relayed into the client's TCP connection",
      got == want and bad == 0,
      f"({len(got & want)} of {N}, {bad} malformed or other)")

# 2. Requests from either worker onto the outgoing connection(s).
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
u.bind(("127.0.0.1", 0))
u.settimeout(0.5)
uport = u.getsockname()[1]
want, got = set(), set()
for i in range(N):
    cid, msg = invite("t", "UDP", "127.0.0.1", uport)
    want.add(cid)
    u.sendto(msg, ("127.0.0.1", port))
    if i % 20 == 19:
        time.sleep(0.01)
deadline = time.monotonic() + 15
while got != want and time.monotonic() < deadline:
    try:
        m = u.recv(65535).decode(errors="replace")
    except socket.timeout:
        continue
    for l in m.split("\r\n"):
        if l.startswith("Call-ID:") and m.startswith("SIP/2.0 486"):
            got.add(l.split(":", 1)[1].strip())
check("every request forwarded over TCP answered",
      got == want, f"({len(got & want)} of {N})")
check("the outgoing connection reused: at most one per worker",
      1 <= len(tcp_conns) <= workers, f"({len(tcp_conns)} connections)")
stop.set()
done()
