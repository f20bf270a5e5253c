#!/usr/bin/env python3
"""Seed corpus for fuzz_rx: one file per frame, each a flags byte then the frame (fuzz_rx.c).

Valid claims (open sale, token sale with PROTOCOL.md's vectors, sale status of every sale kind),
ARP, ICMP echo, VLAN-tagged, IP options, and every broken frame of the malformed table of
tests/integration/rawframes.py (one per drop kind and more). Addresses and sale ids are fuzz_rx.c's.
Usage: make_corpus.py DIR
"""

import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import rawframes as rf  # noqa: E402

FIX_IP, FIX_L4, ZERO_UDP, WORKER1 = 0x01, 0x02, 0x04, 0x08
# instants (flags & 0x30): the clock, a start/end, just before it, the vectors' expiry second
AT_NOW, AT_HOUR, AT_HOUR_LESS_1, AT_EXPIRY = 0x00, 0x10, 0x20, 0x30
SALE_OPEN, SALE_TOKEN, SALE_PENDING, SALE_STOPPED, SALE_NO_LEASE, SALE_UNKNOWN = 1, 42, 3, 4, 5, 99

# PROTOCOL.md token vectors (key 00..0f): sale 42 users 1001 (node 0) and 1002 (node 3, fuzz_rx's
# node), and sale 7 (unknown to fuzz_rx).
VECTORS = [bytes.fromhex(h) for h in (
    "464301010000002a00000000000003e96b36ec8000000000e5f464adbcd410d8fba87eb6a924e63b0102030405060708",
    "464301010000002a00000000000003ea6b36ec800003000029cb10add8d1dd099944c505b2c053c60000000000000007",
    "4643010100000007ffffffffffffffffffffffffffff000031b35e5130e0d5465fe207222797f1980000000000000001",
)]


def main():
    out = sys.argv[1]
    rf.random.seed(1)
    os.makedirs(out, exist_ok=True)
    n = rf.Net("02:00:00:00:00:02", "10.0.0.2", "02:fe:00:00:00:01", "10.0.0.9")
    seeds = []

    def add(frame, flags=0):
        seeds.append(bytes([flags]) + frame)

    # valid claims and status requests for every sale kind
    for sale in (SALE_OPEN, SALE_PENDING, SALE_STOPPED, SALE_NO_LEASE, SALE_UNKNOWN):
        for user in (1, 2, 0xFFFFFFFFFFFFFFFF):
            add(rf.claim_frame(n, rf.fcp(1, sale, user, rid=user)))
        add(rf.claim_frame(n, rf.fcp(2, sale, 7, rid=9)))
    add(rf.claim_frame(n, rf.fcp(2, SALE_TOKEN, 7, rid=9)))
    for v in VECTORS:
        add(rf.claim_frame(n, v))
        add(rf.claim_frame(n, v, tags=[(0x8100, 5)]), WORKER1)
    for at in (AT_HOUR, AT_HOUR_LESS_1, AT_EXPIRY):
        for v in VECTORS[:2]:
            add(rf.claim_frame(n, v), at)
        for sale in (SALE_OPEN, SALE_PENDING):
            add(rf.claim_frame(n, rf.fcp(1, sale, 77, rid=at)), at)
            add(rf.claim_frame(n, rf.fcp(2, sale, 77, rid=at)), at | WORKER1)
    bad_token = VECTORS[0][:30] + bytes([VECTORS[0][30] ^ 1]) + VECTORS[0][31:]
    add(rf.claim_frame(n, bad_token))
    add(rf.claim_frame(n, rf.fcp(1, SALE_TOKEN, 1001, expiry=1, rid=3)))  # expired
    add(rf.claim_frame(n, rf.fcp(1, SALE_TOKEN, 1001, expiry=0xFFFFFFFF, node=9, rid=3)))
    # the answered kinds with their variants
    add(rf.claim_frame(n, rf.fcp(1, SALE_OPEN, 5), tags=[(0x8100, 0x0064)]))
    add(rf.claim_frame(n, rf.fcp(1, SALE_OPEN, 6), options=b"\x01" * 4))
    add(rf.claim_frame(n, rf.fcp(1, SALE_OPEN, 7), options=b"\x01" * 39 + b"\x00"), WORKER1)
    add(rf.claim_frame(n, rf.fcp(1, SALE_OPEN, 8), udp_cksum="zero"))
    add(rf.claim_frame(n, rf.fcp(1, SALE_OPEN, 9), trailer=b"\0" * 18))
    add(rf.arp_frame(n))
    add(rf.arp_frame(n, tags=[(0x8100, 3)]))
    add(rf.arp_frame(n, sip=b"\0" * 4))
    add(rf.icmp_frame(n))
    add(rf.icmp_frame(n, options=b"\x01" * 8))
    add(rf.icmp_frame(n, body=rf.icmp(data=b"x" * 301)))
    # frames whose checksums fuzz_rx repairs: mutations behind the checksums stay reachable
    add(rf.claim_frame(n, rf.fcp(1, SALE_OPEN, 11), ip_cksum=0, udp_cksum=0), FIX_IP | FIX_L4)
    add(rf.claim_frame(n, rf.fcp(2, SALE_OPEN, 12), ip_cksum=0, udp_cksum=0), FIX_IP | ZERO_UDP)
    add(rf.icmp_frame(n, body=rf.icmp(cksum=0)), FIX_IP | FIX_L4)
    # every broken frame of the malformed table (each drop kind), a few with repairs on
    ids = rf.Ids(SALE_OPEN, SALE_OPEN, 100)
    for i, c in enumerate(rf.cases(n, ids)):
        for j, f in enumerate(c.frames):
            add(f, (FIX_IP | FIX_L4) if (i + j) % 5 == 4 else 0)
    add(b"")
    add(b"\xff" * 13)

    for s in seeds:
        name = hashlib.sha1(s).hexdigest()
        with open(os.path.join(out, name), "wb") as f:
            f.write(s)
    print("%d seeds in %s" % (len(seeds), out))


if __name__ == "__main__":
    main()
