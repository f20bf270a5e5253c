#!/usr/bin/env python3
"""Raw Ethernet frames for flashsale's hostile-input tests (Python 3 stdlib only).

- builders: Ethernet (with 802.1Q tags), ARP, IPv4 (options, any length/flags), UDP, ICMP, FCP/1;
- the malformed-case table (``cases()``): every drop rule of PROTOCOL.md and the answered kinds
  next to them, each with the counter it must move; tests/fuzz/make_corpus.py seeds from it too;
- ``run``: sends each case through a tap interface with an AF_PACKET socket, reads the replies
  with the same socket and the counters over the dataplane's telemetry socket; then a storm of
  every malformed kind, after which every sale and every non-drop counter must be as before.
  Prints TAP. tests/integration/malformed.sh starts the dataplane and calls it.
"""

import argparse
import glob
import json
import os
import random
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
FCP_PORT = 7777


# ----------------------------------------------------------------------------- builders


def csum(data):
    """RFC 1071 Internet checksum of @data (the value to put in the field)."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(text):
    return bytes(int(x, 16) for x in text.split(":"))


def ip4(text):
    return socket.inet_aton(text)


class Net:
    """Addresses of one test: the dataplane (ours) and the peer the frames claim to come from."""

    def __init__(self, our_mac, our_ip, peer_mac, peer_ip, port=FCP_PORT, peer_port=40000):
        self.our_mac, self.our_ip = mac(our_mac), ip4(our_ip)
        self.peer_mac, self.peer_ip = mac(peer_mac), ip4(peer_ip)
        self.port, self.peer_port = port, peer_port


def fcp(type_=1, sale=1, user=1, expiry=0, node=0, flags=0, token=b"\0" * 16, rid=1,
        magic=0x4643, version=1):
    """A 48-byte FCP/1 request (fields as on the wire, any value)."""
    return struct.pack("!HBBIQIHH16sQ", magic, version, type_, sale, user, expiry, node, flags,
                       token, rid)


def bad16(right, x):
    """A 16-bit checksum field that is wrong: @right xor @x, never @right, its one's complement
    twin (0 <-> 0xffff) or 0 (an absent UDP checksum)."""
    c = right ^ x
    if c in (right, 0, 0xFFFF) or {c, right} == {0, 0xFFFF}:
        c = right ^ 0x0202
    return c


def udp(src, dst, sport, dport, payload, length=None, cksum="ok"):
    """UDP datagram; @length overrides the length field; @cksum 'ok' (over the bytes the length
    field names, as a receiver checks it), 'zero', ('xor', X) for a wrong one, or an int."""
    ln = 8 + len(payload) if length is None else length
    data = struct.pack("!HHHH", sport, dport, ln & 0xFFFF, 0) + payload
    right = csum(src + dst + struct.pack("!BBH", 0, 17, ln & 0xFFFF) + data[:ln]) or 0xFFFF
    if cksum == "ok":
        c = right
    elif cksum == "zero":
        c = 0
    elif isinstance(cksum, tuple):
        c = bad16(right, cksum[1])
    else:
        c = cksum
    return data[:6] + struct.pack("!H", c) + data[8:]


def ipv4(src, dst, proto, body, options=b"", ihl=None, tot=None, frag=0x4000, version=4,
         cksum="ok", ttl=64, ident=0):
    """IPv4 packet: @options padded by the caller to 4 bytes; @ihl/@tot override; @cksum 'ok',
    ('xor', X) for a wrong one, or an int."""
    hl = 5 + len(options) // 4 if ihl is None else ihl
    total = 20 + len(options) + len(body) if tot is None else tot
    hdr = struct.pack("!BBHHHBBH4s4s", (version << 4) | (hl & 0xF), 0, total & 0xFFFF, ident,
                      frag, ttl, proto, 0, src, dst) + options
    c = csum(hdr)
    if isinstance(cksum, tuple):
        c = bad16(c, cksum[1])
    elif cksum != "ok":
        c = cksum
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + body


def eth(dst, src, ethertype, body, tags=()):
    """Ethernet II frame; @tags: (tpid, tci) pairs, outermost first."""
    out = dst + src
    for tpid, tci in tags:
        out += struct.pack("!HH", tpid, tci)
    return out + struct.pack("!H", ethertype) + body


def arp(op, sha, sip, tha, tip, hrd=1, pro=0x0800, hln=6, pln=4):
    return struct.pack("!HHBBH6s4s6s4s", hrd, pro, hln, pln, op, sha, sip, tha, tip)


def icmp(type_=8, code=0, ident=0x1234, seq=1, data=b"flashsale-ping!!", cksum="ok"):
    hdr = struct.pack("!BBHHH", type_, code, 0, ident, seq) + data
    c = csum(hdr)
    if isinstance(cksum, tuple):
        c = bad16(c, cksum[1])
    elif cksum != "ok":
        c = cksum
    return hdr[:2] + struct.pack("!H", c) + hdr[4:]


def claim_frame(n, payload=None, tags=(), options=b"", src_ip=None, dst_ip=None, src_mac=None,
                dst_mac=None, sport=None, dport=None, udp_len=None, udp_cksum="ok", ihl=None,
                tot=None, frag=0x4000, version=4, ip_cksum="ok", proto=17, trailer=b""):
    """An FCP request frame from the peer to us, every layer overridable."""
    src = n.peer_ip if src_ip is None else src_ip
    dst = n.our_ip if dst_ip is None else dst_ip
    pl = fcp() if payload is None else payload
    u = udp(src, dst, n.peer_port if sport is None else sport, n.port if dport is None else dport,
            pl, length=udp_len, cksum=udp_cksum)
    p = ipv4(src, dst, proto, u, options=options, ihl=ihl, tot=tot, frag=frag, version=version,
             cksum=ip_cksum)
    return eth(n.our_mac if dst_mac is None else dst_mac, n.peer_mac if src_mac is None else src_mac,
               0x0800, p + trailer, tags)


def arp_frame(n, op=1, tip=None, sip=None, sha=None, dst=b"\xff" * 6, src=None, tags=(), **kw):
    s = n.peer_mac if sha is None else sha
    body = arp(op, s, n.peer_ip if sip is None else sip, b"\0" * 6,
               n.our_ip if tip is None else tip, **kw)
    return eth(dst, n.peer_mac if src is None else src, 0x0806, body, tags)


def icmp_frame(n, body=None, options=b"", src_ip=None, src_mac=None, tags=(), tot=None):
    src = n.peer_ip if src_ip is None else src_ip
    p = ipv4(src, n.our_ip, 1, icmp() if body is None else body, options=options, tot=tot)
    return eth(n.our_mac, n.peer_mac if src_mac is None else src_mac, 0x0800, p, tags)



def write_pcap(path, frames):
    """Write @frames (bytes, Ethernet) to a classic pcap file, timestamps 0, 1 us, 2 us, ..."""
    with open(path, "wb") as f:
        # global header: magic, v2.4, UTC, accuracy, snaplen, LINKTYPE_ETHERNET
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", 0, i, len(frame), len(frame)))
            f.write(frame)

# ----------------------------------------------------------------------------- the case table


class Case:
    """Frames of one kind and what they must do: @expect is a drop counter name ('drop_...'),
    or 'fcp' / 'arp' / 'icmp' (each frame answered; @check(request, reply) -> error or None)."""

    def __init__(self, group, name, frames, expect, check=None):
        self.group, self.name, self.frames, self.expect, self.check = (
            group, name, list(frames), expect, check)


class Ids:
    """Sale ids and fresh user/request ids for the cases."""

    def __init__(self, open_sale=1, status_sale=1, base_user=1):
        self.open_sale, self.status_sale = open_sale, status_sale
        self.user = base_user

    def next_user(self):
        self.user += 1
        return self.user


def _vlan_of(frame):
    return struct.unpack("!H", frame[14:16])[0] if frame[12:14] == b"\x81\x00" else None


def _l3(frame):
    return 18 if frame[12:14] == b"\x81\x00" else 14


def check_fcp_reply(req, rep):
    """A reply to @req: same VLAN tag, IHL 5, ports swapped, checksums right, ids echoed."""
    l3 = _l3(req)
    if _vlan_of(req) != _vlan_of(rep):
        return "VLAN tag %s, request had %s" % (_vlan_of(rep), _vlan_of(req))
    if rep[12 + (l3 - 14): l3] != b"\x08\x00":
        return "not IPv4"
    ip = rep[l3:]
    if ip[0] != 0x45 or csum(ip[:20]) != 0:
        return "IPv4 header (IHL 5, checksum) wrong"
    tot = struct.unpack("!H", ip[2:4])[0]
    if tot != 76 or len(rep) < l3 + 76:
        return "IP total length %d, frame %d" % (tot, len(rep))
    u = ip[20:76]
    c = struct.unpack("!H", u[6:8])[0]
    if c == 0 or csum(ip[12:20] + struct.pack("!BBH", 0, 17, 56) + u) != 0:
        return "UDP checksum wrong"
    rl3 = _l3(req)
    rihl = (req[rl3] & 0xF) * 4
    rq = req[rl3 + rihl:]
    if u[0:2] != rq[2:4] or u[2:4] != rq[0:2]:
        return "ports not swapped"
    if ip[12:16] != req[rl3 + 16: rl3 + 20] or ip[16:20] != req[rl3 + 12: rl3 + 16]:
        return "addresses not swapped"
    pl, rp = u[8:], rq[8:56]
    if pl[0:3] != b"FC\x01" or pl[3] != (rp[3] | 0x80) or pl[4:16] != rp[4:16] or \
            pl[40:48] != rp[40:48]:
        return "reply payload does not echo the request"
    if pl[16] >= 10:
        return "status %d" % pl[16]
    return None


def check_arp_reply(req, rep):
    l3 = _l3(req)
    if _vlan_of(req) != _vlan_of(rep):
        return "VLAN tag not kept"
    a = rep[l3:l3 + 28]
    if len(a) < 28 or struct.unpack("!H", a[6:8])[0] != 2:
        return "not an ARP reply"
    if a[24:28] != req[l3 + 14: l3 + 18] or a[14:18] != req[l3 + 24: l3 + 28]:
        return "ARP addresses not swapped"
    return None


def check_icmp_reply(req, rep):
    l3 = _l3(req)
    ip = rep[l3:]
    if ip[0] != 0x45 or csum(ip[:20]) != 0 or ip[9] != 1:
        return "IPv4 header wrong"
    tot = struct.unpack("!H", ip[2:4])[0]
    if ip[20] != 0 or csum(ip[20:tot]) != 0:
        return "not a valid echo reply"
    rihl = (req[l3] & 0xF) * 4
    if ip[24:tot] != req[l3 + rihl + 4: l3 + rihl + 4 + tot - 24]:
        return "echo data differs"
    return None


def cases(n, ids):
    """The table: a list of Case. @n: Net, @ids: Ids (user ids drawn as the table is built)."""
    C = []
    op = ids.open_sale

    def claim(**kw):
        return fcp(1, op, ids.next_user(), rid=random.getrandbits(64), **kw)

    def status():
        return fcp(2, ids.status_sale, ids.next_user(), rid=random.getrandbits(64))

    nop4 = b"\x01\x01\x01\x01"
    rr = b"\x07\x07\x04" + b"\0" * 4 + b"\x00"  # record route, room for 1 address, then EOL
    ts40 = b"\x01" * 39 + b"\x00"  # 40 bytes of options: IHL 15

    # --- IPv4 options: legal, answered (the reply has none)
    C.append(Case("ip options", "IHL 6 (NOPs), claim", [
        claim_frame(n, claim(), options=nop4) for _ in range(3)], "fcp", check_fcp_reply))
    C.append(Case("ip options", "IHL 15 (40 bytes of options), claim", [
        claim_frame(n, claim(), options=ts40) for _ in range(3)], "fcp", check_fcp_reply))
    C.append(Case("ip options", "record route, sale status", [
        claim_frame(n, status(), options=rr) for _ in range(3)], "fcp", check_fcp_reply))
    C.append(Case("ip options", "ICMP echo with options", [
        icmp_frame(n, options=nop4) for _ in range(3)], "icmp", check_icmp_reply))

    # --- plain answered kinds
    C.append(Case("answered", "claim, UDP checksum right", [
        claim_frame(n, claim()) for _ in range(3)], "fcp", check_fcp_reply))
    C.append(Case("checksums", "claim, UDP checksum absent (0): answered", [
        claim_frame(n, claim(), udp_cksum="zero") for _ in range(3)], "fcp", check_fcp_reply))
    C.append(Case("answered", "sale status", [
        claim_frame(n, status()) for _ in range(3)], "fcp", check_fcp_reply))
    C.append(Case("answered", "ARP request for our address (broadcast)", [
        arp_frame(n) for _ in range(3)], "arp", check_arp_reply))
    C.append(Case("answered", "ARP probe (sender 0.0.0.0)", [
        arp_frame(n, sip=b"\0" * 4) for _ in range(2)], "arp", check_arp_reply))
    C.append(Case("answered", "ICMP echo request", [
        icmp_frame(n) for _ in range(3)], "icmp", check_icmp_reply))
    C.append(Case("answered", "claim with DF clear, not a fragment", [
        claim_frame(n, claim(), frag=0) for _ in range(2)], "fcp", check_fcp_reply))

    # --- lengths that disagree
    C.append(Case("lengths", "frame longer than the IP total length (padding): answered", [
        claim_frame(n, claim(), trailer=b"\xee" * 20) for _ in range(3)], "fcp", check_fcp_reply))
    pl = claim()
    u = udp(n.peer_ip, n.our_ip, n.peer_port, n.port, pl) + b"\xee" * 8  # IP payload > UDP length
    C.append(Case("lengths", "IP payload longer than the UDP length: answered", [
        eth(n.our_mac, n.peer_mac, 0x0800, ipv4(n.peer_ip, n.our_ip, 17, u))], "fcp",
        check_fcp_reply))
    C.append(Case("lengths", "IP total length beyond the frame", [
        claim_frame(n, claim(), tot=77), claim_frame(n, claim(), tot=1500),
        claim_frame(n, claim(), tot=0xFFFF)], "drop_ip_totlen"))
    C.append(Case("lengths", "IP total length below the header", [
        claim_frame(n, claim(), tot=19), claim_frame(n, claim(), tot=0),
        claim_frame(n, claim(), options=nop4, tot=22)], "drop_ip_totlen"))
    C.append(Case("lengths", "IP payload shorter than a UDP header", [
        claim_frame(n, claim(), tot=20), claim_frame(n, claim(), tot=27)], "drop_truncated"))
    C.append(Case("lengths", "UDP length below 8", [
        claim_frame(n, claim(), udp_len=l, udp_cksum="zero") for l in (0, 1, 7)], "drop_udp_len"))
    C.append(Case("lengths", "UDP length beyond the IP payload", [
        claim_frame(n, claim(), udp_len=l, udp_cksum="zero") for l in (57, 64, 0xFFFF)],
        "drop_udp_len"))
    C.append(Case("lengths", "UDP length shorter than the datagram: payload not 48", [
        claim_frame(n, claim(), udp_len=l) for l in (8, 40, 55)], "drop_fcp_len"))

    # --- fragments carrying what looks like a claim
    C.append(Case("fragments", "first fragment (MF set, offset 0)", [
        claim_frame(n, claim(), frag=f) for f in (0x2000, 0x2000, 0x6000)], "drop_ip_fragment"))
    C.append(Case("fragments", "later fragments (offset > 0, MF set or clear)", [
        claim_frame(n, claim(), frag=f) for f in (0x0001, 0x2003, 0x1FFF, 0x0006)],
        "drop_ip_fragment"))

    # --- VLAN tags
    C.append(Case("vlan", "one 802.1Q tag, claim: answered with the tag", [
        claim_frame(n, claim(), tags=[(0x8100, t)]) for t in (0x0064, 0xE123, 0x0FFF)], "fcp",
        check_fcp_reply))
    C.append(Case("vlan", "priority tag (VID 0), sale status: answered with the tag", [
        claim_frame(n, status(), tags=[(0x8100, 0x6000)]) for _ in range(2)], "fcp",
        check_fcp_reply))
    C.append(Case("vlan", "one 802.1Q tag, ARP request: answered with the tag", [
        arp_frame(n, tags=[(0x8100, 0x0064)]) for _ in range(2)], "arp", check_arp_reply))
    C.append(Case("vlan", "stacked tags (8100/8100, 88a8/8100, 9100/8100, 8100/88a8, 88a8 alone)", [
        claim_frame(n, claim(), tags=t) for t in (
            [(0x8100, 1), (0x8100, 2)], [(0x88A8, 1), (0x8100, 2)], [(0x9100, 1), (0x8100, 2)],
            [(0x8100, 1), (0x88A8, 2)], [(0x88A8, 5)])], "drop_vlan_stacked"))
    C.append(Case("vlan", "tag cut off (16 and 17 bytes)", [
        claim_frame(n, claim(), tags=[(0x8100, 1)])[:l] for l in (16, 17)], "drop_truncated"))

    # --- frames cut anywhere (the Ethernet header itself is always whole on a tap)
    full = claim_frame(n, claim())
    C.append(Case("cut", "claim cut inside the IPv4 header (15..33 bytes)", [
        full[:l] for l in range(15, 34)], "drop_truncated"))
    C.append(Case("cut", "claim cut after the IPv4 header (34..89 bytes)", [
        full[:l] for l in range(34, len(full))], "drop_ip_totlen"))
    fullv = claim_frame(n, claim(), tags=[(0x8100, 7)])
    C.append(Case("cut", "tagged claim cut inside the IPv4 header (19..37 bytes)", [
        fullv[:l] for l in range(19, 38, 3)], "drop_truncated"))
    C.append(Case("cut", "tagged claim cut after the IPv4 header (38..93 bytes)", [
        fullv[:l] for l in range(38, len(fullv), 5)], "drop_ip_totlen"))
    fo = claim_frame(n, claim(), options=ts40)
    C.append(Case("cut", "claim with 40 bytes of options cut inside them", [
        fo[:l] for l in (35, 50, 73)], "drop_truncated"))
    a = arp_frame(n)
    C.append(Case("cut", "ARP cut (14..41 bytes)", [a[:l] for l in range(14, 42, 3)],
                  "drop_truncated"))

    # --- payload sizes other than 48
    C.append(Case("payload", "UDP payload of 0, 1, 47, 49, 64, 1000 bytes", [
        claim_frame(n, (claim() * 21)[:s]) for s in (0, 1, 47, 49, 64, 1000)], "drop_fcp_len"))

    # --- FCP header fields out of range
    u = ids.next_user
    C.append(Case("fcp", "wrong magic", [
        claim_frame(n, fcp(1, op, u(), magic=m)) for m in (0, 0x4344, 0x4346, 0xFFFF)],
        "drop_fcp_magic"))
    C.append(Case("fcp", "unknown version (0, 2, 255)", [
        claim_frame(n, fcp(1, op, u(), version=v)) for v in (0, 2, 255)], "drop_fcp_version"))
    C.append(Case("fcp", "unknown type (0, 3, 0x81, 0x82, 0xff)", [
        claim_frame(n, fcp(t, op, u())) for t in (0, 3, 0x81, 0x82, 0xFF)], "drop_fcp_type"))
    C.append(Case("fcp", "non-zero flags", [
        claim_frame(n, fcp(1, op, u(), flags=f)) for f in (1, 0x8000, 0xFFFF)], "drop_fcp_flags"))

    # --- sources that cannot be answered
    C.append(Case("source", "IPv4 source 0.0.0.0, 255.255.255.255, 224.0.0.1, 239.1.2.3, ours", [
        claim_frame(n, claim(), src_ip=ip4(s)) for s in (
            "0.0.0.0", "255.255.255.255", "224.0.0.1", "239.1.2.3")] +
        [claim_frame(n, claim(), src_ip=n.our_ip)], "drop_src_unanswerable"))
    C.append(Case("source", "multicast or broadcast source MAC", [
        claim_frame(n, claim(), src_mac=m) for m in (b"\xff" * 6, b"\x01\x00\x5e\x00\x00\x01")],
        "drop_src_unanswerable"))
    C.append(Case("source", "UDP source port 0", [
        claim_frame(n, claim(), sport=0) for _ in range(2)], "drop_src_unanswerable"))
    C.append(Case("source", "ICMP echo from a broadcast or our own address", [
        icmp_frame(n, src_ip=ip4("255.255.255.255")), icmp_frame(n, src_ip=n.our_ip)],
        "drop_src_unanswerable"))
    C.append(Case("source", "ARP request from a multicast sender or our own address", [
        arp_frame(n, sha=b"\x01\x00\x5e\x00\x00\x01"), arp_frame(n, sip=n.our_ip)],
        "drop_src_unanswerable"))

    # --- checksums wrong
    C.append(Case("checksums", "UDP checksum wrong (non-zero)", [
        claim_frame(n, claim(), udp_cksum=("xor", x)) for x in (0x0101, 0x8000, 0xFFFF)],
        "drop_udp_cksum"))
    C.append(Case("checksums", "IPv4 header checksum wrong", [
        claim_frame(n, claim(), ip_cksum=("xor", x)) for x in (0x0001, 0x0100, 0xFFFF)],
        "drop_ip_cksum"))
    C.append(Case("checksums", "ICMP echo with a wrong checksum", [
        icmp_frame(n, body=icmp(cksum=("xor", x))) for x in (0x0001, 0x1234)], "drop_icmp"))

    # --- other L2/L3/L4 rules
    C.append(Case("l2", "ethertypes neither IPv4 nor ARP (IPv6, 0, LLC length, 0x88cc)", [
        eth(n.our_mac, n.peer_mac, t, full[14:]) for t in (0x86DD, 0x0000, 0x002E, 0x88CC)],
        "drop_not_ipv4_or_arp"))
    C.append(Case("l2", "IPv4 to another or the broadcast MAC", [
        claim_frame(n, claim(), dst_mac=m) for m in (b"\x02\x00\x00\x00\x00\x99", b"\xff" * 6)],
        "drop_dst_mac"))
    C.append(Case("l3", "IPv4 to another address", [
        claim_frame(n, claim(), dst_ip=ip4(a)) for a in ("10.255.255.1", "255.255.255.255")],
        "drop_dst_ip"))
    C.append(Case("l3", "IP version 6 or 0 in an IPv4 ethertype", [
        claim_frame(n, claim(), version=v) for v in (6, 0)], "drop_ip_version"))
    C.append(Case("l3", "IHL 0 and 4", [claim_frame(n, claim(), ihl=h) for h in (0, 4)],
                  "drop_ip_ihl"))
    C.append(Case("l3", "IP protocols other than UDP and ICMP (TCP, 0, 255)", [
        claim_frame(n, claim(), proto=p) for p in (6, 0, 255)], "drop_ip_proto"))
    C.append(Case("l4", "ICMP other than an echo request (echo reply, timestamp, code 1, short)", [
        icmp_frame(n, body=icmp(type_=0)), icmp_frame(n, body=icmp(type_=13)),
        icmp_frame(n, body=icmp(code=1)), icmp_frame(n, body=b"\x08\x00\xf7\xff")],
        "drop_icmp"))
    C.append(Case("l4", "UDP to another port (7778, 53, 0)", [
        claim_frame(n, claim(), dport=p) for p in (7778, 53, 0)], "drop_udp_port"))
    C.append(Case("l2", "ARP not for us (other address, reply opcode, unicast to another MAC, "
                  "hardware type 6)", [
        arp_frame(n, tip=ip4("10.255.255.1")), arp_frame(n, op=2),
        arp_frame(n, dst=b"\x02\x00\x00\x00\x00\x99"), arp_frame(n, hrd=6)],
        "drop_arp_not_for_us"))
    return C


DROP_COUNTERS = [
    "drop_truncated", "drop_not_ipv4_or_arp", "drop_vlan_stacked", "drop_arp_not_for_us",
    "drop_dst_mac", "drop_dst_ip", "drop_ip_version", "drop_ip_ihl", "drop_ip_cksum",
    "drop_ip_totlen", "drop_ip_fragment", "drop_ip_proto", "drop_icmp", "drop_udp_len",
    "drop_udp_cksum", "drop_udp_port", "drop_src_unanswerable", "drop_fcp_len", "drop_fcp_magic",
    "drop_fcp_version", "drop_fcp_type", "drop_fcp_flags",
]


# ----------------------------------------------------------------------------- telemetry


class Telemetry:
    """DPDK's telemetry socket (v2): one JSON reply per command."""

    def __init__(self, prefix, runtime="/var/run/dpdk"):
        path = os.path.join(runtime, prefix, "dpdk_telemetry.v2")
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.s.settimeout(5)
        self.s.connect(path)
        info = json.loads(self.s.recv(4096).decode())
        self.max = int(info.get("max_output_len", 16384))

    def cmd(self, c):
        self.s.send(c.encode())
        reply = json.loads(self.s.recv(self.max).decode())
        return reply[c.split(",", 1)[0]]


# ----------------------------------------------------------------------------- the runner


class Tap:
    """One AF_PACKET socket on the kernel side of the dataplane's tap: writes frames, reads the
    frames the dataplane sends (source MAC = its port's)."""

    def __init__(self, iface, our_mac):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        # the kernel takes a received 802.1Q tag out of the frame: get it back from the auxdata
        self.s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        self.s.bind((iface, 0))
        self.our_mac = our_mac

    def send(self, frames, pace=64):
        for i, f in enumerate(frames):
            self.s.send(f)
            if pace and i % pace == pace - 1:
                time.sleep(0.002)

    def recv(self, timeout):
        """Frames from the dataplane until @timeout seconds pass with nothing."""
        out = []
        while True:
            r, _, _ = select.select([self.s], [], [], timeout)
            if not r:
                return out
            data, anc, _, addr = self.s.recvmsg(65536, socket.CMSG_SPACE(32))
            if addr[2] == PACKET_OUTGOING or data[6:12] != self.our_mac:
                continue
            for level, typ, aux in anc:
                if level != SOL_PACKET or typ != PACKET_AUXDATA or len(aux) < 20:
                    continue
                status, = struct.unpack_from("I", aux, 0)
                tci, tpid = struct.unpack_from("HH", aux, 16)
                if status & TP_STATUS_VLAN_VALID:
                    if not status & TP_STATUS_VLAN_TPID_VALID:
                        tpid = 0x8100
                    data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
            out.append(data)

    def drain(self):
        self.recv(0)


class TapOut:
    """TAP output."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, good, desc, diag=""):
        self.n += 1
        print("%s %d - %s" % ("ok" if good else "not ok", self.n, desc), flush=True)
        if not good:
            self.failed += 1
            for line in diag.splitlines():
                print("# " + line, flush=True)


def wait_rx(tel, before, n, secs=3.0):
    """Stats once the dataplane has counted @n more received frames (or after @secs)."""
    deadline = time.time() + secs
    while True:
        st = tel.cmd("/flashsale/stats")
        if st["rx_pkts"] - before["rx_pkts"] >= n or time.time() > deadline:
            return st
        time.sleep(0.01)


def delta(a, b):
    return {k: b[k] - a[k] for k in b if isinstance(b.get(k), int) and k in a}


def match_replies(frames, replies, expect):
    """Pair each request with its reply; error text or None."""
    if len(replies) != len(frames):
        return "%d replies to %d frames" % (len(replies), len(frames))
    if expect != "fcp":
        return None
    for req, rep in zip(frames, replies):
        l3 = _l3(req)
        if req[l3 + (req[l3] & 0xF) * 4 + 48:][:8] != rep[_l3(rep) + 68:][:8]:
            return "replies out of order or request_id not echoed"
    return None


def run_case(tap, tel, t, case):
    before = tel.cmd("/flashsale/stats")
    tap.drain()
    tap.send(case.frames)
    after = wait_rx(tel, before, len(case.frames))
    replies = tap.recv(0.5 if case.expect in ("fcp", "arp", "icmp") else 0.05)
    if case.expect in ("fcp", "arp", "icmp"):
        # replies can trail the counters by a burst: wait for the rest
        deadline = time.time() + 2
        while len(replies) < len(case.frames) and time.time() < deadline:
            replies += tap.recv(0.2)
        after = tel.cmd("/flashsale/stats")
    d = delta(before, after)
    n = len(case.frames)
    errs = []
    if d["rx_pkts"] != n:
        errs.append("rx_pkts +%d, sent %d" % (d["rx_pkts"], n))
    if case.expect.startswith("drop_"):
        if replies:
            errs.append("%d replies to frames that must get none" % len(replies))
        if d[case.expect] != n:
            errs.append("%s +%d, want +%d" % (case.expect, d[case.expect], n))
        others = {k: v for k, v in d.items() if k.startswith("drop_") and k != case.expect and v}
        if others:
            errs.append("other drop counters moved: %s" % others)
        if d["drops"] != n or d["tx_pkts"] != 0:
            errs.append("drops +%d, tx_pkts +%d" % (d["drops"], d["tx_pkts"]))
        what = "no reply, %s +%d" % (case.expect, n)
    else:
        e = match_replies(case.frames, replies, case.expect)
        if e:
            errs.append(e)
        else:
            for req, rep in zip(case.frames, replies):
                e = case.check(req, rep) if case.check else None
                if e:
                    errs.append(e)
                    break
        want = {"fcp": ("claims", "status_requests"), "arp": ("arp_replies",),
                "icmp": ("icmp_replies",)}[case.expect]
        if sum(d[k] for k in want) != n or d["drops"] != 0 or d["tx_pkts"] != n:
            errs.append("counters: %s" % {k: v for k, v in d.items() if v})
        what = "%d %s replies" % (len(replies), case.expect.upper())
    t.ok(not errs, "%s: %s (%d frames): %s" % (case.group, case.name, n, what), "\n".join(errs))


def sale_states(tel, sales):
    return {s: tel.cmd("/flashsale/sale/status,%d" % s) for s in sales}


def journal_records(state_dir, control=False):
    """(type, sale, bytes, offset) of each record in the worker journals (control: journal 255's),
    segment by segment, up to each segment's first empty slot (journal.h's layout)."""
    for path in sorted(glob.glob(os.path.join(state_dir, "journal-*.fsj"))):
        if os.path.basename(path).startswith("journal-255-") != control:
            continue
        with open(path, "rb") as f:
            data = f.read()
        for off in range(0, len(data) - 63, 64):
            magic, = struct.unpack_from("<I", data, off)
            if magic == 0:
                break
            if magic == 0x314A5346:
                yield data[off + 22], struct.unpack_from("<I", data, off + 16)[0], data, off


def journal_orders(state_dir):
    """ORDER records in the worker journals (the winners as recorded): (sale, user, order) set."""
    out = set()
    for rtype, sale, data, off in journal_records(state_dir):
        if rtype == 1:
            order, user = struct.unpack_from("<QQ", data, off + 32)
            out.add((sale, user, order))
    return out


def send_valid_claims(tap, tel, n, sale, users):
    """Claims (one each) that must be answered; returns {user: reply payload}."""
    frames = [claim_frame(n, fcp(1, sale, u, rid=u)) for u in users]
    before = tel.cmd("/flashsale/stats")
    tap.drain()
    tap.send(frames)
    wait_rx(tel, before, len(frames))
    reps = []
    deadline = time.time() + 3
    while len(reps) < len(frames) and time.time() < deadline:
        reps += tap.recv(0.2)
    out = {}
    for r in reps:
        pl = r[_l3(r) + 28:_l3(r) + 76]
        out[struct.unpack("!Q", pl[8:16])[0]] = pl
    return out


def storm(tap, tel, t, n, ids, args, sales):
    """Item 6 of the hostile-input issue: thousands of malformed frames change nothing but drops."""
    # the sold-out sale is sold out by a real claim; the open sale has winners
    winners = send_valid_claims(tap, tel, n, args.sale_open, range(900001, 900011))
    winners.update(send_valid_claims(tap, tel, n, args.sale_soldout, [900101, 900102]))
    time.sleep(0.2)
    st0 = sale_states(tel, sales)
    c0 = tel.cmd("/flashsale/stats")
    j0 = journal_orders(args.state_dir)

    # every malformed kind, each round aimed at the next sale (fresh users, request ids), so a
    # frame let through would change a sale
    frames, want = [], {}
    rounds = kinds = 0
    while len(frames) < args.storm:
        ids.open_sale = ids.status_sale = sales[rounds % len(sales)]
        rounds += 1
        drop_cases = [c for c in cases(n, ids) if c.expect.startswith("drop_")]
        kinds = len(drop_cases)
        for c in drop_cases:
            frames += c.frames
            want[c.expect] = want.get(c.expect, 0) + len(c.frames)
    tap.drain()
    t_send = time.time()
    tap.send(frames)
    c1 = wait_rx(tel, c0, len(frames), secs=30)
    leaks = tap.recv(0.3)
    time.sleep(0.2)
    c1 = tel.cmd("/flashsale/stats")
    st1 = sale_states(tel, sales)
    j1 = journal_orders(args.state_dir)
    d = delta(c0, c1)
    secs = time.time() - t_send

    t.ok(d["rx_pkts"] == len(frames), "storm: %d malformed frames of %d kinds (%d rounds) reached "
         "the dataplane in %.1f s" % (len(frames), kinds, rounds, secs),
         "rx_pkts +%d" % d["rx_pkts"])
    t.ok(not leaks, "storm: no frame answered", "%d replies" % len(leaks))
    bad = {k: (d.get(k), v) for k, v in want.items() if d.get(k) != v}
    t.ok(not bad and d["drops"] == len(frames),
         "storm: each drop counter went up by its frames, drops +%d" % d["drops"],
         "counter: (got, want) %s" % bad)
    for s in sales:
        a, b = st0[s], st1[s]
        diff = {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
        t.ok(not diff, "storm: sale %d unchanged (sold %s, remaining %s, state %s)" % (
            s, b.get("sold"), b.get("remaining"), b.get("state")), "changed: %s" % diff)
    # what receiving and dropping a frame moves by itself: the drop counters, rx_pkts, the worker's
    # busy time and the clock
    skip = set(DROP_COUNTERS) | {"drops", "rx_pkts", "rx_bursts", "busy_cycles", "uptime_ms",
                                 "tsc"}
    moved = {k: v for k, v in d.items() if k not in skip and v}
    t.ok(not moved, "storm: every other counter unchanged (%d counters)" % (
        len([k for k in c0 if k not in skip])), "moved: %s" % moved)
    t.ok(j0 == j1 and len(j0) >= 11, "storm: journal holds the same %d orders" % len(j1),
         "before %d, after %d" % (len(j0), len(j1)))
    # winners: each still holds its order (ALREADY_WON with the same order id)
    again = send_valid_claims(tap, tel, n, args.sale_open, range(900001, 900011))
    again.update(send_valid_claims(tap, tel, n, args.sale_soldout, [900101]))
    wrong = []
    for u, pl in again.items():
        first = winners.get(u)
        if first is None or pl[16] != 1 or pl[24:32] != first[24:32]:
            wrong.append(u)
    t.ok(len(again) == 11 and not wrong, "storm: the 11 winners still hold their orders "
         "(ALREADY_WON, same order id)", "replies %d, wrong %s" % (len(again), wrong))


STORM_TESTS = 6  # storm() prints these, plus one per sale


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iface", required=True)
    ap.add_argument("--prefix", required=True, help="the dataplane's --file-prefix")
    ap.add_argument("--our-mac", required=True)
    ap.add_argument("--our-ip", required=True)
    ap.add_argument("--peer-mac", default="02:fe:00:00:00:01")
    ap.add_argument("--peer-ip", required=True)
    ap.add_argument("--sale-open", type=int, required=True)
    ap.add_argument("--sale-soldout", type=int, required=True)
    ap.add_argument("--sales", required=True, help="every sale id, comma separated")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--storm", type=int, default=5000, help="frames in the storm, at least")
    args = ap.parse_args()

    random.seed(7)
    n = Net(args.our_mac, args.our_ip, args.peer_mac, args.peer_ip)
    ids = Ids(args.sale_open, args.sale_open, 1000)
    tel = Telemetry(args.prefix)
    tap = Tap(args.iface, n.our_mac)
    table = cases(n, ids)
    sales = [int(x) for x in args.sales.split(",")]
    t = TapOut()
    print("1..%d" % (len(table) + STORM_TESTS + len(sales)), flush=True)
    kinds = {c.expect for c in table}
    print("# table: %d cases, %d frames, %d drop counters, answered kinds %s" % (
        len(table), sum(len(c.frames) for c in table),
        len([k for k in kinds if k.startswith("drop_")]),
        sorted(k for k in kinds if not k.startswith("drop_"))), flush=True)
    missing = [k for k in DROP_COUNTERS if k not in kinds]
    if missing:
        print("# drop counters without a case: %s" % missing, flush=True)
    for c in table:
        run_case(tap, tel, t, c)
    ids.user = 2000000
    storm(tap, tel, t, n, ids, args, sales)
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
