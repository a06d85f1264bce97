#!/usr/bin/env python3
"""tlscall.py: calls through usher between UDP and TLS (SPEC §9, §3, §7),
run by tlscall.sh against a running usher. Phases:

  main   UDP caller (sipp) -> usher -> TLS PBX (mutual TLS); TLS caller ->
         usher -> UDP PBX (sipp); sips: TLS caller -> TLS PBX; Via,
         Record-Route and the BYE that follows it; an untrusted in-dialog
         request to a TLS host that is no target; sips: never downgraded.
  wrong  the PBX's certificate names another host: 503, nothing reaches it.
  lab    the same with verify_server = false: the call goes through.
  stall  the PBX accepts TCP and never answers the handshake: 503 in time.
  srv    (tlsexplain.sh) a sips: target name found by _sips._tcp SRV."""
import argparse
import os
import socket
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, done  # noqa: E402
import tlssip  # noqa: E402
from tlssip import header, headers, start_line  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SCEN = os.path.join(HERE, "..", "bench", "scenarios")


def request(method, ruri, via, to, callid, cseq, from_tag="uac1",
            route=(), contact=None):
    lines = [f"{method} {ruri} SIP/2.0", f"Via: {via}"]
    lines += [f"Route: {r}" for r in route]
    lines += [f"From: <sip:caller@example.org>;tag={from_tag}", f"To: {to}",
              f"Call-ID: {callid}", f"CSeq: {cseq} {method}",
              "Max-Forwards: 70"]
    if contact:
        lines.append(f"Contact: {contact}")
    return "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n"


def final(st, timeout=8.0):
    """Read responses on stream st up to the first final one."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        m = st.read(timeout=end - time.monotonic())
        if m is None:
            return None
        if m.startswith("SIP/2.0") and int(m.split()[1]) >= 200:
            return m
    return None


def udp_request(uport, text, timeout=8.0):
    """Send text over UDP to usher, return the first final response."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    lport = s.getsockname()[1]
    s.sendto(text.replace("LPORT", str(lport)).encode(),
             ("127.0.0.1", uport))
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s.settimeout(end - time.monotonic())
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            break
        m = data.decode("utf-8", "replace")
        if int(m.split()[1]) >= 200:
            s.close()
            return m
    s.close()
    return None


def tls_call(a, st, lport, ruri, want_rr, uas, label):
    """INVITE ruri over TLS stream st, then ACK and BYE along the
    Record-Route of the 200. Returns True when the BYE got its 200."""
    cid = uuid.uuid4().hex + "@tlscall"
    via = f"SIP/2.0/TLS 127.0.0.1:{lport};rport;branch=z9hG4bK{cid[:10]}i"
    st.send(request("INVITE", ruri, via, f"<{ruri}>", cid, 1,
                    contact=f"<sip:caller@127.0.0.1:{lport};transport=tls>"))
    ok = final(st)
    check(f"{label}: 200 for the INVITE over TLS",
          ok is not None and ok.startswith("SIP/2.0 200"),
          start_line(ok) if ok else "no answer")
    if ok is None or not ok.startswith("SIP/2.0 200"):
        return False
    rr = headers(ok, "Record-Route")
    check(f"{label}: Record-Route", rr == want_rr, f"{rr} want {want_rr}")
    vias = headers(ok, "Via")
    check(f"{label}: only our Via comes back", len(vias) == 1 and
          vias[0].startswith(f"SIP/2.0/TLS 127.0.0.1:{lport};"), str(vias))
    contact = header(ok, "Contact").strip("<>").split(">")[0]
    to = header(ok, "To")
    route = list(reversed(rr))
    for cseq, method in ((1, "ACK"), (2, "BYE")):
        via = (f"SIP/2.0/TLS 127.0.0.1:{lport};rport;"
               f"branch=z9hG4bK{cid[:10]}{method}")
        st.send(request(method, contact, via, to, cid, cseq, route=route))
    bye = final(st)
    check(f"{label}: the BYE along the Record-Route gets 200",
          bye is not None and bye.startswith("SIP/2.0 200") and
          "CSeq: 2 BYE" in bye, start_line(bye) if bye else "no answer")
    return bye is not None


def check_at_uas(uas, a, label, ruri, want_rr):
    """What the TLS PBX got: INVITE with our TLS Via and Record-Route,
    then ACK and BYE without Route, all over TLS."""
    uas.wait("BYE")
    inv = uas.got("INVITE")
    check(f"{label}: the INVITE reached the TLS PBX", len(inv) == 1,
          f"{len(inv)} INVITEs")
    if not inv:
        return
    inv = inv[-1]
    check(f"{label}: Request-URI", start_line(inv) == f"INVITE {ruri} SIP/2.0",
          start_line(inv))
    top = headers(inv, "Via")[0]
    check(f"{label}: top Via is usher's over TLS",
          top.startswith(f"SIP/2.0/TLS 127.0.0.1:{a.tport};branch=z9hG4bK"),
          top)
    rr = headers(inv, "Record-Route")
    check(f"{label}: Record-Route at the PBX", rr == want_rr,
          f"{rr} want {want_rr}")
    for method in ("ACK", "BYE"):
        got = uas.got(method)
        check(f"{label}: {method} reached the PBX over TLS", len(got) == 1,
              f"{len(got)}")
        if got:
            m = got[-1]
            check(f"{label}: {method} has no Route left",
                  not headers(m, "Route"), str(headers(m, "Route")))
            check(f"{label}: {method} top Via is TLS",
                  headers(m, "Via")[0].startswith(
                      f"SIP/2.0/TLS 127.0.0.1:{a.tport};"),
                  headers(m, "Via")[0])


def phase_main(a):
    certs = a.certs
    uas = tlssip.TlsUas(a.pbx, f"{certs}/server2.pem",
                        f"{certs}/server2.key", ca=f"{certs}/ca.pem",
                        require_client=True)
    uas.start()

    # 1. UDP caller (sipp) -> usher -> TLS PBX that asks for usher's
    # client certificate (mutual TLS).
    with open(os.path.join(a.tmp, "users.csv"), "w") as f:
        f.write("SEQUENTIAL\npbx1;\n")
    rc = subprocess.run(
        ["sipp", "-sf", os.path.join(SCEN, "call-uac.xml"),
         "-inf", os.path.join(a.tmp, "users.csv"), "-m", "1",
         "-i", "127.0.0.1", "-p", str(a.caller), "-timeout", "20",
         "-timeout_error", "-nostdin", "-trace_err",
         f"127.0.0.1:{a.uport}"], cwd=a.tmp, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL).returncode
    check("udp->tls: sipp call completed", rc == 0, f"sipp exit {rc}")
    check_at_uas(uas, a, "udp->tls",
                 f"sip:pbx1@127.0.0.1:{a.pbx};transport=tls",
                 [f"<sip:127.0.0.1:{a.tport};transport=tls;lr>",
                  f"<sip:127.0.0.1:{a.uport};lr>"])
    check("udp->tls: usher presented its client certificate",
          any(c for c in uas.client_certs), str(uas.client_certs[:1]))

    # 1b. A request from the PBX over the connection usher opened to it
    # (checked for 127.0.0.1), whose Via names a host that certificate
    # does not carry: usher forwards it (to the PBX itself, a table
    # target) and relays the 200 back on that same connection (RFC 3261
    # §18.2.2), not on a new one checked for the Via's host.
    st_pbx = uas.streams[-1] if uas.streams else None
    check("udp->tls: the PBX holds usher's connection", st_pbx is not None,
          "")
    if st_pbx is not None:
        cid = uuid.uuid4().hex
        st_pbx.send(request(
            "OPTIONS", "sip:pbx1@example.com",
            f"SIP/2.0/TLS pbx.invalid:{a.pbx};branch=z9hG4bKpbxopt",
            "<sip:pbx1@example.com>", cid, 1))
        end = time.monotonic() + 5
        got = []
        while time.monotonic() < end and not got:
            with uas.lock:
                got = [r for r in uas.responses if cid in r and
                       "z9hG4bKpbxopt" in r]
            time.sleep(0.05)
        check("udp->tls: a response to the PBX's own request comes back "
              "on the connection usher opened",
              bool(got) and got[0].startswith("SIP/2.0 200"),
              start_line(got[0]) if got else "no answer")

    # 2. TLS caller -> usher -> UDP PBX (sipp)
    uas_sipp = subprocess.Popen(
        ["sipp", "-sf", os.path.join(SCEN, "call-uas.xml"), "-m", "1",
         "-i", "127.0.0.1", "-p", str(a.udppbx), "-timeout", "25",
         "-timeout_error", "-nostdin", "-trace_err"], cwd=a.tmp,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    s = tlssip.client(a.tport, f"{certs}/ca.pem")
    st = tlssip.Stream(s)
    lport = s.getsockname()[1]
    tls_call(a, st, lport, "sip:pbx2@example.com",
             [f"<sip:127.0.0.1:{a.uport};lr>",
              f"<sip:127.0.0.1:{a.tport};transport=tls;lr>"], None,
             "tls->udp")
    try:
        rc = uas_sipp.wait(timeout=25)
    except subprocess.TimeoutExpired:
        uas_sipp.kill()
        rc = -1
    check("tls->udp: sipp PBX saw the whole call", rc == 0,
          f"sipp exit {rc}")

    # 3. sips: from a TLS caller to the TLS PBX: TLS on every hop, a sips:
    # Record-Route (RFC 5630), one value (no transport change)
    n0 = len(uas.got("INVITE"))
    uas.requests.clear()
    tls_call(a, st, lport, "sips:pbx1@example.com",
             [f"<sips:127.0.0.1:{a.tport};lr>"], uas, "sips tls->tls")
    check_at_uas(uas, a, "sips tls->tls",
                 f"sip:pbx1@127.0.0.1:{a.pbx};transport=tls",
                 [f"<sips:127.0.0.1:{a.tport};lr>"])
    del n0

    # 4. sips: to a user whose target is UDP: never downgraded; the TLS
    # connection to the UDP PBX's host cannot be made: 503
    cid = uuid.uuid4().hex
    st.send(request("INVITE", "sips:pbx2@example.com",
                    f"SIP/2.0/TLS 127.0.0.1:{lport};rport;branch=z9hG4bKs4",
                    "<sips:pbx2@example.com>", cid, 1))
    r = final(st)
    check("sips: to a UDP target: 503, never sent over UDP",
          r is not None and r.startswith("SIP/2.0 503"),
          start_line(r) if r else "no answer")
    s.close()

    # 5. attacker: an untrusted in-dialog request (Route to us) whose
    # Request-URI is a TLS host:port that is no table target
    uas.requests.clear()
    bad = request("BYE", f"sip:x@127.0.0.1:{a.pbx + 1};transport=tls",
                  "SIP/2.0/UDP 127.0.0.1:LPORT;rport;branch=z9hG4bKatk",
                  "<sip:x@example.com>;tag=t", uuid.uuid4().hex, 2,
                  route=[f"<sip:127.0.0.1:{a.uport};lr>"])
    r = udp_request(a.uport, bad, timeout=3)
    check("untrusted in-dialog to a TLS host that is no target: refused",
          r is not None and r.split()[1] in ("403", "404", "503"),
          start_line(r) if r else "no answer")
    # ... nor with the target's port but another transport (a downgrade)
    bad = bad.replace(f"{a.pbx + 1};transport=tls", f"{a.pbx};transport=tcp")
    r = udp_request(a.uport, bad, timeout=3)
    check("untrusted in-dialog to the TLS target's port over TCP: refused",
          r is not None and r.split()[1] in ("403", "404", "503"),
          start_line(r) if r else "no answer")
    check("the PBX got neither", not uas.got("BYE"), "")
    uas.close()


def phase_wrong(a, lab):
    certs = a.certs
    uas = tlssip.TlsUas(a.pbx, f"{certs}/other.pem", f"{certs}/other.key")
    uas.start()
    inv = request("INVITE", "sip:wrong@example.com",
                  "SIP/2.0/UDP 127.0.0.1:LPORT;rport;branch=z9hG4bKwr1",
                  "<sip:wrong@example.com>", uuid.uuid4().hex, 1)
    r = udp_request(a.uport, inv, timeout=8)
    if lab:
        check("verify_server = false: the call reaches the PBX",
              r is not None and r.startswith("SIP/2.0 200"),
              start_line(r) if r else "no answer")
        check("verify_server = false: INVITE at the PBX",
              len(uas.got("INVITE")) == 1, "")
    else:
        check("certificate for another name: 503",
              r is not None and r.startswith("SIP/2.0 503"),
              start_line(r) if r else "no answer")
        check("certificate for another name: nothing reached the PBX",
              not uas.got("INVITE"), f"{len(uas.got('INVITE'))}")
    uas.close()


def phase_stall(a):
    """A next hop that accepts the TCP connection and never answers the
    ClientHello (a slow or hostile PBX): the caller gets 503 once the
    handshake times out (handshake_timeout = 2 in tlscall.sh), and usher
    goes on serving."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.pbx))
    ls.listen(8)
    held = []

    def hold():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            held.append(c)      # read nothing, answer nothing
    import threading
    threading.Thread(target=hold, daemon=True).start()
    inv = request("INVITE", "sip:wrong@example.com",
                  "SIP/2.0/UDP 127.0.0.1:LPORT;rport;branch=z9hG4bKst1",
                  "<sip:wrong@example.com>", uuid.uuid4().hex, 1)
    t0 = time.monotonic()
    r = udp_request(a.uport, inv, timeout=10)
    took = time.monotonic() - t0
    check("stalled TLS next hop: 503", r is not None and
          r.startswith("SIP/2.0 503"), start_line(r) if r else "no answer")
    check("stalled TLS next hop: answered within handshake_timeout + 2 s",
          took < 4.5, f"{took:.1f} s")
    check("stalled TLS next hop: it was connected to", len(held) >= 1,
          f"{len(held)} connections")
    opt = udp_request(a.uport, request(
        "OPTIONS", f"sip:127.0.0.1:{a.uport}",
        "SIP/2.0/UDP 127.0.0.1:LPORT;rport;branch=z9hG4bKst2",
        f"<sip:127.0.0.1:{a.uport}>", uuid.uuid4().hex, 1), timeout=3)
    check("usher still answers", opt is not None and
          opt.startswith("SIP/2.0 200"), start_line(opt) if opt else "")
    ls.close()
    for c in held:
        c.close()


def phase_srv(a):
    """sip:srv@example.com, whose target is sips:srv@localhost, found by
    usher at start through _sips._tcp.localhost SRV (the test DNS
    server): the TLS PBX at the SRV port gets the INVITE, its certificate
    checked for the URI's host, localhost."""
    certs = a.certs
    uas = tlssip.TlsUas(a.pbx, f"{certs}/server2.pem",
                        f"{certs}/server2.key")
    uas.start()
    inv = request("INVITE", "sip:srv@example.com",
                  "SIP/2.0/UDP 127.0.0.1:LPORT;rport;branch=z9hG4bKsr1",
                  "<sip:srv@example.com>", uuid.uuid4().hex, 1)
    r = udp_request(a.uport, inv, timeout=8)
    check("_sips._tcp target: 200 from the TLS PBX",
          r is not None and r.startswith("SIP/2.0 200"),
          start_line(r) if r else "no answer")
    got = uas.got("INVITE")
    check("_sips._tcp target: the INVITE came over TLS", len(got) == 1 and
          headers(got[0], "Via")[0].startswith("SIP/2.0/TLS "),
          str([headers(g, "Via")[0] for g in got]))
    uas.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("phase", choices=("main", "wrong", "lab", "stall",
                                      "srv"))
    for opt in ("uport", "tport", "pbx", "udppbx", "caller"):
        p.add_argument(f"--{opt}", type=int, default=0)
    p.add_argument("--certs", required=True)
    p.add_argument("--tmp", required=True)
    a = p.parse_args()
    if a.phase == "main":
        phase_main(a)
    elif a.phase == "stall":
        phase_stall(a)
    elif a.phase == "srv":
        phase_srv(a)
    else:
        phase_wrong(a, a.phase == "lab")
    done()


if __name__ == "__main__":
    main()
