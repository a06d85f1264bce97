#!/usr/bin/env python3
"""RFC 3261 §18.2.2 over TCP: a response whose request's connection has
closed goes on a new connection to the Via's sent-by port, not to the
caller's ephemeral port (received:rport, RFC 3581 §4: UDP only); and a
forged response cannot steer that new connection anywhere (SPEC §7: the
H1 covers sent-by, received and rport). Local answers likewise: a
request that waited for DNS answered 503 after its connection closed.

Over TLS the new connection verifies the Via's sent-by host.

usage: tcpreply.py relay USHER_PORT METRICS_PORT UAS_PORT
       tcpreply.py dns USHER_PORT DNS_PORT
       tcpreply.py tls USHER_PORT TLS_PORT UAS_PORT CERT_DIR"""
import os
import re
import socket
import ssl
import sys
import time

from checks import check, done, metric

LO = "127.0.0.1"


def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((LO, 0))
    s.listen(4)
    return s


def invite(lport, callid, uri="sip:alice@example.com"):
    return (f"INVITE {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP {LO}:{lport};rport;branch=z9hG4bK{callid}\r\n"
            f"From: <sip:caller@{LO}>;tag=f{callid[:6]}\r\n"
            f"To: <sip:alice@example.com>\r\nCall-ID: {callid}\r\n"
            f"CSeq: 1 INVITE\r\nContact: <sip:caller@{LO}:{lport};"
            f"transport=tcp>\r\nMax-Forwards: 70\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def answer(fwd, status, vias=None):
    """The UAS's response to a forwarded INVITE (vias: its Via values)."""
    lines = fwd.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    if vias is None:
        vias = [l.split(":", 1)[1].strip() for l in lines[1:]
                if l.split(":", 1)[0].strip().lower() == "via"]
    keep = [l for l in lines[1:] if l.split(":", 1)[0].strip().lower() in
            ("from", "call-id", "cseq")]
    to = [l for l in lines[1:] if l.lower().startswith("to:")][0]
    tag = "" if status.startswith("100") else ";tag=uas"
    return (f"SIP/2.0 {status}\r\n" +
            "".join(f"Via: {v}\r\n" for v in vias) +
            "\r\n".join(keep) + f"\r\n{to}{tag}\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def read_msg(sock, timeout):
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            b = sock.recv(65535)
            if not b:
                break
            data += b
    except socket.timeout:
        pass
    return data


def call(port, uas, callid):
    """The caller's half: INVITE over TCP from an ephemeral port, its Via
    naming the listener; returns (listener, connection, forwarded)."""
    lst = listener()
    c = socket.create_connection((LO, port), timeout=2)
    c.sendall(invite(lst.getsockname()[1], callid))
    uas.settimeout(3)
    try:
        fwd, _ = uas.recvfrom(65535)
    except socket.timeout:
        fwd = b""
    return lst, c, fwd


def dns_checks(port, dport):
    """A trusted caller's INVITE for a name whose DNS never answers: the
    caller closes at once; usher's 503, when the lookup gives up, comes on
    a new connection to its Via's sent-by port."""
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hole.bind((LO, dport))		# takes the queries, answers none
    src = "127.0.0.2"		# trusted: may ask for a foreign domain
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((src, 0))
    lst.listen(4)
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.bind((src, 0))
    c.connect((LO, port))
    callid = os.urandom(6).hex()
    msg = invite(lst.getsockname()[1], callid, "sip:x@far.test")
    c.sendall(msg.replace(f"TCP {LO}:".encode(), f"TCP {src}:".encode()))
    hole.settimeout(3)
    try:
        hole.recvfrom(4096)
        asked = True
    except socket.timeout:
        asked = False
    check("usher asks DNS for far.test", asked)
    eph = c.getsockname()[1]
    c.close()
    lst.settimeout(10)
    try:
        n, _ = lst.accept()
        got = read_msg(n, 3)
        n.close()
    except socket.timeout:
        got = b""
    check(f"503 on a new connection to the sent-by port, not {eph}: "
          f"{got[:40]!r}",
          got.startswith(b"SIP/2.0 503") and callid.encode() in got)
    lst.close()
    hole.close()


def tls_checks(port, tport, uport, certs):
    """A TLS caller (its Via: localhost at its listener) closes after its
    INVITE; the 486 comes on a new TLS connection to the sent-by port, the
    certificate checked for localhost. A Via naming a host the listener's
    certificate does not carry gets nothing (the handshake fails)."""
    uas = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    uas.bind((LO, uport))
    cli = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cli.check_hostname = False
    cli.verify_mode = ssl.CERT_NONE
    srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.load_cert_chain(f"{certs}/server2.pem", f"{certs}/server2.key")
    for host, want in (("localhost", True), ("wrong.example", False)):
        lst = listener()
        lport = lst.getsockname()[1]
        callid = os.urandom(6).hex()
        c = cli.wrap_socket(socket.create_connection((LO, tport), timeout=3))
        c.sendall(invite(lport, callid).replace(
            f"TCP {LO}:{lport};".encode(), f"TLS {host}:{lport};".encode()))
        uas.settimeout(3)
        try:
            fwd, _ = uas.recvfrom(65535)
        except socket.timeout:
            fwd = b""
        check(f"TLS INVITE ({host}) reaches the UAS",
              fwd.startswith(b"INVITE "))
        if not fwd:
            return
        c.close()
        time.sleep(0.5)
        uas.sendto(answer(fwd, "486 Busy Here"), (LO, port))
        got = b""
        tried = False
        lst.settimeout(3)
        try:
            n, _ = lst.accept()
            tried = True
            n.settimeout(3)
            try:
                t = srv.wrap_socket(n, server_side=True)
                got = read_msg(t, 3)
                t.close()
            except (ssl.SSLError, OSError):
                n.close()
        except socket.timeout:
            pass
        ok = got.startswith(b"SIP/2.0 486") and callid.encode() in got
        check(f"Via {host}: a new TLS connection to "
              f"the sent-by port ({tried}), the 486 on it: {ok}, want {want}",
              tried and ok == want)
        lst.close()


def main():
    if sys.argv[1] == "tls":
        tls_checks(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
                   sys.argv[5])
        return
    if sys.argv[1] == "dns":
        dns_checks(int(sys.argv[2]), int(sys.argv[3]))
        return
    port, mport, uport = (int(a) for a in sys.argv[2:5])
    uas = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    uas.bind((LO, uport))

    # 1. 100 at once on the open connection, 486 after a second on a new
    # one to the sent-by port once the caller has closed.
    callid = os.urandom(6).hex()
    lst, c, fwd = call(port, uas, callid)
    check("the INVITE reaches the UAS", fwd.startswith(b"INVITE "))
    if not fwd:
        return
    uas.sendto(answer(fwd, "100 Trying"), (LO, port))
    got = read_msg(c, 3)
    check("100 on the caller's connection", got.startswith(b"SIP/2.0 100"))
    eph = c.getsockname()[1]
    c.close()
    time.sleep(1)
    uas.sendto(answer(fwd, "486 Busy Here"), (LO, port))
    lst.settimeout(3)
    try:
        n, peer = lst.accept()
        got = read_msg(n, 3)
        n.close()
    except socket.timeout:
        got = b""
    check(f"486 on a new connection to the sent-by port, not {eph}",
          got.startswith(b"SIP/2.0 486") and callid.encode() in got)
    lst.close()

    # 2. The attacker's view: the UAS (or anyone who saw the forwarded
    # INVITE) rewrites the caller's Via so that usher's new connection
    # would go to a victim: dropped (not_ours), nobody is connected to.
    callid = os.urandom(6).hex()
    lst, c, fwd = call(port, uas, callid)
    check("the second INVITE reaches the UAS", fwd.startswith(b"INVITE "))
    if not fwd:
        return
    c.close()
    time.sleep(0.2)
    victim = listener()
    vport = victim.getsockname()[1]
    lines = fwd.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    vias = [l.split(":", 1)[1].strip() for l in lines[1:]
            if l.split(":", 1)[0].strip().lower() == "via"]
    caller = vias[1]
    forged = [
        re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{vport}", caller, 1),
        re.sub(r"rport=\d+", f"rport={vport}", caller),
        re.sub(r";(rport|received)=[^;]*", "",
               re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{vport}", caller, 1)),
    ]
    check("the forged Vias differ", all(f != caller for f in forged))
    base = metric(mport, 'usher_dropped_total{reason="not_ours"}')
    for f in forged:
        uas.sendto(answer(fwd, "486 Busy Here", [vias[0], f] + vias[2:]),
                   (LO, port))
    victim.settimeout(1.5)
    try:
        v, _ = victim.accept()
        v.close()
        hit = True
    except socket.timeout:
        hit = False
    check(f"no connection to the victim's port {vport}", not hit)
    now = metric(mport, 'usher_dropped_total{reason="not_ours"}')
    check(f"not_ours {base} -> {now}, {len(forged)} forged",
          now >= base + len(forged))
    # the genuine one still goes to the caller's sent-by port
    uas.sendto(answer(fwd, "486 Busy Here"), (LO, port))
    lst.settimeout(3)
    try:
        n, _ = lst.accept()
        got = read_msg(n, 3)
        n.close()
    except socket.timeout:
        got = b""
    check("the genuine 486 still arrives", got.startswith(b"SIP/2.0 486"))
    lst.close()
    victim.close()


main()
done()
