"""tlssip.py: SIP over TLS for the ops tests: a stream reader framed by
Content-Length, a small TLS UAS (a PBX that answers INVITE 200, takes ACK,
answers BYE and OPTIONS 200) and the helpers a TLS UAC needs. Python's ssl,
no other dependency."""
import re
import socket
import ssl
import threading
import time


def headers(msg, name):
    """Every value of header `name` (long form only), in order; comma
    separated values are split (outside <>)."""
    out = []
    head = msg.split("\r\n\r\n", 1)[0]
    for line in head.split("\r\n")[1:]:
        n, _, v = line.partition(":")
        if n.strip().lower() != name.lower():
            continue
        out.extend(x.strip() for x in re.findall(r'(?:<[^>]*>|[^,])+', v))
    return out


def header(msg, name):
    h = headers(msg, name)
    return h[0] if h else None


def start_line(msg):
    return msg.split("\r\n", 1)[0]


class Stream:
    """Messages from a stream socket, framed by Content-Length."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def read(self, timeout=5.0):
        """The next message as text, or None at EOF or timeout."""
        end = time.monotonic() + timeout
        while True:
            self.buf = self.buf.lstrip(b"\r\n")
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = self.buf[:i].decode("utf-8", "replace")
                m = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)",
                              head)
                clen = int(m.group(1)) if m else 0
                total = i + 4 + clen
                if len(self.buf) >= total:
                    msg = self.buf[:total].decode("utf-8", "replace")
                    self.buf = self.buf[total:]
                    return msg
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLError, OSError):
                return None
            if not data:
                return None
            self.buf += data

    def send(self, text):
        self.sock.sendall(text.encode())


def response(req, code, reason, to_tag=None, extra=""):
    """A response to req: its Via, Record-Route, From, To (with a tag),
    Call-ID and CSeq."""
    lines = [f"SIP/2.0 {code} {reason}"]
    for v in headers(req, "Via"):
        lines.append(f"Via: {v}")
    for r in headers(req, "Record-Route"):
        lines.append(f"Record-Route: {r}")
    lines.append(f"From: {header(req, 'From')}")
    to = header(req, "To")
    if to_tag and ";tag=" not in to:
        to += f";tag={to_tag}"
    lines.append(f"To: {to}")
    lines.append(f"Call-ID: {header(req, 'Call-ID')}")
    lines.append(f"CSeq: {header(req, 'CSeq')}")
    return "\r\n".join(lines) + "\r\n" + extra + "Content-Length: 0\r\n\r\n"


class TlsUas(threading.Thread):
    """A PBX over TLS on 127.0.0.1:port: answers what it gets on the
    connection it came on, and keeps (peer, message) of every request."""

    def __init__(self, port, cert, key, ca=None, require_client=False):
        super().__init__(daemon=True)
        self.port = port
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        if require_client:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(ca)
        self.ctx = ctx
        self.requests = []
        self.responses = []
        self.streams = []	# the connections usher opened to it
        self.client_certs = []
        self.lock = threading.Lock()
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", port))
        self.ls.listen(16)
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                s, peer = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(s, peer),
                             daemon=True).start()

    def serve(self, raw, peer):
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        cert = s.getpeercert()
        with self.lock:
            self.client_certs.append(cert)
        st = Stream(s)
        with self.lock:
            self.streams.append(st)
        while True:
            msg = st.read(timeout=30)
            if msg is None:
                break
            if msg.startswith("SIP/2.0"):
                with self.lock:
                    self.responses.append(msg)
                continue
            method = start_line(msg).split()[0]
            with self.lock:
                self.requests.append((peer, msg))
            contact = (f"Contact: <sip:pbx@127.0.0.1:{self.port};"
                       f"transport=tls>\r\n")
            if method == "INVITE":
                st.send(response(msg, 200, "OK", "uas1", contact))
            elif method in ("BYE", "OPTIONS", "CANCEL"):
                st.send(response(msg, 200, "OK", "uas1"))
        s.close()

    def got(self, method):
        with self.lock:
            return [m for _, m in self.requests
                    if start_line(m).split()[0] == method]

    def wait(self, method, n=1, timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.got(method)) >= n:
                return True
            time.sleep(0.05)
        return False

    def close(self):
        self.stop = True
        self.ls.close()


def client(port, ca, cert=None, key=None, name="127.0.0.1"):
    """A TLS connection to 127.0.0.1:port that verifies the server as
    name against ca; presents cert/key when given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname=name)
