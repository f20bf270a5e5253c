#!/usr/bin/env python3
"""Write a pcap of FCP/1 claim frames for bench.sh's saturated scenario (net_pcap infinite_rx).

usage: bench-pcap.py OUT.pcap DST_MAC DST_IP SALE USERS [USER_BASE]

USERS claims (request_id = user id) from users USER_BASE.., each from its own source address
(10.100.0.0 + user, port 10000 + user % 50000), to DST_MAC/DST_IP port 7777, valid checksums.
The PMD loads every frame into an mbuf of the port's pool: keep USERS below the pool's size.
Frames come from tests/integration/rawframes.py (the malformed table's builders).
"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import rawframes as rf  # noqa: E402


def main(argv):
    if len(argv) not in (6, 7):
        sys.exit(__doc__.strip().splitlines()[2])
    out, dst_mac, dst_ip = argv[1], argv[2], argv[3]
    sale, users = int(argv[4]), int(argv[5])
    base = int(argv[6]) if len(argv) == 7 else 1
    net = rf.Net(dst_mac, dst_ip, "02:00:00:00:00:09", "10.100.0.1")
    frames = []
    for u in range(base, base + users):
        net.peer_ip = struct.pack("!I", (10 << 24 | 100 << 16) + u % (1 << 16))
        net.peer_port = 10000 + u % 50000
        frames.append(rf.claim_frame(net, payload=rf.fcp(sale=sale, user=u, rid=u)))
    rf.write_pcap(out, frames)


if __name__ == "__main__":
    main(sys.argv)
