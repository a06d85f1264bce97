#!/usr/bin/env python3
"""A tiny authoritative DNS server for the tests (standard library only).
Answers SRV, A and AAAA from the records it is given, NXDOMAIN for names it
has no record of, and an empty answer (NODATA) for other types of a name it
knows. Listens on 127.0.0.1 UDP, on a free port unless --port says one.

usage: dnsserver.py [--port N] [--port-file F] [--log F] [--zone F]
                    [--ttl N] [RECORD ...]
RECORD (or a line of the zone file; '#' starts a comment):
    NAME A 127.0.0.1 | NAME AAAA ::1 | NAME SRV PRIO WEIGHT PORT TARGET
--zone F is read again whenever it changes, so a test can change the zone
under a running server. Every query is logged as "NAME TYPE" on a line of
--log (flushed at once), and the port goes to --port-file (else stdout)."""
import os
import select
import signal
import socket
import struct
import sys

TYPES = {1: "A", 28: "AAAA", 33: "SRV", 35: "NAPTR", 5: "CNAME"}
CODES = {v: k for k, v in TYPES.items()}


def parse_record(text):
    f = text.split()
    name, rtype, data = f[0].lower().rstrip("."), f[1].upper(), f[2:]
    if rtype == "A":
        rdata = socket.inet_pton(socket.AF_INET, data[0])
    elif rtype == "AAAA":
        rdata = socket.inet_pton(socket.AF_INET6, data[0])
    elif rtype == "SRV":
        rdata = struct.pack("!HHH", int(data[0]), int(data[1]),
                            int(data[2])) + encode_name(data[3])
    else:
        raise ValueError(f"unsupported record type {rtype}")
    return name, CODES[rtype], rdata


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


class Zone:
    def __init__(self, records, path):
        self.fixed = [parse_record(r) for r in records]
        self.path = path
        self.stamp = None
        self.records = list(self.fixed)
        self.reload()

    def reload(self):
        if not self.path:
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self.stamp:
            return
        self.stamp = stamp
        recs = list(self.fixed)
        with open(self.path) as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if line:
                    recs.append(parse_record(line))
        self.records = recs

    def lookup(self, name, qtype):
        self.reload()
        known = [r for r in self.records if r[0] == name]
        return bool(known), [r for r in known if r[1] == qtype]


def parse_query(data):
    if len(data) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", data[:6])
    if flags & 0x8000 or qd != 1:
        return None
    labels, i = [], 12
    while i < len(data) and data[i] != 0:
        n = data[i]
        if n > 63:
            return None
        labels.append(data[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    if i + 5 > len(data):
        return None
    qtype, qclass = struct.unpack("!HH", data[i + 1:i + 5])
    return qid, flags, ".".join(labels).lower(), qtype, data[12:i + 5]


def answer(zone, data, ttl, log):
    q = parse_query(data)
    if q is None:
        return None
    qid, flags, name, qtype, question = q
    log.write(f"{name} {TYPES.get(qtype, qtype)}\n")
    log.flush()
    known, recs = zone.lookup(name, qtype)
    rcode = 0 if known else 3
    # QR, AA, RD copied, RA
    out = struct.pack("!HHHHHH", qid, 0x8400 | (flags & 0x0100) | 0x80 |
                      rcode, 1, len(recs), 0, 0) + question
    for _, rtype, rdata in recs:
        out += struct.pack("!HHHIH", 0xC00C, rtype, 1, ttl, len(rdata))
        out += rdata
    return out


def main():
    args = sys.argv[1:]
    opts = {"--port": "0", "--port-file": None, "--log": None,
            "--zone": None, "--ttl": "60"}
    records = []
    while args:
        a = args.pop(0)
        if a in opts:
            opts[a] = args.pop(0)
        else:
            records.append(a)
    zone = Zone(records, opts["--zone"])
    ttl = int(opts["--ttl"])
    log = open(opts["--log"], "a") if opts["--log"] else open(os.devnull, "w")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", int(opts["--port"])))
    port = s.getsockname()[1]
    if opts["--port-file"]:
        tmp = opts["--port-file"] + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.rename(tmp, opts["--port-file"])
    else:
        print(port, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        r, _, _ = select.select([s], [], [], 1.0)
        if not r:
            continue
        data, peer = s.recvfrom(4096)
        try:
            out = answer(zone, data, ttl, log)
        except (ValueError, OSError) as e:
            print(f"dnsserver: {e}", file=sys.stderr)
            out = None
        if out is not None:
            s.sendto(out, peer)


if __name__ == "__main__":
    main()
