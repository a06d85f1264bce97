#!/usr/bin/env python3
"""Checks for tests/ops/dns.sh: RFC 3263 next hops through a test DNS server
(dnsserver.py) whose query log is DNSLOG.

usage: dns.py foreign | refresh | reload | hosts   (ports and files in the environment)
foreign: SRV priority and weight, the same target for a retransmission, no
  SRV -> A, SRV over TCP only, NXDOMAIN -> 503 naming the name, untrusted ->
  403 without a query, a table target name resolved at start (20 requests,
  no query), one that does not resolve -> 503.
refresh: a table target follows a zone change after dns.refresh.
reload: with dns.refresh = 0, only after a reload (SIGHUP).
hosts: without dns.servers, a target name with a port comes from /etc/hosts."""
import os
import select
import signal
import socket
import sys
import time
import uuid

E = os.environ
USHER = int(E["USHER_PORT"])
failures = []


def check(ok, what):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def udp_listener(port, addr="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    return s


def request(src, ruri, branch=None, s=None):
    """Send an INVITE from a new socket, or from s (a retransmission comes
    from the same port, with the same Via)."""
    if s is None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((src, 0))
        s.settimeout(1.0)
    lp = s.getsockname()[1]
    branch = branch or uuid.uuid4().hex
    msg = (f"INVITE {ruri} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP {src}:{lp};branch=z9hG4bK{branch};rport\r\n"
           f"From: <sip:a@{src}>;tag=1\r\nTo: <{ruri}>\r\n"
           f"Call-ID: {branch}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
           "Content-Length: 0\r\n\r\n").encode()
    s.sendto(msg, ("127.0.0.1", USHER))
    return s


def answer(s):
    try:
        return s.recv(65535).split(b"\r\n")[0].decode()
    except socket.timeout:
        return ""


def arrival(listeners, timeout=3.0):
    """The name of the listener a request arrived at, or None. Every caller
    expects one: the bound only matters on a machine busy with other
    tests."""
    r, _, _ = select.select(list(listeners.values()), [], [], timeout)
    for name, s in listeners.items():
        if s in r:
            data = s.recv(65535)
            if data.startswith(b"INVITE "):
                return name
    return None


def queries():
    with open(E["DNSLOG"]) as f:
        return f.read().splitlines()


def foreign():
    ls = {n: udp_listener(int(E[f"P_{n}"])) for n in ("L1", "L2", "LW1",
                                                      "LW2", "LA")}
    try:
        ls["PLAIN"] = udp_listener(5060, E["PLAIN_ADDR"])
    except OSError as e:
        print(f"skip no SRV -> A arrival: {E['PLAIN_ADDR']}:5060: {e}")
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", int(E["P_LT"])))
    tcp.listen(4)

    # The table target was resolved at start: 20 requests, no query.
    before = len(queries())
    got = [arrival(ls) for _ in range(20)
           if request("127.0.0.1", "sip:carl@example.com")]
    check(got == ["LA"] * 20, f"table target pbx.test by SRV: {got[:3]}...")
    check(len(queries()) == before,
          f"20 requests to a table target name: {len(queries()) - before} "
          "DNS queries")

    # Priority: the lower value is used, every time.
    got = [arrival(ls) for _ in range(6)
           if request("127.0.0.2", "sip:x@far.test")]
    check(got == ["L1"] * 6, f"SRV priority 10 before 20: {got}")

    # Weight: two equal records share the load; a retransmission (same
    # branch) goes where the original went.
    got = [arrival(ls) for _ in range(20)
           if request("127.0.0.2", "sip:x@w.test")]
    check(got.count("LW1") > 0 and got.count("LW2") > 0 and
          got.count("LW1") + got.count("LW2") == 20,
          f"SRV weights 1:1: LW1 {got.count('LW1')}, LW2 {got.count('LW2')}")
    branch = uuid.uuid4().hex
    s = request("127.0.0.2", "sip:x@w.test", branch)
    got = [arrival(ls)] + [arrival(ls) for _ in range(4)
                           if request("127.0.0.2", "sip:x@w.test", branch, s)]
    check(len(set(got)) == 1 and got[0] in ("LW1", "LW2"),
          f"a retransmission goes to the same SRV target: {got}")

    # No SRV: A, port 5060.
    s = request("127.0.0.2", "sip:x@plain.test")
    if "PLAIN" in ls:
        got = arrival(ls)
        check(got == "PLAIN", f"no SRV -> A record, port 5060: {got}")
    else:
        s.settimeout(0.5)
        check(answer(s) == "", "no SRV -> A record: forwarded, no answer")
    q = queries()
    check("_sip._udp.plain.test SRV" in q and "plain.test A" in q and
          q.index("_sip._udp.plain.test SRV") < q.index("plain.test A"),
          "SRV asked before A for plain.test")

    # Only _sip._tcp: the request goes over TCP (RFC 3263 §4.1).
    request("127.0.0.2", "sip:x@tcponly.test")
    tcp.settimeout(2.0)
    try:
        conn, _ = tcp.accept()
        conn.settimeout(2.0)
        data = conn.recv(65535)
    except socket.timeout:
        data = b""
    check(data.startswith(b"INVITE ") and b"SIP/2.0/TCP" in data,
          f"only _sip._tcp SRV -> over TCP: {data[:40]!r}")

    # NXDOMAIN: 503 saying which name.
    ans = answer(request("127.0.0.2", "sip:x@nx.test"))
    check(ans.startswith("SIP/2.0 503 ") and "nx.test" in ans,
          f"NXDOMAIN -> {ans!r}")
    # A table target that did not resolve at start: 503, no query now.
    before = len(queries())
    ans = answer(request("127.0.0.2", "sip:dan@example.com"))
    check(ans == "SIP/2.0 503 Target nores.test Does Not Resolve",
          f"table target that does not resolve -> {ans!r}")
    # SPEC §7: the cause is for trusted sources only.
    ans = answer(request("127.0.0.1", "sip:dan@example.com"))
    check(ans == "SIP/2.0 503 Service Unavailable",
          f"... the same to an untrusted source -> {ans!r}")
    check(len(queries()) == before, "... and no query for it")

    # Untrusted: 403, and DNS is not even asked.
    ans = answer(request("127.0.0.1", "sip:x@untrusted-only.test"))
    check(ans == "SIP/2.0 403 Forbidden", f"untrusted foreign -> {ans!r}")
    time.sleep(0.2)
    check(not any("untrusted-only" in q for q in queries()),
          "no DNS query for an untrusted source's foreign domain")


def set_zone(port):
    with open(E["ZONE"] + ".new", "w") as f:
        f.write(f"_sip._udp.pbx.test SRV 10 0 {port} a.far.test\n")
    os.rename(E["ZONE"] + ".new", E["ZONE"])


def refresh(sighup=False):
    la = udp_listener(int(E["P_LA"]))
    lb = udp_listener(int(E["P_LB"]))
    ls = {"LA": la, "LB": lb}
    got = arrival(ls) if request("127.0.0.1", "sip:carl@example.com") else None
    check(got == "LA", f"before the zone changes: {got}")
    set_zone(E["P_LB"])
    if sighup:
        # dns.refresh = 0: nothing but the reload looks again.
        time.sleep(1.5)
        got = arrival(ls) if request("127.0.0.1",
                                     "sip:carl@example.com") else None
        check(got == "LA", f"dns.refresh = 0: no refresh: {got}")
        os.kill(int(E["USHER_PID"]), signal.SIGHUP)
    deadline = time.time() + 8
    got = None
    while time.time() < deadline and got != "LB":
        got = arrival(ls) if request("127.0.0.1",
                                     "sip:carl@example.com") else None
        time.sleep(0.2)
    check(got == "LB", f"after the change and "
          f"{'a reload' if sighup else 'dns.refresh'}: {got}")
    set_zone(E["P_LA"])


def hosts():
    lh = udp_listener(int(E["P_LH"]))
    got = arrival({"LH": lh}) if request("127.0.0.1",
                                         "sip:lh@example.com") else None
    check(got == "LH", f"target localhost:port from /etc/hosts: {got}")


{"foreign": foreign, "refresh": refresh, "reload": lambda: refresh(True),
 "hosts": hosts}[sys.argv[1]]()
sys.exit(1 if failures else 0)
