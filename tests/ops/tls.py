#!/usr/bin/env python3
"""SIP over TLS (SPEC §9, issue 14), against the usher instances tls.sh
started. Each check prints one line (checks.py).

Server side (instance 1, TLS on TPORT, IPv4 and IPv6):
  - OPTIONS, INVITE->604 and INVITE->404 answered on the same connection;
  - a returning client resumes its session (ticket), counted "resumed";
  - plaintext SIP on the TLS port: closed, counted "failed";
  - a handshake that stalls (connect, send nothing): closed after
    handshake_timeout, counted;
  - slowloris over TLS (a byte a second): closed at tcp_idle_timeout;
  - certificate swap by SIGHUP while a connection is open: the open one
    still works, a new one sees the new certificate (fingerprints); then a
    broken pair: the certificate in use stays;
  - 300 TLS connections held open: RSS before and after, KB per
    connection printed (and bounded).
Mutual TLS (instance 2, verify_client): no client certificate -> refused
and counted; a good one -> served.
Handshake rate (instance 3, rate_per_source = 3): a burst of handshakes
from one source is cut, counted as rate drops.
Client side (tls_send, usher's transport alone): a peer with a good
certificate (by name and by IP), one for another name, an expired one,
and another name with verify_server = false.

Environment: TPORT MPORT UPID LOG VPORT VMPORT RPORT RMPORT CERTS LIVE
TLS_SEND OUT_CONF OUT_NOVERIFY_CONF IDLE HS_TIMEOUT"""
import hashlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid

from checks import check as check_line, done, metric


def check(name, ok, detail=""):
    """As checks.check, with a multi-line detail shown only on failure."""
    if "\n" in detail and ok:
        detail = ""
    check_line(name, ok, detail.replace("\n", " | "))

E = os.environ
TPORT, MPORT, UPID = int(E["TPORT"]), int(E["MPORT"]), int(E["UPID"])
VPORT, VMPORT = int(E["VPORT"]), int(E["VMPORT"])
RPORT, RMPORT = int(E["RPORT"]), int(E["RMPORT"])
CERTS, LIVE, LOG = E["CERTS"], E["LIVE"], E["LOG"]
IDLE, HS_TIMEOUT = int(E["IDLE"]), int(E["HS_TIMEOUT"])


def cert(name):
    return os.path.join(CERTS, name)


def client_ctx(certfile=None):
    ctx = ssl.create_default_context(cafile=cert("ca.pem"))
    if certfile:
        ctx.load_cert_chain(cert(certfile + ".pem"), cert(certfile + ".key"))
    return ctx


CTX = None


def connect(port, ctx=None, host="127.0.0.1", session=None, timeout=5):
    global CTX
    if ctx is None:
        CTX = CTX or client_ctx()
        ctx = CTX
    s = socket.create_connection((host, port), timeout=timeout)
    return ctx.wrap_socket(s, server_hostname="localhost", session=session)


def request(method, uri):
    return (f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK{uuid.uuid4().hex};rport\r\n"
            "From: <sip:alice@example.com>;tag=a1\r\n"
            f"To: <{uri}>\r\n"
            f"Call-ID: {uuid.uuid4().hex}@tls\r\n"
            f"CSeq: 1 {method}\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def read_msg(t):
    """One response (Content-Length: 0) from t; its status line or ''."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            d = t.recv(4096)
        except (OSError, ssl.SSLError):
            return ""
        if not d:
            return ""
        buf += d
    return buf.split(b"\r\n", 1)[0].decode()


def ask(t, method, uri):
    t.sendall(request(method, uri))
    return read_msg(t)


def closed_within(sock, limit):
    """Seconds until the peer closes sock (EOF, reset or TLS error), or
    None if it is still open after limit."""
    t0 = time.monotonic()
    sock.settimeout(limit)
    try:
        while True:
            d = sock.recv(4096)
            if not d:
                break
    except socket.timeout:
        return None
    except (OSError, ssl.SSLError):
        pass
    return time.monotonic() - t0


def fp_of_pem(path):
    with open(path) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


def fp_of(t):
    return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()


def hs(mport, result):
    return metric(mport, f'usher_tls_handshakes_total{{result="{result}"}}')


def reloads():
    with open(LOG) as f:
        return f.read().count("reloaded ")


def hup_and_wait():
    n = reloads()
    os.kill(UPID, signal.SIGHUP)
    for _ in range(100):
        if reloads() > n:
            return True
        time.sleep(0.05)
    return False


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---- instance 1: the server side ----
ok0, fail0 = hs(MPORT, "ok"), hs(MPORT, "failed")
t = connect(TPORT)
check("tls version is 1.2 or 1.3", t.version() in ("TLSv1.2", "TLSv1.3"),
      t.version())
check("OPTIONS over TLS -> 200",
      ask(t, "OPTIONS", f"sip:127.0.0.1:{TPORT}") == "SIP/2.0 200 OK")
st = ask(t, "INVITE", "sip:bob@example.com")
check("INVITE gone user over TLS -> 604, same connection",
      st.startswith("SIP/2.0 604"), st)
st = ask(t, "INVITE", "sip:nobody@example.com")
check("INVITE unknown user over TLS -> 404, same connection",
      st.startswith("SIP/2.0 404"), st)
t.sendall(b"\r\n\r\n")
check("CRLF keep-alive over TLS answered", t.recv(2) == b"\r\n")
check("handshake counted ok", hs(MPORT, "ok") >= ok0 + 1)
check("usher_tls_connections counts the open one",
      metric(MPORT, "usher_tls_connections") >= 1)
check("certificate expiry exported",
      metric(MPORT, "usher_tls_certificate_expiry_timestamp_seconds") >
      time.time() + 300 * 86400)

# framing over TLS: two requests in one record, one request cut over
# several records, one larger than a TLS record (16 KB)
t.sendall(request("OPTIONS", f"sip:127.0.0.1:{TPORT}") +
          request("OPTIONS", f"sip:127.0.0.1:{TPORT}"))
check("two requests in one TLS record: two answers",
      [read_msg(t), read_msg(t)] == ["SIP/2.0 200 OK"] * 2)
r = request("OPTIONS", f"sip:127.0.0.1:{TPORT}")
for i in range(0, len(r), 37):
    t.sendall(r[i:i + 37])
    time.sleep(0.01)
check("a request cut over many TLS records: answered", read_msg(t) ==
      "SIP/2.0 200 OK")
body = b"v=0\r\n" + b"a=x:" + b"y" * 30000 + b"\r\n"
r = request("OPTIONS", f"sip:127.0.0.1:{TPORT}").replace(
    b"Content-Length: 0\r\n", b"Content-Type: application/sdp\r\n"
    b"Content-Length: %d\r\n" % len(body)) + body
t.sendall(r)
check("a 30 KB request over TLS (several records): answered",
      read_msg(t) == "SIP/2.0 200 OK")

# IPv6 listener, where the host has ::1
try:
    t6 = connect(TPORT, host="::1")
    check("OPTIONS over TLS on ::1 -> 200",
          ask(t6, "OPTIONS", f"sip:[::1]:{TPORT}") == "SIP/2.0 200 OK")
    t6.close()
except OSError as e:
    print(f"skip IPv6: {e}")

# session resumption (ticket)
time.sleep(0.2)                # the ticket comes after the handshake
sess = t.session
res0 = hs(MPORT, "resumed")
t2 = connect(TPORT, session=sess)
check("returning client resumes its session", t2.session_reused)
check("OPTIONS on the resumed session -> 200",
      ask(t2, "OPTIONS", f"sip:127.0.0.1:{TPORT}") == "SIP/2.0 200 OK")
check("resumed handshake counted", hs(MPORT, "resumed") == res0 + 1)
t2.close()

# plaintext SIP on the TLS port
f0 = hs(MPORT, "failed")
p = socket.create_connection(("127.0.0.1", TPORT))
p.sendall(request("OPTIONS", f"sip:127.0.0.1:{TPORT}"))
el = closed_within(p, 3)
check("plaintext on the TLS port closed", el is not None, f"{el}")
p.close()
time.sleep(0.1)
check("plaintext counted as a failed handshake", hs(MPORT, "failed") == f0 + 1)

# a handshake that stalls
f0 = hs(MPORT, "failed")
s = socket.create_connection(("127.0.0.1", TPORT))
el = closed_within(s, HS_TIMEOUT + 3)
check(f"stalled handshake closed after handshake_timeout ({HS_TIMEOUT}s)",
      el is not None and HS_TIMEOUT - 0.3 <= el <= HS_TIMEOUT + 1.5, f"{el}")
s.close()
time.sleep(0.1)
check("stalled handshake counted failed", hs(MPORT, "failed") == f0 + 1)
with open(LOG) as f:
    check("failed handshake logged with its reason",
          "handshake failed: handshake timed out" in f.read())

# slowloris over TLS: a byte a second of a request never finished
sl = connect(TPORT)
slow_closed = []


def slowloris():
    data = request("INVITE", "sip:bob@example.com")
    t0 = time.monotonic()
    for b in data[:-4]:
        try:
            sl.send(bytes([b]))
        except (OSError, ssl.SSLError):
            slow_closed.append(time.monotonic() - t0)
            return
        time.sleep(1)


th = threading.Thread(target=slowloris, daemon=True)
th.start()
el = closed_within(sl, IDLE + 4)
check(f"slowloris over TLS closed at tcp_idle_timeout ({IDLE}s)",
      el is not None and el <= IDLE + 1.5, f"{el}")

# certificate swap by SIGHUP while a connection is open
fp1, fp2 = fp_of_pem(cert("server.pem")), fp_of_pem(cert("server2.pem"))
old = connect(TPORT)
check("before the swap: the first certificate", fp_of(old) == fp1)
for ext in ("pem", "key"):
    with open(cert("server2." + ext), "rb") as src, \
            open(os.path.join(LIVE, "live." + ext), "wb") as dst:
        dst.write(src.read())
check("SIGHUP reload done", hup_and_wait())
new = connect(TPORT)
check("a new connection sees the new certificate", fp_of(new) == fp2)
check("the open connection still works after the swap",
      ask(old, "OPTIONS", f"sip:127.0.0.1:{TPORT}") == "SIP/2.0 200 OK")
check("the new connection works",
      ask(new, "OPTIONS", f"sip:127.0.0.1:{TPORT}") == "SIP/2.0 200 OK")
# a broken pair: server's certificate with server2's key
with open(cert("server.pem"), "rb") as src, \
        open(os.path.join(LIVE, "live.pem"), "wb") as dst:
    dst.write(src.read())
check("SIGHUP with a mismatched pair still reloads", hup_and_wait())
kept = connect(TPORT)
check("a broken pair keeps the certificate in use", fp_of(kept) == fp2)
with open(LOG) as f:
    log = f.read()
check("the broken pair is logged with why",
      "does not match" in log and "keeping the certificate in use" in log)
for c in (old, new, kept, t):
    c.close()

# an announced size over max_message_size: 513, then closed
big = connect(TPORT)
big.sendall(request("INVITE", "sip:bob@example.com").replace(
    b"Content-Length: 0", b"Content-Length: 100000"))
st = read_msg(big)
check("over max_message_size over TLS: 513", st.startswith("SIP/2.0 513"), st)
el = closed_within(big, 3)
check("... and the TLS connection closed", el is not None, f"{el}")
# garbage with sound framing after a sound handshake: as over TCP, it
# costs that message only (no start line to answer: a counted drop), and
# the connection goes on
g = connect(TPORT)
p0 = metric(MPORT, "usher_parse_errors_total")
g.sendall(b"\x00\x01garbage\r\nContent-Length: 0\r\n\r\n" +
          request("OPTIONS", f"sip:127.0.0.1:{TPORT}"))
st = read_msg(g)
check("garbage inside TLS: dropped, the next request answered on the "
      "same connection", st == "SIP/2.0 200 OK", st)
check("garbage inside TLS: counted as a parse error",
      metric(MPORT, "usher_parse_errors_total") == p0 + 1)
g.close()
check("usher still serves after the garbage",
      ask(connect(TPORT), "OPTIONS", f"sip:127.0.0.1:{TPORT}") ==
      "SIP/2.0 200 OK")

# 300 TLS connections held open
time.sleep(0.3)
before = rss_kb(UPID)
ctx = client_ctx()
held = []
N = 300
for i in range(N):
    held.append(connect(TPORT, ctx=ctx))
for c in held:
    c.sendall(b"\r\n\r\n")
pongs = sum(1 for c in held if c.recv(2) == b"\r\n")
time.sleep(0.2)
after = rss_kb(UPID)
per = (after - before) / N
print(f"RSS {before} KB -> {after} KB with {N} TLS connections: "
      f"{per:.1f} KB per connection")
check(f"{N} TLS connections held open and answering", pongs == N, f"{pongs}")
check(f"usher_tls_connections >= {N}",
      metric(MPORT, "usher_tls_connections") >= N)
if E.get("SANITIZED") == "1":
    print("skip the RSS bound: a sanitizer build (redzones, quarantine)")
else:
    check("RSS per idle TLS connection under 64 KB", per < 64,
          f"{per:.1f} KB")
for c in held:
    c.close()

# ---- instance 2: mutual TLS ----
f0 = hs(VMPORT, "failed")
try:
    m = connect(VPORT)
    # TLS 1.3: the server's refusal arrives after the client's handshake
    st = ask(m, "OPTIONS", f"sip:127.0.0.1:{VPORT}")
    refused = st == ""
except (OSError, ssl.SSLError):
    refused = True
check("verify_client: a client without a certificate is refused", refused)
time.sleep(0.1)
check("verify_client: the refusal is counted", hs(VMPORT, "failed") == f0 + 1)
m = connect(VPORT, ctx=client_ctx("client"))
check("verify_client: a client with a good certificate is served",
      ask(m, "OPTIONS", f"sip:127.0.0.1:{VPORT}") == "SIP/2.0 200 OK")
m.close()
f0 = hs(VMPORT, "failed")
try:
    bad = ssl.create_default_context(cafile=cert("ca.pem"))
    bad.load_cert_chain(cert("expired.pem"), cert("expired.key"))
    m = connect(VPORT, ctx=bad)
    refused = ask(m, "OPTIONS", f"sip:127.0.0.1:{VPORT}") == ""
except (OSError, ssl.SSLError):
    refused = True
check("verify_client: an expired client certificate is refused", refused)

# min_version = "1.3": a TLS 1.2 client is refused
old12 = client_ctx("client")
old12.maximum_version = ssl.TLSVersion.TLSv1_2
try:
    connect(VPORT, ctx=old12).close()
    refused = False
except (OSError, ssl.SSLError):
    refused = True
check("min_version 1.3: a TLS 1.2 client is refused", refused)
# tcp_max_connections_per_source (default 32) holds for TLS
l0 = metric(VMPORT, 'usher_dropped_total{reason="tcp_limit"}')
mine, cut = [], 0
for i in range(36):
    try:
        c = connect(VPORT, ctx=client_ctx("client"))
        c.sendall(b"\r\n\r\n")
        if c.recv(2) == b"\r\n":
            mine.append(c)
        else:
            cut += 1
    except (OSError, ssl.SSLError):
        cut += 1
check("TLS: a source holds at most 32 connections", len(mine) == 32,
      f"{len(mine)} held, {cut} cut")
check("TLS: the ones over the per-source cap counted tcp_limit",
      metric(VMPORT, 'usher_dropped_total{reason="tcp_limit"}') >= l0 + 4)
for c in mine:
    c.close()

# a TLS client that never reads its answers: closed once its queue
# passes tcp_max_queue (64 KiB here), counted tcp_limit; others unharmed
l0 = metric(VMPORT, 'usher_dropped_total{reason="tcp_limit"}')
raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
raw.settimeout(10)
raw.connect(("127.0.0.1", VPORT))
deaf = client_ctx("client").wrap_socket(raw, server_hostname="localhost")
burst = request("OPTIONS", f"sip:127.0.0.1:{VPORT}") * 100
cut = False
t0 = time.monotonic()
try:
    # Up to 40,000 requests, ~14 MB of answers: past what the kernel
    # buffers for the socket (its send buffer grows to 4 MB), usher's
    # own queue fills. Sent until usher cuts, 20 s at most.
    for i in range(400):
        deaf.sendall(burst)
        if (i % 20 == 19 and (time.monotonic() - t0 > 20 or
                metric(VMPORT, 'usher_dropped_total{reason="tcp_limit"}')
                > l0)):
            break
except (OSError, ssl.SSLError):
    cut = True
t0 = time.monotonic()
while (not cut and time.monotonic() - t0 < 5 and
       metric(VMPORT, 'usher_dropped_total{reason="tcp_limit"}') == l0):
    time.sleep(0.1)
check("a TLS client that does not read is cut at tcp_max_queue",
      metric(VMPORT, 'usher_dropped_total{reason="tcp_limit"}') > l0)
deaf.close()
m = connect(VPORT, ctx=client_ctx("client"))
check("... and the others are served",
      ask(m, "OPTIONS", f"sip:127.0.0.1:{VPORT}") == "SIP/2.0 200 OK")
m.close()

# ---- instance 3: handshakes count toward rate_per_source ----
r0 = metric(RMPORT, 'usher_dropped_total{reason="rate"}')
served = 0
for i in range(20):
    try:
        c = connect(RPORT, timeout=2)
        if ask(c, "OPTIONS", f"sip:127.0.0.1:{RPORT}") == "SIP/2.0 200 OK":
            served += 1
        c.close()
    except (OSError, ssl.SSLError):
        pass
check("a burst of 20 handshakes from one source is cut by the rate",
      served < 20, f"{served} served")
check("handshakes over the rate counted as rate drops",
      metric(RMPORT, 'usher_dropped_total{reason="rate"}') > r0)


# ---- usher as a TLS client (tls_send) ----
class Peer:
    """A TLS UAS: answers 200 to every request; counts connections."""

    def __init__(self, name, close_after=False):
        self.close_after = close_after
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert(name + ".pem"), cert(name + ".key"))
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen()
        self.port = self.ls.getsockname()[1]
        self.conns = 0
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            t = self.ctx.wrap_socket(c, server_side=True)
            buf = b""
            while True:
                d = t.recv(4096)
                if not d:
                    return
                buf += d
                while b"\r\n\r\n" in buf:
                    msg, buf = buf.split(b"\r\n\r\n", 1)
                    lines = msg.decode().split("\r\n")
                    keep = [l for l in lines[1:] if l.split(":")[0].lower()
                            in ("via", "from", "to", "call-id", "cseq")]
                    t.sendall(("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) +
                               "\r\nContent-Length: 0\r\n\r\n").encode())
                    if self.close_after:
                        t.close()
                        return
        except (OSError, ssl.SSLError):
            return

    def close(self):
        self.ls.close()


def tls_send(conf, peer, name, count=2, workers=1, pause_ms=0):
    out = subprocess.run([E["TLS_SEND"], conf, "127.0.0.1", str(peer.port),
                          name, str(count), str(workers), str(pause_ms)],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0 or "Sanitizer" in out.stderr:
        check(f"tls_send to {name} ran clean", False,
              f"exit {out.returncode}: {out.stderr[-2000:]}")
    return out.stdout


p = Peer("server")
out = tls_send(E["OUT_CONF"], p, "localhost")
check("outgoing TLS: both requests answered over TLS",
      out.count("response: SIP/2.0 200 OK (over tls)") == 2, out)
check("outgoing TLS: one connection reused for both", p.conns == 1,
      f"{p.conns}")
check("outgoing TLS: one full handshake", "handshakes ok=1 " in out, out)
out = tls_send(E["OUT_CONF"], p, "127.0.0.1", 1)
check("outgoing TLS: an IP target checked against SAN IP",
      "response: SIP/2.0 200 OK" in out, out)
p.close()
# one address, two names: a connection checked for one name is not reused
# for another, which gets its own check (and fails when the certificate
# does not name it)
p = Peer("server")
out = tls_send(E["OUT_CONF"], p, "localhost,127.0.0.1", 2)
check("outgoing TLS: two names at one address, two connections",
      out.count("response: SIP/2.0 200 OK (over tls)") == 2 and
      p.conns == 2, f"{p.conns} connections | {out}")
p.close()
p = Peer("server")
out = tls_send(E["OUT_CONF"], p, "localhost,sip.example.net", 2)
check("outgoing TLS: a name the certificate lacks does not ride on a "
      "connection checked for another",
      out.count("response: SIP/2.0 200 OK (over tls)") == 1 and
      "certificate: hostname mismatch" in out and p.conns == 2,
      f"{p.conns} connections | {out}")
p.close()
# two workers take turns: the second hands its bytes to the owner
p = Peer("server")
out = tls_send(E["OUT_CONF"], p, "localhost", 6, 2)
check("outgoing TLS from two workers: six answers over one connection",
      out.count("response: SIP/2.0 200 OK (over tls)") == 6 and
      p.conns == 1, f"{p.conns} connections | {out}")
p.close()
# a peer that closes after each answer: the next connection resumes
p = Peer("server", close_after=True)
out = tls_send(E["OUT_CONF"], p, "localhost", 3, 1, 300)
check("outgoing TLS: a new connection to the same peer resumes its session",
      out.count("response: SIP/2.0 200 OK") == 3 and p.conns == 3 and
      "handshakes ok=1 resumed=2 failed=0" in out, f"{p.conns} | {out}")
p.close()
p = Peer("other")
out = tls_send(E["OUT_CONF"], p, "localhost")
check("outgoing TLS: a certificate for another name is refused (503 cause)",
      out.count("undeliverable: Cannot Connect To Next Hop (TLS: "
                "certificate: hostname mismatch)") == 2, out)
check("outgoing TLS: the refusals are counted", "failed=2" in out, out)
out = tls_send(E["OUT_NOVERIFY_CONF"], p, "localhost", 1)
check("outgoing TLS: verify_server = false accepts it",
      "response: SIP/2.0 200 OK" in out, out)
p.close()
p = Peer("expired")
out = tls_send(E["OUT_CONF"], p, "localhost", 1)
check("outgoing TLS: an expired certificate is refused",
      "certificate has expired" in out and "failed=1" in out, out)
p.close()

done()
