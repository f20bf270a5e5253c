#!/usr/bin/env python3
"""How long a node of scripts/bench.sh's nodes scenario waited for its next lease once it ran dry.

Usage: bench-dry.py SALE STATE_DIR...   (one flashsale-dp state directory per node)

Reads each node's journals (dataplane/journal.h: segments journal-JJJ-SSSSSS.fsj of 64-byte
records, little-endian; a journal ends at the first record without the magic) and walks the
sale's LEASE records (the control journal: units leased to the node, time = when the dataplane
took them) and ORDER records (the workers' journals: time = won_at) in time order. The node runs
dry at the ORDER that sells its last leased unit; the gap is from there to its next LEASE. A dry
spell no lease ends (the sale sold out) is not a gap. Times are the node's own clock (ns).

Prints one line per node and one for all of them, key=value words:
  node=DIR leases=N orders=N gaps=N p50_ms=.. p90_ms=.. max_ms=.. dry_ms=.. (sum of the gaps)
"""
import glob
import os
import re
import struct
import sys

MAGIC = 0x314A5346  # "FSJ1"
REC = struct.Struct("<IIQIHBBQQ24x")  # magic crc seq sale node type journal time_ns body[0:8]
T_ORDER, T_LEASE = 1, 4


def journals(state):
    """{journal index: [segment paths in order]} of a state directory."""
    out = {}
    for path in glob.glob(os.path.join(state, "journal-*.fsj")):
        m = re.match(r"journal-(\d+)-(\d+)\.fsj$", os.path.basename(path))
        if m:
            out.setdefault(int(m.group(1)), []).append((int(m.group(2)), path))
    return {j: [p for _, p in sorted(v)] for j, v in out.items()}


def events(state, sale):
    """The sale's (time_ns, units) events of one node: a LEASE +units, an ORDER -1."""
    ev = []
    for segs in journals(state).values():
        for path in segs:
            with open(path, "rb") as f:
                data = f.read()
            ended = False
            for magic, _, _, sid, _, typ, _, t, body in REC.iter_unpack(data):
                if magic != MAGIC:
                    ended = True
                    break
                if sid != sale:
                    continue
                if typ == T_LEASE and body > 0:
                    ev.append((t, 0, body))
                elif typ == T_ORDER:
                    ev.append((t, 1, -1))
            if ended:
                break
    ev.sort()  # a lease and an order of the same ns: the lease first
    return ev


def gaps(ev):
    """(leases, orders, [gap ns]) of one node's sorted events."""
    leased = sold = leases = 0
    dry_at = None
    out = []
    for t, _, units in ev:
        if units > 0:
            leases += 1
            leased += units
            if dry_at is not None:
                out.append(t - dry_at)
                dry_at = None
        else:
            sold += 1
            if sold >= leased:
                dry_at = t
    return leases, sold, out


def line(name, leases, orders, g):
    g = sorted(g)

    def q(p):
        return "%.1f" % (g[min(len(g) - 1, int(p * len(g)))] / 1e6) if g else "-"

    return "node=%s leases=%d orders=%d gaps=%d p50_ms=%s p90_ms=%s max_ms=%s dry_ms=%.1f" % (
        name, leases, orders, len(g), q(0.5), q(0.9), "%.1f" % (g[-1] / 1e6) if g else "-",
        sum(g) / 1e6)


def main():
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        sys.exit("usage: bench-dry.py SALE STATE_DIR...")
    sale = int(sys.argv[1])
    all_l = all_o = 0
    all_g = []
    for state in sys.argv[2:]:
        leases, orders, g = gaps(events(state, sale))
        print(line(state, leases, orders, g))
        all_l, all_o = all_l + leases, all_o + orders
        all_g += g
    print(line("all", all_l, all_o, all_g))


if __name__ == "__main__":
    main()
