#!/usr/bin/env python3
"""HEP capture (SPEC §10, issue 15 item 6), checked against the wire.

full: binds a HEP collector and a PBX (UDP and TCP), starts usher with
  capture to the collector, then over UDP and over TCP sends a request that
  gets a local reply and one that is forwarded to the PBX and answered.
  Every message usher received or sent, as the client and the PBX saw it on
  the wire, must arrive at the collector exactly once as a HEPv3 packet
  (decoded below from the HEPv3 spec, not from usher's code) with the same
  transport, family, addresses, ports and payload bytes, the capture id,
  a timestamp within seconds of now and the Call-ID as correlation id.
dead: capture goes to COLLECTOR (a closed loopback port, or an address with
  no route): every request is still answered, usher_capture_errors_total
  rises, and an idle usher burns no CPU.

usage: capture.py full USHER CONF PORT COLLECTOR_PORT PBX_UDP PBX_TCP ID METRICS
       capture.py dead USHER CONF PORT METRICS_PORT"""
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

from checks import check, done


# ---- HEPv3, from the spec: "HEP3", u16 total length, then chunks of
# u16 vendor, u16 type, u16 length (header included), data; big endian.

def hep_decode(pkt):
    if len(pkt) < 6 or pkt[:4] != b"HEP3":
        raise ValueError("no HEP3 header")
    total = int.from_bytes(pkt[4:6], "big")
    if total != len(pkt):
        raise ValueError(f"total length {total} != datagram {len(pkt)}")
    chunks, off = {}, 6
    while off < total:
        if off + 6 > total:
            raise ValueError("chunk header cut")
        vendor = int.from_bytes(pkt[off:off + 2], "big")
        ctype = int.from_bytes(pkt[off + 2:off + 4], "big")
        clen = int.from_bytes(pkt[off + 4:off + 6], "big")
        if clen < 6 or off + clen > total:
            raise ValueError(f"chunk {ctype:#x} length {clen}")
        if vendor != 0:
            raise ValueError(f"vendor {vendor}")
        if ctype in chunks:
            raise ValueError(f"chunk {ctype:#x} twice")
        chunks[ctype] = pkt[off + 6:off + clen]
        off += clen
    fam = chunks[0x01][0]
    u8 = lambda t: chunks[t][0] if len(chunks[t]) == 1 else None
    u16 = lambda t: int.from_bytes(chunks[t], "big") if len(chunks[t]) == 2 else None
    u32 = lambda t: int.from_bytes(chunks[t], "big") if len(chunks[t]) == 4 else None
    if fam == 2:
        af, src, dst = socket.AF_INET, chunks[0x03], chunks[0x04]
        assert len(src) == 4 and len(dst) == 4
    elif fam == 10:
        af, src, dst = socket.AF_INET6, chunks[0x05], chunks[0x06]
        assert len(src) == 16 and len(dst) == 16
    else:
        raise ValueError(f"family {fam}")
    return {
        "family": fam,
        "proto": u8(0x02),
        "src": socket.inet_ntop(af, src), "sport": u16(0x07),
        "dst": socket.inet_ntop(af, dst), "dport": u16(0x08),
        "time": u32(0x09) + u32(0x0a) / 1e6, "usec": u32(0x0a),
        "ptype": u8(0x0b), "id": u32(0x0c),
        "payload": chunks[0x0f], "corr": chunks.get(0x11),
    }


def callid_of(msg):
    for line in msg.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"call-id", b"i"):
            return value.strip()
    return None


class Collector(threading.Thread):
    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.packets, self.stop = [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.packets.append(self.sock.recv(70000))
            except socket.timeout:
                pass


wire = []			# (proto, src, sport, dst, dport, bytes) as seen
wire_lock = threading.Lock()


def saw(proto, src, dst, data):
    with wire_lock:
        wire.append((proto, src[0], src[1], dst[0], dst[1], bytes(data)))


def answer(req, code=486):
    head = req.split(b"\r\n\r\n", 1)[0].decode()
    lines = head.split("\r\n")
    keep = [l for l in lines[1:] if l.split(":", 1)[0].strip().lower() in
            ("via", "from", "call-id", "cseq")]
    to = [l for l in lines[1:] if l.lower().startswith("to:")][0]
    return (f"SIP/2.0 {code} Busy Here\r\n" + "\r\n".join(keep) + "\r\n" +
            to + ";tag=pbx\r\nContent-Length: 0\r\n\r\n").encode()


def read_msg(conn, buf):
    """One message (by Content-Length) from a stream; (msg, rest)."""
    while b"\r\n\r\n" not in buf:
        d = conn.recv(65536)
        if not d:
            raise EOFError
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    clen = 0
    for line in head.split(b"\r\n"):
        n, _, v = line.partition(b":")
        if n.strip().lower() in (b"content-length", b"l"):
            clen = int(v)
    while len(rest) < clen:
        rest += conn.recv(65536)
    return head + b"\r\n\r\n" + rest[:clen], rest[clen:]


def pbx_udp(sock, stop):
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(65536)
        except socket.timeout:
            continue
        saw(17, peer, sock.getsockname(), data)
        if data.startswith(b"INVITE"):
            r = answer(data)
            sock.sendto(r, peer)
            saw(17, sock.getsockname(), peer, r)


def pbx_tcp(lsock, stop):
    lsock.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, peer = lsock.accept()
        except socket.timeout:
            continue
        conn.settimeout(5)
        buf = b""
        try:
            while not stop.is_set():
                data, buf = read_msg(conn, buf)
                saw(6, peer, conn.getsockname(), data)
                if data.startswith(b"INVITE"):
                    r = answer(data)
                    conn.sendall(r)
                    saw(6, conn.getsockname(), peer, r)
        except (EOFError, OSError):
            pass


def invite(user, tp, local, cid):
    return (f"INVITE sip:{user}@example.com SIP/2.0\r\n"
            f"Via: SIP/2.0/{tp} {local[0]}:{local[1]};branch=z9hG4bK{uuid.uuid4().hex};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:caller@example.com>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <sip:{user}@example.com>\r\n"
            f"Call-ID: {cid}\r\n"
            "CSeq: 1 INVITE\r\n"
            f"Contact: <sip:caller@{local[0]}:{local[1]}>\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def udp_call(port, user, cid, v6=False):
    lo = "::1" if v6 else "127.0.0.1"
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET,
                      socket.SOCK_DGRAM)
    s.bind((lo, 0))
    s.settimeout(3)
    me = s.getsockname()[:2]
    req = invite(user, "UDP", (f"[{lo}]" if v6 else lo, me[1]), cid)
    s.sendto(req, (lo, port))
    saw(17, me, (lo, port), req)
    data, peer = s.recvfrom(65536)
    saw(17, peer[:2], me, data)
    s.close()
    return data.split(b"\r\n", 1)[0].decode()


def tcp_call(port, user, cid):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    req = invite(user, "TCP", s.getsockname(), cid)
    s.sendall(req)
    saw(6, s.getsockname(), s.getpeername(), req)
    data, _ = read_msg(s, b"")
    saw(6, s.getpeername(), s.getsockname(), data)
    s.close()
    return data.split(b"\r\n", 1)[0].decode()


def start_usher(usher, conf, port):
    log = open(os.path.join(os.path.dirname(conf), "usher.log"), "ab")
    p = subprocess.Popen([usher, "-f", "-c", conf], stderr=log)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.1)
    opt = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKo;rport\r\n"
           "From: <sip:p@x>;tag=1\r\nTo: <sip:p@x>\r\nCall-ID: probe\r\nCSeq: 1 OPTIONS\r\n"
           "Content-Length: 0\r\n\r\n").encode()
    for _ in range(50):
        s.sendto(opt, ("127.0.0.1", port))
        try:
            s.recv(65536)
            return p
        except socket.timeout:
            if p.poll() is not None:
                break
    p.terminate()
    sys.exit("usher did not answer")


def stop_usher(p):
    p.terminate()
    check("usher stops cleanly", p.wait(timeout=10) == 0)


def full(usher, conf, port, cport, pbxu, pbxt, cid_want, mport):
    col = Collector(cport)
    col.start()
    stop = threading.Event()
    us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    us.bind(("127.0.0.1", pbxu))
    ts = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ts.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ts.bind(("127.0.0.1", pbxt))
    ts.listen(8)
    threading.Thread(target=pbx_udp, args=(us, stop), daemon=True).start()
    threading.Thread(target=pbx_tcp, args=(ts, stop), daemon=True).start()
    p = start_usher(usher, conf, port)
    t0 = time.time()
    calls = {}
    v6 = os.environ.get("CAPTURE_V6") == "1"
    for name, fn, user, want in (
            ("udp local reply", udp_call, "bob", "SIP/2.0 604"),
            ("udp over IPv6", (lambda p, u, c: udp_call(p, u, c, True))
             if v6 else None, "bob", "SIP/2.0 604"),
            ("udp forwarded", udp_call, "alice", "SIP/2.0 486"),
            ("tcp local reply", tcp_call, "bob", "SIP/2.0 604"),
            ("tcp forwarded", tcp_call, "carol", "SIP/2.0 486")):
        if fn is None:
            print(f"skip {name}: no ::1 here", flush=True)
            continue
        cid = f"cap-{uuid.uuid4().hex}@test"
        calls[cid] = name
        try:
            status = fn(port, user, cid)
        except OSError as e:
            status = f"no answer: {e}"
        check(f"{name}: answered", status.startswith(want), status)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for name, size in (("big", 60000), ("huge", 65500)):
        b.sendto(big_msg(name, size), ("127.0.0.1", port))
    time.sleep(0.5)		# capture is sent as the message is; margin
    errs = scrape(mport, "usher_capture_errors_total")
    stop_usher(p)
    stop.set()
    col.stop.set()
    col.join()

    heps, bad = [], 0
    for pkt in col.packets:
        try:
            heps.append(hep_decode(pkt))
        except (ValueError, KeyError, AssertionError) as e:
            bad += 1
            print(f"  undecodable: {e}: {pkt[:40]!r}")
    check("every HEP packet decodes (lengths, chunks)", bad == 0 and heps,
          f"{len(heps)} packets, {bad} bad")
    ours = [h for h in heps if callid_of(h["payload"]) and
            callid_of(h["payload"]).decode() in calls]
    got = sorted((h["proto"], h["src"], h["sport"], h["dst"], h["dport"],
                  h["payload"]) for h in ours)
    want = sorted(w for w in wire if callid_of(w[5]).decode() in calls)
    check("wire messages seen", len(want) == (14 if v6 else 12),
          f"{len(want)}")
    check("each wire message is one HEP packet, same proto/addresses/"
          "ports/bytes", got == want, f"{len(got)} HEP vs {len(want)} wire")
    if got != want:
        for w in want:
            if w not in got:
                print("  missing:", w[:5], w[5][:50])
        for g in got:
            if g not in want:
                print("  extra:  ", g[:5], g[5][:50])
    check("family (2 IPv4, 10 IPv6, as the addresses), protocol type SIP, "
          "capture id", all(h["family"] == (10 if ":" in h["src"] else 2)
                            and h["ptype"] == 1 and h["id"] == cid_want
                            for h in heps))
    if v6:
        check("IPv6: 2 packets, family 10", sum(
            1 for h in ours if h["family"] == 10) == 2)
    now = time.time()
    check("timestamps within the run", all(
        t0 - 2 <= h["time"] <= now + 2 and h["usec"] < 1000000 for h in heps))
    check("Call-ID as correlation id", all(
        h["corr"] == callid_of(h["payload"]) for h in heps))
    for proto, n in ((17, 8 if v6 else 6), (6, 6)):
        check(f"proto {proto}: {n} packets",
              sum(1 for g in got if g[0] == proto) == n)
    # Large messages: one that fits HEP's 16-bit length arrives whole;
    # one that does not (65,500 bytes) is counted, never cut or overrun.
    for name, size in (("big", 60000), ("huge", 65500)):
        pk = [h for h in heps if h["payload"].startswith(b"OPTIONS") and
              callid_of(h["payload"]) == name.encode()]
        if size == 60000:
            check("a 60,000-byte datagram is one HEP packet, bytes intact",
                  len(pk) == 1 and pk[0]["payload"] == big_msg(name, size),
                  f"{len(pk)}")
        else:
            check("a 65,500-byte datagram is not mirrored", len(pk) == 0)
    check("usher_capture_errors_total counts it", errs == 1, f"{errs}")


def big_msg(cid, size):
    head = (f"OPTIONS sip:bob@example.com SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{cid};rport\r\n"
            "From: <sip:p@x>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
            f"Call-ID: {cid}\r\nCSeq: 1 OPTIONS\r\nX-Pad: ").encode()
    tail = b"\r\nContent-Length: 0\r\n\r\n"
    return head + b"p" * (size - len(head) - len(tail)) + tail


def scrape(mport, name):
    page = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics",
                                  timeout=3).read().decode()
    for line in page.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def dead(usher, conf, port, mport):
    p = start_usher(usher, conf, port)
    answered = 0
    for i in range(100):
        try:
            if udp_call(port, "bob", f"dead-{i}").startswith("SIP/2.0 604"):
                answered += 1
        except OSError:
            pass
    for i in range(20):
        try:
            if tcp_call(port, "bob", f"deadt-{i}").startswith("SIP/2.0 604"):
                answered += 1
        except OSError:
            pass
    check("every request answered", answered == 120, f"{answered}/120")
    errs = scrape(mport, "usher_capture_errors_total")
    check("usher_capture_errors_total rises", errs is not None and errs >= 50,
          f"{errs}")
    c0 = cpu_seconds(p.pid)
    time.sleep(2)
    c1 = cpu_seconds(p.pid)
    check("idle usher does not spin", c1 - c0 < 0.2, f"{c1 - c0:.2f} s in 2 s")
    stop_usher(p)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "full":
        full(sys.argv[2], sys.argv[3], *map(int, sys.argv[4:10]))
    else:
        dead(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    done()
