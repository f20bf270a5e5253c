#!/usr/bin/env python3
"""pgproxy: a PostgreSQL wire-protocol TCP proxy that holds or drops COMMITs (fault tests).

Usage: pgproxy.py --listen PORT --server HOST:PORT --mode-file FILE

Every client connection gets its own server connection. The proxy parses the frontend messages
(answering SSLRequest / GSSENCRequest with 'N' itself, so the rest is plain protocol 3) and the
backend messages, and acts on every simple Query ('Q') whose text starts with COMMIT according to
the first word of FILE, read at that moment (a missing or empty file means pass):

  pass   forward it.
  hold   keep it: forward it only once FILE no longer says hold. If the client goes away while
         the COMMIT is held, close the server connection without ever sending it (the server
         rolls the transaction back).
  drop1  forward it, wait for the server's answer (up to ReadyForQuery), then close both sockets
         WITHOUT relaying the answer: the client cannot know whether it committed. FILE is then
         rewritten to "pass", so exactly one COMMIT is dropped per "drop1" written.
  cutcopy1  on the next CopyData message (a COPY FROM STDIN under way), close both sockets
         without forwarding it; FILE is then rewritten to "pass".

Events go to stdout, one flushed line each: `listening PORT`, `conn N open`, `conn N held`,
`conn N released`, `conn N held-client-gone`, `conn N dropped tag=TAG` (TAG: the server's
CommandComplete tag, COMMIT or ROLLBACK), `conn N cut-in-copy`, `conn N closed [WHY]`.
Python 3 standard library only.
"""

import argparse
import os
import select
import socket
import struct
import sys
import threading
import time

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102

_print_lock = threading.Lock()


def log(line):
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def read_mode(path):
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            words = f.read().split()
    except OSError:
        return "pass"
    return words[0] if words else "pass"


def write_mode(path, mode):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(mode + "\n")
    os.replace(tmp, path)


def recv_exact(sock, n):
    """n bytes from sock, or None on EOF / error."""
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except OSError:
            return None
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_typed(sock):
    """One typed message (type byte, int32 length, body): (type, whole message), or None."""
    head = recv_exact(sock, 5)
    if head is None:
        return None
    length = struct.unpack("!I", head[1:5])[0]
    if length < 4:
        return None
    body = recv_exact(sock, length - 4) if length > 4 else b""
    if body is None:
        return None
    return head[0:1], head + body


class Conn:
    """One client connection and its server connection; two relay threads."""

    def __init__(self, cid, csock, ssock, mode_file):
        self.cid = cid
        self.csock = csock
        self.ssock = ssock
        self.mode_file = mode_file
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.dropping = False  # set before a drop1 COMMIT is forwarded
        self.tag = "?"  # CommandComplete tag of the dropped COMMIT's answer

    def close(self, why=""):
        with self.lock:
            if self.closed.is_set():
                return
            self.closed.set()
        for s in (self.csock, self.ssock):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        log(f"conn {self.cid} closed{(' ' + why) if why else ''}")

    @staticmethod
    def _send(sock, data):
        try:
            sock.sendall(data)
            return True
        except OSError:
            return False

    def send_server(self, data):
        return self._send(self.ssock, data)

    def send_client(self, data):
        return self._send(self.csock, data)

    def client_gone(self):
        """True when the client closed its socket (peeks, never consumes data)."""
        try:
            r, _, _ = select.select([self.csock], [], [], 0.05)
        except (OSError, ValueError):
            return True
        if not r:
            return False
        try:
            gone = self.csock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True
        if not gone:
            time.sleep(0.05)  # the client sent more while held: it waits for us, not us for it
        return gone

    def startup(self):
        """Relay the untyped start-up packets; answer SSL/GSS requests with 'N'."""
        while True:
            head = recv_exact(self.csock, 4)
            if head is None:
                return False
            length = struct.unpack("!I", head)[0]
            if length < 8 or length > 10000:
                return False
            body = recv_exact(self.csock, length - 4)
            if body is None:
                return False
            code = struct.unpack("!I", body[0:4])[0]
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                if not self.send_client(b"N"):
                    return False
                continue
            return self.send_server(head + body)

    def hold(self, msg):
        log(f"conn {self.cid} held")
        while not self.closed.is_set():
            if self.client_gone():
                log(f"conn {self.cid} held-client-gone")
                self.close("(held COMMIT never sent)")
                return False
            if read_mode(self.mode_file) != "hold":
                log(f"conn {self.cid} released")
                return self.send_server(msg)
        return False

    def client_to_server(self):
        try:
            if not self.startup():
                return
            while not self.closed.is_set():
                m = read_typed(self.csock)
                if m is None:
                    return
                mtype, msg = m
                if mtype == b"d" and read_mode(self.mode_file) == "cutcopy1":
                    write_mode(self.mode_file, "pass")
                    log(f"conn {self.cid} cut-in-copy")
                    self.close("(cut in the middle of a COPY)")
                    return
                if mtype == b"Q" and msg[5:].lstrip().upper().startswith(b"COMMIT"):
                    mode = read_mode(self.mode_file)
                    if mode == "hold":
                        if not self.hold(msg):
                            return
                        continue
                    if mode == "drop1":
                        write_mode(self.mode_file, "pass")
                        self.dropping = True
                if not self.send_server(msg):
                    return
        finally:
            self.close()

    def server_to_client(self):
        try:
            while not self.closed.is_set():
                m = read_typed(self.ssock)
                if m is None:
                    return
                mtype, msg = m
                if self.dropping:
                    if mtype == b"C":
                        self.tag = msg[5:].rstrip(b"\0").decode("ascii", "replace")
                    if mtype == b"Z":
                        log(f"conn {self.cid} dropped tag={self.tag}")
                        self.close("(COMMIT answer dropped)")
                        return
                    continue
                if not self.send_client(msg):
                    return
        finally:
            self.close()


def main():
    ap = argparse.ArgumentParser(description="PostgreSQL proxy that holds or drops COMMITs")
    ap.add_argument("--listen", type=int, required=True, help="port on 127.0.0.1 (0: any)")
    ap.add_argument("--server", required=True, help="HOST:PORT of the PostgreSQL server")
    ap.add_argument("--mode-file", required=True)
    a = ap.parse_args()
    host, _, port = a.server.rpartition(":")
    server = (host or "127.0.0.1", int(port))

    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.listen))
    ls.listen(64)
    log(f"listening {ls.getsockname()[1]}")
    cid = 0
    while True:
        csock, _ = ls.accept()
        cid += 1
        try:
            ssock = socket.create_connection(server, timeout=5)
            ssock.settimeout(None)
        except OSError as e:
            log(f"conn {cid} server-unreachable {e.strerror or e}")
            csock.close()
            continue
        for s in (csock, ssock):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = Conn(cid, csock, ssock, a.mode_file)
        log(f"conn {cid} open")
        threading.Thread(target=c.client_to_server, daemon=True).start()
        threading.Thread(target=c.server_to_client, daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
