#!/usr/bin/env python3
"""groupsend.py: INVITEs with chosen Call-IDs to one or more usher
instances over UDP, for tests/ops/groups.sh and groups-drain.sh. Prints one
line per answer: "PORT CALL-ID CODE ELAPSED_MS CONTACT;... RETRY-AFTER"
(the final answer; Contacts with their parameters, in order; "-" for
none).

usage: groupsend.py --ports P1,P2 --prefix fleet --count N [--user alice]
       [--timeout S] [--serial]"""
import argparse
import socket
import time


def invite(user, cid, lport, i):
    return "\r\n".join([
        f"INVITE sip:{user}@example.com SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bKgs{i}x{abs(hash(cid))};rport",
        f"From: <sip:gs@127.0.0.1>;tag=gs{i}",
        f"To: <sip:{user}@example.com>",
        f"Call-ID: {cid}",
        "CSeq: 1 INVITE",
        "Max-Forwards: 70",
        "Content-Length: 0", "", ""]).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", required=True)
    ap.add_argument("--prefix", default="fleet")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--user", default="alice")
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--serial", action="store_true",
                    help="wait for each answer before the next INVITE")
    a = ap.parse_args()
    ports = [int(p) for p in a.ports.split(",")]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    lport = s.getsockname()[1]
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sent = {}
    got = {}

    def take(wait):
        """Read answers until none comes for `wait` seconds."""
        s.settimeout(wait)
        while True:
            try:
                data, src = s.recvfrom(65535)
            except socket.timeout:
                return
            now = time.monotonic()
            head = data.decode("utf-8", "replace").split("\r\n\r\n")[0]
            lines = head.split("\r\n")
            code = int(lines[0].split()[1])
            if code < 200:
                continue
            cid = [l for l in lines if l.lower().startswith("call-id:")][0]
            cid = cid.split(":", 1)[1].strip()
            contacts = [l.split(":", 1)[1].strip() for l in lines
                        if l.lower().startswith("contact:")]
            retry = [l.split(":", 1)[1].strip() for l in lines
                     if l.lower().startswith("retry-after:")]
            key = (src[1], cid)
            if key in sent and key not in got:
                got[key] = (code, (now - sent[key]) * 1000, contacts,
                            retry[0] if retry else "-")
            if a.serial and key in sent:
                return

    for port in ports:
        for i in range(a.count):
            cid = f"{a.prefix}-{i}@groupsend"
            sent[(port, cid)] = time.monotonic()
            s.sendto(invite(a.user, cid, lport, i), ("127.0.0.1", port))
            if a.serial:
                take(a.timeout)	# one at a time: its own round trip
            elif i % 20 == 19:
                take(0.005)	# stay under the socket buffers
    deadline = time.monotonic() + a.timeout
    while len(got) < len(sent) and time.monotonic() < deadline:
        take(0.2)
    for (port, cid), (code, ms, contacts, retry) in sorted(got.items()):
        print(f"{port} {cid} {code} {ms:.3f} {';'.join(contacts) or '-'} "
              f"{retry}")


if __name__ == "__main__":
    main()
