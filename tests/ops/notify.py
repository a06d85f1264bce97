"""A fake systemd: listens on an AF_UNIX datagram socket ($NOTIFY_SOCKET)
and writes each message it gets to a log, one line per datagram ("|" for
newlines). On READY=1 it sends a SIP OPTIONS at once and logs whether usher
answered it, so the test can tell READY=1 came only once answers could.
usage: notify.py SOCKET LOG SIPPORT"""
import socket, sys, time

path, log, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
if path.startswith("@"):
    s.bind("\0" + path[1:])
else:
    s.bind(path)
out = open(log, "a", buffering=1)
open(log + ".bound", "w").close()     # the test starts usher after this
n = 0


def sip_answers():
    global n
    n += 1
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(0.5)
    msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK-n{n}{time.time_ns()}\r\n"
           "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: notify\r\n"
           "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    u.sendto(msg.encode(), ("127.0.0.1", port))
    try:
        return u.recv(4096).startswith(b"SIP/2.0 ")
    except socket.timeout:
        return False


while True:
    data = s.recv(4096).decode(errors="replace")
    out.write(data.replace("\n", "|") + "\n")
    if "READY=1" in data.split("\n"):
        out.write("ANSWERED\n" if sip_answers() else "NO-ANSWER\n")
