#!/usr/bin/env python3
"""tshark with tools/wireshark/fcp.lua against docs/PROTOCOL.md, for tests/integration/capture.sh.

usage: fcp_dissect.py MODE --lua FCP.LUA --doc PROTOCOL.md --pcap FILE [--claims FILE]

  synth      write FILE: the doc's hex lines, a reply of every status value 0 to 11, malformed
             payloads and FCP on other ports (Ethernet/IPv4/UDP frames built by rawframes.py)
  doc        (on synth's FILE) every field of the doc's test vectors and worked example decoded
             as the doc's description lines and tables give it, nothing flagged
  statuses   (synth) every status named as the doc's table names it, 11 flagged reserved
  malformed  (synth) each malformed kind flagged with its expert info, and nothing else
  ports      (synth) the heuristic takes FCP on other ports, the preference fcp1.udp_port moves
             the port, --disable-heuristic turns the heuristic off
  capture    (a capture of flashclaim's claims) every request and reply decoded, each field
             equal to what flashclaim sent and printed, request and reply matched
  fields     (the same) tshark -T fields -e fcp1.status: the statuses flashclaim printed

--claims: one line per flashclaim run, "sale=S user=U type=claim|status request_id=R
[expiry=E node=N token=HEX] [vector=N] | <flashclaim's output line>" (vector: the request is the
doc's test vector N, byte for byte).
Every field is also compared with a decode of the UDP payload by the doc's layout tables (struct
below). Prints what it checked; exit 0 if everything holds, 1 with a line per mismatch.
"""

import argparse
import os
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawframes as rf  # noqa: E402

PORT = 7777
REQ_FIELDS = ("magic", "version", "type", "sale_id", "user_id", "token_expiry", "node_id",
              "flags", "token", "request_id")
REP_FIELDS = ("magic", "version", "type", "sale_id", "user_id", "status", "reserved", "node_id",
              "retry_after_ms", "order_id", "remaining", "hold_left_ms", "request_id")
EXPERTS = ("bad_length", "bad_magic", "bad_version", "bad_type", "flags_nonzero",
           "reserved_nonzero", "reserved_status")


# ----------------------------------------------------------------------------- the doc


def doc_sections(text):
    """{heading: body} of every '#...' heading of the markdown @text."""
    out, head, body = {}, None, []
    for line in text.splitlines():
        if line.startswith("#"):
            if head is not None:
                out[head] = body
            head, body = line.lstrip("#").strip(), []
        else:
            body.append(line)
    if head is not None:
        out[head] = body
    return out


def table_rows(lines):
    """The cells of each row of the first markdown table in @lines (header and rule skipped)."""
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")]
            for ln in lines if ln.startswith("|")]
    return rows[2:]


def hex_lines(lines):
    return [ln.strip() for ln in lines if re.fullmatch(r"[0-9a-f]{96}", ln.strip())]


def number(text):
    """'42', '0x0102', '2^64-1', '1798761600 (2027-...)' -> int, or None."""
    m = re.match(r"(\d+)\^(\d+)-1\b", text)
    if m:
        return int(m.group(1)) ** int(m.group(2)) - 1
    m = re.match(r"(0x[0-9a-fA-F]+|\d+)\b", text)
    return int(m.group(1), 0) if m else None


class Doc:
    """What PROTOCOL.md says: status names, test vectors and the worked example's tables."""

    def __init__(self, path):
        sec = doc_sections(open(path).read())
        self.status = {int(r[0]): r[1] for r in table_rows(sec["Status codes"])}
        # test vectors: a description line, then the request in hex
        self.vectors = []
        lines = [ln.strip() for ln in sec["Test vectors"] if ln.strip()]
        for i, ln in enumerate(lines):
            if re.fullmatch(r"[0-9a-f]{96}", ln):
                desc = dict(kv.strip().split(" ", 1) for kv in lines[i - 1].split(","))
                want = {"sale_id": desc["sale"], "user_id": desc["user"],
                        "token_expiry": desc["expiry"], "node_id": desc["node"],
                        "request_id": desc["request_id"]}
                self.vectors.append((bytes.fromhex(ln), {k: number(v) for k, v in want.items()}))
        # the worked example: table rows (field -> value text) and the hex line under them
        self.worked = []
        for head in ("The CLAIM request", "The WON reply", "A NOT_STARTED reply"):
            rows = {r[2]: r[3] for r in table_rows(sec[head])}
            self.worked.append((head, bytes.fromhex(hex_lines(sec[head])[0]), rows))


# ----------------------------------------------------------------------------- frames


def ref_decode(p):
    """The payload @p decoded by PROTOCOL.md's layout tables: (is_request, {field: int|hex})."""
    magic, version, typ, sale, user = struct.unpack("!HBBIQ", p[:16])
    d = {"magic": magic, "version": version, "type": typ, "sale_id": sale, "user_id": user}
    if typ & 0x80 == 0:
        expiry, node, flags, token, rid = struct.unpack("!IHH16sQ", p[16:48])
        d.update(token_expiry=expiry, node_id=node, flags=flags, token=token.hex(),
                 request_id=rid)
        return True, d
    (st, res, node, retry, order, rem, hold, rid) = struct.unpack("!BBHIQIIQ", p[16:48])
    d.update(status=st, reserved=res, node_id=node, retry_after_ms=retry, order_id=order,
             remaining=rem, hold_left_ms=hold, request_id=rid)
    return False, d


NET = rf.Net("02:00:00:00:77:02", "10.77.0.2", "02:00:00:00:77:09", "10.77.0.9")


def to_server(payload, dport=PORT, sport=40000):
    return rf.claim_frame(NET, payload=payload, sport=sport, dport=dport)


def to_client(payload, sport=PORT, dport=40000):
    return rf.claim_frame(NET, payload=payload, src_ip=NET.our_ip, dst_ip=NET.peer_ip,
                          src_mac=NET.our_mac, dst_mac=NET.peer_mac, sport=sport, dport=dport)


def reply(status, typ=0x81, sale=7, user=4242, reserved=0, node=3, retry=0, order=0, remaining=0,
          hold=0, rid=1, magic=0x4643, version=1):
    return struct.pack("!HBBIQBBHIQIIQ", magic, version, typ, sale, user, status, reserved, node,
                       retry, order, remaining, hold, rid)


# Replies of every status value (rid = 100 + status): the fields each status may carry,
# revision 2's included (a non-final SOLD_OUT, hold_left_ms, RELEASED's order).
STATUS_REPLIES = [
    reply(0, order=0x0001000000000007, remaining=41, hold=90000, rid=100),
    reply(1, order=0x0001000000000007, remaining=40, hold=1500, rid=101),
    reply(2, retry=2500, rid=102),
    reply(3, retry=1500, remaining=500, rid=103),
    reply(4, rid=104),
    reply(5, rid=105),
    reply(6, remaining=12, rid=106),
    reply(7, retry=250, remaining=12, rid=107),
    reply(8, retry=50, remaining=12, rid=108),
    reply(9, typ=0x82, remaining=12, rid=109),
    reply(10, order=0x0001000000000005, remaining=3, rid=110),
    reply(11, rid=111),
]

GOOD = rf.fcp(sale=9, user=77, rid=200)
# (name, frame, the expert infos it must raise); rid 200..: malformed kinds, on port 7777
MALFORMED = [
    ("a 3-byte payload", to_server(rf.fcp(rid=210)[:3]), {"bad_length"}),
    ("a 47-byte request", to_server(rf.fcp(rid=201)[:47]), {"bad_length"}),
    ("a 49-byte request", to_server(rf.fcp(rid=202) + b"\0"), {"bad_length"}),
    ("wrong magic", to_server(rf.fcp(magic=0x4644, rid=203)), {"bad_magic"}),
    ("version 2", to_server(rf.fcp(version=2, rid=204)), {"bad_version"}),
    ("request type 0x03", to_server(rf.fcp(type_=3, rid=205)), {"bad_type"}),
    ("flags 0x0001", to_server(rf.fcp(flags=1, rid=206)), {"flags_nonzero"}),
    ("reply type 0x83", to_client(reply(0, typ=0x83, rid=207)), {"bad_type"}),
    ("reply reserved byte 0x01", to_client(reply(2, reserved=1, rid=208)), {"reserved_nonzero"}),
    ("everything wrong, 50 bytes", to_server(
        rf.fcp(magic=0, version=9, type_=0x7f, flags=0x8000, rid=209) + b"\1\2"),
     {"bad_length", "bad_magic", "bad_version", "bad_type", "flags_nonzero"}),
]
# FCP on other ports: a good request on 9000 (heuristic), a bad magic on 9001 (only by preference)
OTHER_PORTS = [to_server(GOOD, dport=9000), to_server(rf.fcp(magic=0x4644, rid=301), dport=9001),
               to_server(rf.fcp(magic=0x4644, rid=302))]


def synth(doc, path):
    frames = [to_server(p) for p, _ in doc.vectors]
    for head, p, _ in doc.worked:
        frames.append(to_server(p) if p[3] & 0x80 == 0 else to_client(p))
    frames += [to_client(p) for p in STATUS_REPLIES]
    frames += [fr for _, fr, _ in MALFORMED]
    frames += OTHER_PORTS
    rf.write_pcap(path, frames)
    print("wrote %s: %d frames" % (path, len(frames)))
    return 0


# ----------------------------------------------------------------------------- tshark


class Pkt:
    """One packet of tshark's PDML: its UDP ports and payload, and the fcp1 fields."""

    def __init__(self, el):
        self.num = self.sport = self.dport = None
        self.payload = b""
        self.fcp = None          # {field: (show, showname)}, None if tshark did not see FCP
        self.experts = set()     # fcp1 expert infos raised
        self.lua_error = False
        for f in el.iter("field"):
            name = f.get("name")
            if name == "frame.number":
                self.num = int(f.get("show"))
            elif name == "udp.srcport":
                self.sport = int(f.get("show"))
            elif name == "udp.dstport":
                self.dport = int(f.get("show"))
            elif name == "udp.payload":
                self.payload = bytes.fromhex(f.get("value"))
            elif name == "_ws.lua.error":
                self.lua_error = True
        for proto in el.iter("proto"):
            if proto.get("name") == "fcp1":
                self.fcp = {}
                for f in proto.iter("field"):
                    name = f.get("name", "")
                    short = name[len("fcp1."):]
                    if short in EXPERTS:
                        self.experts.add(short)
                    elif name.startswith("fcp1.") and short not in self.fcp:
                        self.fcp[short] = (f.get("show"), f.get("showname"), f.get("value"))

    def val(self, name):
        """A field as an int (hex bytes for the token), None if absent."""
        if self.fcp is None or name not in self.fcp:
            return None
        show, _, value = self.fcp[name]
        return value if name == "token" else int(show, 0)

    def showname(self, name):
        return self.fcp[name][1] if self.fcp and name in self.fcp else None


def tshark(lua, pcap, *extra):
    """Every packet of @pcap as tshark sees it with the dissector (two passes, PDML)."""
    cmd = ["tshark", "-X", "lua_script:" + lua, "-r", pcap, "-2", "-T", "pdml"] + list(extra)
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                         timeout=60)
    if out.returncode != 0:
        raise SystemExit("tshark failed (%d): %s" % (out.returncode, out.stderr.decode()[-500:]))
    return [Pkt(p) for p in ET.fromstring(out.stdout).iter("packet")]


class Checks:
    def __init__(self):
        self.bad, self.n = [], 0

    def eq(self, what, got, want):
        self.n += 1
        if got != want:
            self.bad.append("%s: got %r, want %r" % (what, got, want))

    def true(self, what, cond):
        self.n += 1
        if not cond:
            self.bad.append(what)

    def done(self, name, summary):
        """One TAP-like result line for the group (no number), its details as comments."""
        print("%s - %s" % ("not ok" if self.bad else "ok", name))
        print("# %s: %d checks" % (summary, self.n))
        for b in self.bad[:40]:
            print("# " + b)
        if len(self.bad) > 40:
            print("# ... %d more" % (len(self.bad) - 40))
        sys.stdout.flush()
        return 1 if self.bad else 0


def check_decode(c, pkt, label):
    """Every field tshark shows equals the doc-layout decode of the payload; nothing flagged."""
    c.true("%s (frame %s): not dissected as fcp1" % (label, pkt.num), pkt.fcp is not None)
    if pkt.fcp is None:
        return None
    is_req, ref = ref_decode(pkt.payload)
    for name in REQ_FIELDS if is_req else REP_FIELDS:
        c.eq("%s %s" % (label, name), pkt.val(name), ref[name])
    c.eq("%s expert infos" % label, pkt.experts, set())
    c.true("%s: Lua error" % label, not pkt.lua_error)
    return ref


def by_payload(pkts):
    return {p.payload: p for p in pkts}


# ----------------------------------------------------------------------------- modes: synthetic


def check_doc(doc, pkts):
    c = Checks()
    pk = by_payload(pkts)
    c.eq("test vectors in the doc", len(doc.vectors), 3)
    for i, (p, want) in enumerate(doc.vectors):
        pkt = pk.get(p)
        c.true("test vector %d not in the capture" % (i + 1), pkt is not None)
        if pkt and check_decode(c, pkt, "vector %d" % (i + 1)):
            for k, v in want.items():
                c.eq("vector %d %s (as the doc's line)" % (i + 1, k), pkt.val(k), v)
            c.eq("vector %d token" % (i + 1), pkt.val("token"), p[24:40].hex())
    for head, p, rows in doc.worked:
        pkt = pk.get(p)
        c.true("%s not in the capture" % head, pkt is not None)
        if not pkt or not check_decode(c, pkt, head):
            continue
        for field, text in rows.items():
            if field == "token" or field == "magic":
                c.eq("%s %s" % (head, field), pkt.val(field),
                     p[24:40].hex() if field == "token" else 0x4643)
                continue
            c.eq("%s %s (the doc's table)" % (head, field), pkt.val(field), number(text))
            name = text.split()[1] if len(text.split()) > 1 else ""
            if field in ("status", "type"):
                c.true("%s %s shown as %r, the doc names it %s" % (
                    head, field, pkt.showname(field), name), name in (pkt.showname(field) or ""))
    return c.done("the doc's test vectors and worked example: every field as the doc gives it",
                  "%d test vectors, %d worked-example messages" % (
                      len(doc.vectors), len(doc.worked)))


def check_statuses(doc, pkts):
    c = Checks()
    pk = by_payload(pkts)
    c.eq("status values in the doc", sorted(doc.status), list(range(11)))
    for p in STATUS_REPLIES:
        st = p[16]
        pkt = pk.get(p)
        c.true("status %d reply not in the capture" % st, pkt is not None)
        if pkt is None or pkt.fcp is None:
            c.true("status %d: not dissected" % st, False)
            continue
        _, ref = ref_decode(p)
        for name in REP_FIELDS:
            c.eq("status %d %s" % (st, name), pkt.val(name), ref[name])
        if st in doc.status:
            c.eq("status %d name" % st, pkt.showname("status"),
                 "Status: %s (%d)" % (doc.status[st], st))
            c.eq("status %d expert infos" % st, pkt.experts, set())
        else:
            c.eq("status %d name" % st, pkt.showname("status"), "Status: Unknown (%d)" % st)
            c.eq("status %d expert infos" % st, pkt.experts, {"reserved_status"})
    names = ", ".join("%d %s" % (s, doc.status[s]) for s in sorted(doc.status))
    return c.done("every status value named as the doc names it, its fields decoded; 11 flagged "
                  "reserved", names)


def check_malformed(doc, pkts):
    c = Checks()
    for name, frame, want in MALFORMED:
        pkt = next((p for p in pkts if p.payload == frame[42:]), None)
        c.true("%s not in the capture" % name, pkt is not None and pkt.fcp is not None)
        if pkt is None or pkt.fcp is None:
            continue
        c.eq("%s: expert infos" % name, pkt.experts, want)
        c.true("%s: Lua error" % name, not pkt.lua_error)
        # what the payload holds is decoded: rf.fcp's requests are for sale 1, reply()'s replies
        # for sale 7 (type byte: frame[45])
        if len(frame) >= 42 + 8:
            c.eq("%s: sale_id still decoded" % name, pkt.val("sale_id"),
                 7 if frame[45] & 0x80 else 1)
    meant = {fr[42:] for _, fr, _ in MALFORMED} | {STATUS_REPLIES[11], OTHER_PORTS[2][42:]}
    c.eq("frames flagged that are not malformed", [p.num for p in pkts if p.experts and
                                                   p.payload not in meant], [])
    return c.done("malformed payloads flagged as expert info, each with what is wrong",
                  "; ".join(n for n, _, _ in MALFORMED))


def check_ports(a, pkts):
    c = Checks()
    good, bad9001, bad7777 = (fr[42:] for fr in OTHER_PORTS)
    pk = by_payload(pkts)
    check_decode(c, pk[good], "FCP on port 9000 (heuristic)")
    c.true("bad magic on port 9001 taken as FCP without the preference", pk[bad9001].fcp is None)
    c.eq("bad magic on 7777", pk[bad7777].experts, {"bad_magic"})
    pk = by_payload(tshark(a.lua, a.pcap, "-o", "fcp1.udp_port:9001"))
    c.eq("bad magic on 9001 with -o fcp1.udp_port:9001", pk[bad9001].experts, {"bad_magic"})
    c.true("bad magic on 7777 still FCP with -o fcp1.udp_port:9001", pk[bad7777].fcp is None)
    check_decode(c, pk[good], "FCP on port 9000 with the port moved")
    pk = by_payload(tshark(a.lua, a.pcap, "--disable-heuristic", "fcp1_udp"))
    c.true("port 9000 taken as FCP with the heuristic off", pk[good].fcp is None)
    return c.done("FCP on other ports: heuristic, preference fcp1.udp_port",
                  "port 9000 by the heuristic, -o fcp1.udp_port:9001, --disable-heuristic fcp1_udp")


def mode_synthetic(a, doc):
    """synth's capture: four results (the doc, statuses, malformed, ports)."""
    pkts = tshark(a.lua, a.pcap)
    return (check_doc(doc, pkts) | check_statuses(doc, pkts) | check_malformed(doc, pkts) |
            check_ports(a, pkts))


# ----------------------------------------------------------------------------- modes: capture


def read_claims(path):
    """[(what was sent, what flashclaim printed)] as dicts of strings."""
    out = []
    for line in open(path):
        sent, _, got = line.partition("|")
        out.append((dict(kv.split("=", 1) for kv in sent.split()),
                    dict(kv.split("=", 1) for kv in got.split() if "=" in kv)))
    return out


def check_claim(c, sent, got, reqs, reps, doc):
    rid = int(sent["request_id"])
    label = "request_id %d (sale %s %s)" % (rid, sent["sale"], got.get("status", "no reply"))
    q = [p for p in reqs if p.val("request_id") == rid]
    r = [p for p in reps if p.val("request_id") == rid]
    c.eq(label + ": requests captured", len(q), 1)
    c.eq(label + ": replies captured", len(r), 1)
    if len(q) != 1 or len(r) != 1:
        return
    q, r = q[0], r[0]
    want_req = {"type": 1 if sent["type"] == "claim" else 2, "sale_id": int(sent["sale"]),
                "user_id": int(sent["user"]), "token_expiry": int(sent.get("expiry", 0)),
                "node_id": int(sent.get("node", 0)), "flags": 0,
                "token": sent.get("token", "00" * 16)}
    for k, v in want_req.items():
        c.eq(label + " request " + k, q.val(k), v)
    if "vector" in sent:
        n = int(sent["vector"])
        c.eq(label + " request bytes = the doc's test vector %d" % n, q.payload.hex(),
             doc.vectors[n - 1][0].hex())
    want_rep = {"type": want_req["type"] | 0x80, "sale_id": want_req["sale_id"],
                "user_id": want_req["user_id"], "reserved": 0}
    for k in ("order_id", "remaining", "retry_after_ms", "hold_left_ms", "node_id"):
        want_rep[k] = int(got[k])
    for k, v in want_rep.items():
        c.eq(label + " reply " + k, r.val(k), v)
    st = r.val("status")
    c.eq(label + " status as flashclaim printed it", doc.status.get(st), got["status"])
    c.eq(label + " status shown", r.showname("status"), "Status: %s (%d)" % (got["status"], st))
    c.eq(label + " reply's request frame", r.val("response_to"), q.num)
    c.eq(label + " request's reply frame", q.val("response_in"), r.num)
    c.true(label + " request-to-reply time %r not in [0, 1) s" % r.fcp.get("time", ("?",))[0],
           "time" in r.fcp and 0 <= float(r.fcp["time"][0]) < 1)


def check_capture(a, doc, claims):
    c = Checks()
    pkts = [p for p in tshark(a.lua, a.pcap) if p.fcp is not None]
    reqs = [p for p in pkts if p.dport == PORT]
    reps = [p for p in pkts if p.sport == PORT]
    c.eq("FCP requests in the capture", len(reqs), len(claims))
    c.eq("FCP replies in the capture", len(reps), len(claims))
    for p in pkts:
        check_decode(c, p, "frame %d" % p.num)
    for sent, got in claims:
        check_claim(c, sent, got, reqs, reps, doc)
    seen = sorted({got.get("status", "-") for _, got in claims})
    return c.done("every captured request and reply decoded as flashclaim sent and printed it",
                  "%d requests, %d replies, %d claims; statuses %s" % (
                      len(reqs), len(reps), len(claims), " ".join(seen)))


def check_fields(a, doc, claims):
    c = Checks()
    cmd = ["tshark", "-X", "lua_script:" + a.lua, "-r", a.pcap, "-Y", "udp.srcport == %d" % PORT,
           "-T", "fields", "-e", "fcp1.request_id", "-e", "fcp1.status"]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True,
                         timeout=60).stdout.decode()
    got = dict(ln.split("\t") for ln in out.splitlines() if ln)
    names = {v: k for k, v in doc.status.items()}
    for sent, printed in claims:
        c.eq("request_id %s: fcp1.status" % sent["request_id"], got.get(sent["request_id"]),
             str(names.get(printed.get("status"))))
    counts = {}
    for st in got.values():
        counts[st] = counts.get(st, 0) + 1
    return c.done("tshark -T fields -e fcp1.status: the status of every reply", "%d replies: %s" % (
        len(got), ", ".join("%s x%d" % (doc.status.get(int(s), s), n)
                            for s, n in sorted(counts.items(), key=lambda x: int(x[0])))))


def mode_capture(a, doc):
    """A capture of flashclaim's claims: two results (every field, -T fields)."""
    claims = read_claims(a.claims)
    return check_capture(a, doc, claims) | check_fields(a, doc, claims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["synth", "synthetic", "capture"])
    ap.add_argument("--lua")
    ap.add_argument("--doc", required=True)
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--claims")
    a = ap.parse_args()
    doc = Doc(a.doc)
    if a.mode == "synth":
        return synth(doc, a.pcap)
    return globals()["mode_" + a.mode](a, doc)


if __name__ == "__main__":
    sys.exit(main())
