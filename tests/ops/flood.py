#!/usr/bin/env python3
"""Flood usher over UDP from one source address, bounded in count and time.
usage: flood.py SRC_IP PORT COUNT SECONDS"""
import socket
import sys
import time

src, port, count, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
s.setblocking(False)
lport = s.getsockname()[1]
t0 = time.monotonic()
sent = 0
while sent < count and time.monotonic() - t0 < secs:
    # evenly over the whole time, so the flood spans several seconds
    ahead = sent - (time.monotonic() - t0) * count / secs
    if ahead > 0:
        time.sleep(ahead * secs / count)
    msg = (f"INVITE sip:u{sent}@example.com SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP {src}:{lport};branch=z9hG4bKf{sent};rport\r\n"
           f"From: <sip:f@{src}>;tag=f\r\nTo: <sip:u{sent}@example.com>\r\n"
           f"Call-ID: flood{sent}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
           "Content-Length: 0\r\n\r\n").encode()
    try:
        s.sendto(msg, ("127.0.0.1", port))
        sent += 1
    except BlockingIOError:
        time.sleep(0.001)
    try:
        while True:
            s.recv(65535)
    except BlockingIOError:
        pass
print(f"flood: sent {sent} in {time.monotonic() - t0:.1f}s")
