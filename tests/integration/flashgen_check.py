#!/usr/bin/env python3
"""Checks of flashgen's outputs for flashgen_report.sh. Each command prints problems, one per line,
and exits 1 if there is any, else prints a one-line summary and exits 0.

  json KV_FILE JSON_FILE      the JSON report (python's json module) against the key=value report
                              of the same run, its latency_histogram and latency_percentiles
  hgrm HGRM_FILE REPLIES      HdrHistogram's percentile distribution text (.hgrm)
  claims TSHARK_FILE SALE USER_BASE USERS SENT
                              tshark's fields (frame.time_epoch, udp.checksum.status,
                              udp.payload; tab separated) of a --pcap-out file: SENT claim frames,
                              of sale SALE, users USER_BASE .. USER_BASE+USERS-1, valid checksums,
                              times in order
"""
import json
import math
import struct
import sys

problems = []


def bad(msg):
    problems.append(msg)


def kv_read(path):
    out = {}
    for line in open(path):
        k, sep, v = line.strip().partition("=")
        if sep:
            out[k] = v
    return out


def check_json(kv_path, json_path):
    kv = kv_read(kv_path)
    doc = json.load(open(json_path))
    if not isinstance(doc, dict):
        bad("the JSON report is not an object")
        return "?"
    for k, v in kv.items():
        if k not in doc:
            bad(f"{k}: in key=value, not in JSON")
        elif isinstance(doc[k], bool):
            if v != str(int(doc[k])):
                bad(f"{k}: key=value {v}, JSON {doc[k]}")
        elif not isinstance(doc[k], (int, float)) or float(v) != float(doc[k]):
            bad(f"{k}: key=value {v}, JSON {doc[k]!r}")
    extra = set(doc) - set(kv) - {"latency_histogram", "latency_percentiles"}
    if extra:
        bad(f"JSON fields not in key=value: {sorted(extra)}")
    hist = doc.get("latency_histogram", [])
    total = sum(c for _, c in hist)
    if total != doc.get("replies"):
        bad(f"latency_histogram counts sum to {total}, replies={doc.get('replies')}")
    bounds = [b for b, _ in hist]
    if bounds != sorted(set(bounds)) or any(c <= 0 for _, c in hist):
        bad("latency_histogram: bounds not increasing or an empty bucket listed")
    if hist and bounds[-1] < doc["max_us"] * 1000:
        bad(f"last bucket {bounds[-1]} ns below max_us={doc['max_us']}")
    pct = doc.get("latency_percentiles", [])
    ps = [p for p, _ in pct]
    vs = [v for _, v in pct]
    if ps[:1] != [50] or ps[-1:] != [100] or ps != sorted(ps) or vs != sorted(vs):
        bad(f"latency_percentiles not monotonic from 50 to 100: {pct}")
    want = {50: "p50_us", 90: "p90_us", 99: "p99_us", 99.9: "p999_us", 100: "max_us"}
    for p, v in pct:
        if p in want and round(v / 1000, 1) != doc[want[p]]:
            bad(f"percentile {p}: {v} ns, {want[p]}={doc[want[p]]}")
    return f"{len(kv)} fields equal, {len(hist)} buckets, {total} replies"


def check_hgrm(path, replies):
    lines = open(path).read().splitlines()
    if not lines or lines[0].split() != ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]:
        bad(f"header: {lines[:1]}")
    rows, foot = [], {}
    for line in lines[1:]:
        if line.startswith("#["):
            for part in line.strip("#[]").split(","):
                k, _, v = part.partition("=")
                foot[k.strip()] = float(v)
        elif line.strip():
            f = line.split()
            rows.append((float(f[0]), float(f[1]), int(f[2])))
            if len(f) == 4 and not math.isclose(float(f[3]), 1 / (1 - float(f[1])), rel_tol=1e-2):
                bad(f"1/(1-Percentile) wrong: {line}")
    if not rows:
        bad("no percentile line")
        return "?"
    for a, b in zip(rows, rows[1:]):
        if b[0] < a[0] or b[1] < a[1] or b[2] < a[2]:
            bad(f"not monotonic: {a} then {b}")
    if rows[0][1] != 0 or rows[-1][1] != 1 or rows[-1][2] != replies:
        bad(f"first {rows[0]}, last {rows[-1]}: want percentile 0 .. 1, total {replies}")
    if foot.get("Total count") != replies or foot.get("SubBuckets") != 2048:
        bad(f"footer {foot}")
    if foot.get("Max") != rows[-1][0]:
        bad(f"footer Max {foot.get('Max')} is not the last value {rows[-1][0]}")
    return f"{len(rows)} percentile lines, total {replies}, max {rows[-1][0]} us"


def check_claims(path, sale, base, users, sent):
    seen_users, rids, times, n = set(), set(), [], 0
    for line in open(path):
        t, status, payload = line.rstrip("\n").split("\t")
        n += 1
        p = bytes.fromhex(payload.replace(":", ""))
        if len(p) != 48 or p[:4] != b"FC\x01\x01":
            bad(f"frame {n}: not an FCP claim: {payload[:32]}")
            continue
        s, u = struct.unpack(">IQ", p[4:16])
        rid = struct.unpack(">Q", p[40:48])[0]
        if s != sale:
            bad(f"frame {n}: sale {s}")
        if status != "1":
            bad(f"frame {n}: UDP checksum status {status!r} (1: good)")
        seen_users.add(u)
        rids.add(rid)
        times.append(float(t))
    if n != sent:
        bad(f"{n} frames, sent={sent}")
    if seen_users != set(range(base, base + users)):
        bad(f"{len(seen_users)} users, not {base}..{base + users - 1}")
    if times != sorted(times):
        bad("timestamps out of order")
    return f"{n} claim frames of sale {sale}, {len(seen_users)} users, {len(rids)} request_ids, " \
           f"{times[-1] - times[0] if times else 0:.6f} s"


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "json":
        summary = check_json(*args)
    elif cmd == "hgrm":
        summary = check_hgrm(args[0], int(args[1]))
    elif cmd == "claims":
        summary = check_claims(args[0], *map(int, args[1:]))
    else:
        sys.exit(f"unknown command {cmd}")
    print("\n".join(problems) if problems else summary)
    sys.exit(1 if problems else 0)


main()
