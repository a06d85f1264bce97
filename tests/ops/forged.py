#!/usr/bin/env python3
"""SPEC §7, as an attacker: responses usher did not make for a request it
forwarded are never relayed; a genuine answer is; what goes out over TCP is
framed by a correct Content-Length; responses obey the per-source rate.

usage: forged.py relay USHER_PORT METRICS_PORT PBX_PORT
       forged.py rate USHER_PORT METRICS_PORT"""
import os
import socket
import sys
import time
import urllib.request

LO = "127.0.0.1"
failures = []


def check(ok, what):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def metric(mport, name):
    page = urllib.request.urlopen(f"http://{LO}:{mport}/metrics",
                                  timeout=3).read().decode()
    for line in page.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[-1]))
    return 0


def hexid(n=16):
    return os.urandom(n // 2).hex()


def udp(port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((LO, port))
    return s


def recv(s, timeout):
    s.settimeout(timeout)
    try:
        return s.recv(65535)
    except socket.timeout:
        return b""


def headers_of(msg):
    head = msg.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    return head.split("\r\n")


def response(vias, callid, body=b"", clen=True, status="200 OK",
             extra=""):
    h = f"SIP/2.0 {status}\r\n"
    h += "".join(f"Via: {v}\r\n" for v in vias)
    h += (f"From: <sip:caller@{LO}>;tag=f{callid[:6]}\r\n"
          f"To: <sip:alice@example.com>;tag=t1\r\n"
          f"Call-ID: {callid}\r\nCSeq: 1 INVITE\r\n{extra}")
    if clen:
        h += f"Content-Length: {len(body)}\r\n"
    return h.encode() + b"\r\n" + body


def invite(via, callid, tcp=False):
    return (f"INVITE sip:alice@example.com SIP/2.0\r\nVia: {via}\r\n"
            f"From: <sip:caller@{LO}>;tag=f{callid[:6]}\r\n"
            f"To: <sip:alice@example.com>\r\nCall-ID: {callid}\r\n"
            f"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def answer_of(fwd, body=None, clen=True):
    """The PBX's 200 to a forwarded INVITE: its Vias, From, To, Call-ID."""
    lines = headers_of(fwd)
    keep = [l for l in lines[1:] if l.split(":", 1)[0].strip().lower() in
            ("via", "from", "call-id", "cseq")]
    to = [l for l in lines[1:] if l.lower().startswith("to:")][0]
    h = "SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + f"\r\n{to};tag=pbx\r\n"
    if body is None:
        return (h + "Content-Length: 0\r\n\r\n").encode()
    if clen:
        h += f"Content-Length: {len(body)}\r\n"
    return h.encode() + b"Content-Type: message/sipfrag\r\n\r\n" + body


def vias_of(msg):
    return [l.split(":", 1)[1].strip() for l in headers_of(msg)[1:]
            if l.split(":", 1)[0].strip().lower() in ("via", "v")]


def send_tcp(port, data):
    t = socket.create_connection((LO, port), timeout=2)
    t.sendall(data)
    return t


def relay_checks(port, mport, pbxport):
    pbx = udp(pbxport)
    victim = udp()
    vport = victim.getsockname()[1]
    vtcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    vtcp.bind((LO, 0))
    vtcp.listen(8)
    vtcp.setblocking(False)
    vtport = vtcp.getsockname()[1]
    ours = f"{LO}:{port}"

    # A genuine call: the PBX's answer reaches the caller, our Via gone.
    caller = udp()
    cport = caller.getsockname()[1]
    cid = hexid(24)
    caller.sendto(invite(f"SIP/2.0/UDP {LO}:{cport};branch=z9hG4bK{hexid()}"
                         ";rport", cid), (LO, port))
    fwd = recv(pbx, 2)
    check(fwd.startswith(b"INVITE "), "the INVITE reaches the PBX")
    if not fwd:
        return
    pbx.sendto(answer_of(fwd), (LO, port))
    ans = recv(caller, 2)
    check(ans.startswith(b"SIP/2.0 200") and len(vias_of(ans)) == 1,
          f"the PBX's 200 reaches the caller with one Via: {ans[:40]!r}")
    top, second = vias_of(fwd)[:2]

    base = metric(mport, 'usher_dropped_total{reason="not_ours"}')
    sent = 0
    att = udp()
    made_up = f"SIP/2.0/UDP {ours};branch=z9hG4bK{hexid()}.{hexid()}"
    to_victim = [f"SIP/2.0/UDP {LO}:{vport};branch=z9hG4bKx{hexid(8)}",
                 f"SIP/2.0/TCP {LO}:{vtport};branch=z9hG4bKx{hexid(8)}"]
    # the captured pair replayed, steered to the victims
    s_host = second.split(";", 1)[0]
    replays = [
        second.replace(f"rport={cport}", f"rport={vport}"),
        second.replace(f"rport={cport}", f"rport={vtport}").replace(
            "SIP/2.0/UDP", "SIP/2.0/TCP"),
        f"SIP/2.0/UDP {LO}:{vport};" + second.split(";", 1)[1],
        s_host + ";branch=" + second.split("branch=")[1].split(";")[0],
    ]
    check(all(r != second for r in replays), "replays differ from the pair")
    forged = ([[made_up, v] for v in to_victim] +
              [[top, r] for r in replays])
    body = ("INVITE sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/TCP "
            f"{LO}:1;branch=z9hG4bKsmuggled\r\nContent-Length: 0\r\n\r\n")
    for vias in forged:
        msg = response(vias, cid, body.encode(), clen=False)
        att.sendto(msg, (LO, port))
        sent += 1
        t = send_tcp(port, response(vias, cid, body.encode()))
        sent += 1
        time.sleep(0.05)
        t.close()
    time.sleep(1.0)
    got = recv(victim, 0.2)
    check(got == b"", f"the UDP victim received nothing: {got[:40]!r}")
    try:
        c, _ = vtcp.accept()
        data = c.recv(65535)
        check(False, f"the TCP victim got a connection: {data[:40]!r}")
    except BlockingIOError:
        check(True, "the TCP victim got no connection")
    now = metric(mport, 'usher_dropped_total{reason="not_ours"}')
    check(now >= base + sent, f"not_ours {base} -> {now}, {sent} forged")
    # the caller heard nothing of them either
    check(recv(caller, 0.2) == b"", "the caller got no forged response")

    # UDP in, TCP out: Content-Length added; a SIP message in the body
    # stays body.
    t = socket.create_connection((LO, port), timeout=2)
    tport = t.getsockname()[1]
    cid = hexid(24)
    t.sendall(invite(f"SIP/2.0/TCP {LO}:{tport};branch=z9hG4bK{hexid()}",
                     cid, tcp=True))
    fwd = recv(pbx, 2)
    check(fwd.startswith(b"INVITE "), "the TCP caller's INVITE reaches "
          "the PBX over UDP")
    if not fwd:
        return
    inner = (f"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP {LO}:{tport};"
             f"branch=z9hG4bKinner\r\nFrom: <sip:a@{LO}>;tag=1\r\n"
             f"To: <sip:b@{LO}>;tag=2\r\nCall-ID: inner\r\n"
             f"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").encode()
    pbx.sendto(answer_of(fwd, inner, clen=False), (LO, port))
    data = b""
    t.settimeout(0.3)
    end = time.time() + 1.5
    while time.time() < end:
        try:
            d = t.recv(65535)
        except socket.timeout:
            continue
        if not d:
            break
        data += d
    t.close()
    head, _, body = data.partition(b"\r\n\r\n")
    cls = [l for l in head.decode(errors="replace").split("\r\n")
           if l.lower().startswith(("content-length:", "l:"))]
    n = int(cls[0].split(":", 1)[1]) if len(cls) == 1 else -1
    check(data.startswith(b"SIP/2.0 200") and len(cls) == 1 and
          n == len(inner), f"UDP->TCP response has Content-Length "
          f"{len(inner)}: {cls}")
    check(n == len(body) and body == inner, f"exactly one message on the "
          f"connection, the inner one only its body ({len(body)} bytes "
          f"after the header, Content-Length {n})")


def rate_checks(port, mport):
    """Forged responses from one untrusted source over rate_per_source:
    dropped as rate, then banned, before they are even looked at."""
    att = udp()
    msg = response([f"SIP/2.0/UDP {LO}:{port};branch=z9hG4bK{hexid()}."
                    f"{hexid()}", f"SIP/2.0/UDP {LO}:9;branch=z9hG4bKz"],
                   hexid(24))
    sent = 0
    end = time.time() + 3.6
    while time.time() < end:
        for _ in range(20):
            att.sendto(msg, (LO, port))
            sent += 1
        time.sleep(0.1)
    time.sleep(0.3)
    rate = metric(mport, 'usher_dropped_total{reason="rate"}')
    banned = metric(mport, 'usher_dropped_total{reason="banned"}')
    nours = metric(mport, 'usher_dropped_total{reason="not_ours"}')
    check(rate > 0 and banned > 0 and nours + rate + banned >= sent * 0.5
          and nours < sent // 4, f"{sent} forged responses: not_ours "
          f"{nours}, rate {rate}, banned {banned}")


if sys.argv[1] == "relay":
    relay_checks(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
else:
    rate_checks(int(sys.argv[2]), int(sys.argv[3]))
sys.exit(1 if failures else 0)
