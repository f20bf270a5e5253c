#!/usr/bin/env python3
"""systemd's notification socket, for tests: bind a unix datagram socket at PATH (what
$NOTIFY_SOCKET names) and append each message received to OUT as one line, its fields
(sd_notify's newline-separated VAR=VALUE) joined by ' | ', flushed at once. Runs until killed.

Usage: notify_listen.py PATH OUT
"""
import os
import socket
import sys


def main():
    path, out = sys.argv[1], sys.argv[2]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if os.path.exists(path):
        os.unlink(path)
    sock.bind(path)
    with open(out, "a", encoding="utf-8") as f:
        while True:
            msg = sock.recv(4096).decode("utf-8", "replace")
            f.write(" | ".join(msg.strip().split("\n")) + "\n")
            f.flush()


if __name__ == "__main__":
    main()
