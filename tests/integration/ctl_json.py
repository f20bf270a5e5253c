#!/usr/bin/env python3
"""Checks of flashctl's --json output with Python's json module (ctl_json.sh).

ctl_json.py doc FILE                 FILE (a command's stdout) is exactly one JSON object on one
                                     line; its ISO 8601 fields agree with their unix numbers.
ctl_json.py same JSON KV [IGNORE...] doc JSON, and it holds the same fields as the key=value
                                     lines of KV with the same values (repeated `sale=` lines: the
                                     array `sales`; `drift: TEXT` lines: the array `drift`); the
                                     values of the IGNORE keys may differ (they must be there).
ctl_json.py recs JSON KV SPEC...     doc JSON, and it holds the key=value output KV whose lines
                                     have several space-separated fields (node list, node
                                     forget): SPEC ARRAY=KEY puts a line whose second field is KEY
                                     into the array ARRAY (objects with the same fields, in
                                     order), -=KEY its fields into the object itself; one-field
                                     lines go into the object too; `drift: TEXT` lines are the
                                     array `drift`; a SPEC without '=' is a key whose values may
                                     differ (it must be there). Each object's ISO 8601 fields
                                     agree with their unix numbers.
ctl_json.py get FILE KEY...          doc FILE, then its fields KEY... on one line, space
                                     separated (strings bare, others as JSON text, "(missing)").
ctl_json.py lines FILE               each line of FILE is a JSON object with ts_ms, time (ISO of
                                     ts_ms), msg, and sale when msg starts "sale N: "; prints the
                                     count of lines.
Exit 0 when the check holds; else 1 with the reason on stderr.
"""
import datetime
import json
import re
import sys

# unix-time fields and the ISO field next to each: (suffix, per second)
UNITS = (("_ms", 1000), ("_us", 1000000))


def fail(msg):
    sys.stderr.write(msg + "\n")
    sys.exit(1)


def iso_to_unix(text, per_s):
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo != datetime.timezone.utc:
        fail("%r is not UTC" % text)
    d = t - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (d.days * 86400 + d.seconds) * per_s + d.microseconds * per_s // 1000000


def check_times(doc):
    pairs = [("expiry", "expiry_at", 1)]
    for k in doc:
        for suffix, per_s in UNITS:
            if k.endswith(suffix) and k[: -len(suffix)] in doc:
                pairs.append((k, k[: -len(suffix)], per_s))
    for num, iso, per_s in pairs:
        if num not in doc or iso not in doc:
            continue
        if doc[iso] is None:
            if doc[num] != 0:
                fail("%s is null but %s=%r" % (iso, num, doc[num]))
            continue
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6})?Z", doc[iso]):
            fail("%s=%r is not ISO 8601 UTC" % (iso, doc[iso]))
        if iso_to_unix(doc[iso], per_s) != doc[num]:
            fail("%s=%r is not %s=%r" % (iso, doc[iso], num, doc[num]))


def load_doc(path):
    text = open(path, encoding="utf-8").read()
    if text.count("\n") != 1 or not text.endswith("\n"):
        fail("%s: not exactly one line: %r" % (path, text[:300]))
    doc = json.loads(text)
    if not isinstance(doc, dict):
        fail("%s: not a JSON object" % path)
    check_times(doc)
    return doc


def kv_fields(path):
    fields, sales, drift = {}, [], []
    for line in open(path, encoding="utf-8").read().splitlines():
        if line.startswith("drift: "):
            drift.append(line[len("drift: "):])
            continue
        k, sep, v = line.partition("=")
        if not sep:
            fail("%s: not a key=value line: %r" % (path, line))
        if k == "sale" and "sale" in fields:
            sales.append(v)
        elif k in fields:
            fail("%s: %s twice" % (path, k))
        else:
            fields[k] = v
    return fields, sales, drift


def same_value(j, v):
    if isinstance(j, bool):
        return v == ("1" if j else "0")
    if j is None:
        return v == ""
    if isinstance(j, (int, float)):
        return v == str(j)
    if isinstance(j, str):
        return v == j
    return json.loads(v) == j


def same(jpath, kvpath, ignore):
    doc = load_doc(jpath)
    fields, sales, drift = kv_fields(kvpath)
    if isinstance(doc.get("sales"), list):  # sale list: count=, then one sale= line per id
        sales = ([fields.pop("sale")] if "sale" in fields else []) + sales
        if [str(x) for x in doc["sales"]] != sales:
            fail("sales %r, key=value %r" % (doc["sales"], sales))
        fields["sales"] = None
    if "drift" in doc:
        if doc["drift"] != drift:
            fail("drift %r, key=value %r" % (doc["drift"], drift))
        fields["drift"] = None
    if set(doc) != set(fields):
        fail("keys differ: only JSON %s, only key=value %s"
             % (sorted(set(doc) - set(fields)), sorted(set(fields) - set(doc))))
    for k, v in fields.items():
        if v is not None and k not in ignore and not same_value(doc[k], v):
            fail("%s: JSON %r, key=value %r" % (k, doc[k], v))


def same_fields(what, j, fields, ignore):
    if set(j) != set(fields):
        fail("%s: keys differ: JSON %s, key=value %s" % (what, sorted(j), sorted(fields)))
    for k, v in fields.items():
        if k not in ignore and not same_value(j[k], v):
            fail("%s: %s: JSON %r, key=value %r" % (what, k, j[k], v))


def recs(jpath, kvpath, specs):
    doc = load_doc(jpath)
    arrays = dict(s.split("=", 1)[::-1] for s in specs if "=" in s)  # second key -> array
    ignore = {s for s in specs if "=" not in s}
    top, want, drift = {}, {a: [] for a in arrays.values() if a != "-"}, []
    for line in open(kvpath, encoding="utf-8").read().splitlines():
        if line.startswith("drift: "):
            drift.append(line[len("drift: "):])
            continue
        fields = dict(f.partition("=")[::2] for f in line.split(" "))
        keys = list(fields)
        arr = arrays.get(keys[1]) if len(keys) > 1 else "-"
        if arr is None:
            fail("%s: no SPEC for the line %r" % (kvpath, line))
        if arr == "-":
            top.update(fields)
        else:
            want[arr].append(fields)
    for arr, rows in want.items():
        got = doc.get(arr)
        if not isinstance(got, list) or len(got) != len(rows):
            fail("%s: JSON %r, key=value %d lines" % (arr, got, len(rows)))
        for i, (j, fields) in enumerate(zip(got, rows)):
            check_times(j)
            same_fields("%s[%d]" % (arr, i), j, fields, ignore)
    if "drift" in doc:
        if doc["drift"] != drift:
            fail("drift %r, key=value %r" % (doc["drift"], drift))
        want["drift"] = None
    elif drift:
        fail("drift lines %r, no array drift" % drift)
    same_fields("object", {k: v for k, v in doc.items() if k not in want}, top, ignore)


def lines(path):
    n = 0
    for line in open(path, encoding="utf-8"):
        n += 1
        o = json.loads(line)
        if not isinstance(o, dict) or not isinstance(o.get("ts_ms"), int) or \
                not isinstance(o.get("msg"), str):
            fail("line %d: %r" % (n, line))
        if iso_to_unix(o["time"], 1000) != o["ts_ms"]:
            fail("line %d: time %r is not ts_ms" % (n, o["time"]))
        m = re.match(r"sale (\d+): ", o["msg"])
        if (m is None) != ("sale" not in o) or (m and int(m.group(1)) != o["sale"]):
            fail("line %d: sale field wrong: %r" % (n, line))
        extra = set(o) - {"ts_ms", "time", "msg", "sale"}
        if extra:
            fail("line %d: unknown fields %s" % (n, sorted(extra)))
    print(n)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "doc":
        load_doc(args[0])
    elif cmd == "same":
        same(args[0], args[1], set(args[2:]))
    elif cmd == "recs":
        recs(args[0], args[1], args[2:])
    elif cmd == "get":
        doc = load_doc(args[0])
        vals = [doc.get(k, "(missing)") for k in args[1:]]
        print(" ".join(v if isinstance(v, str) else json.dumps(v) for v in vals))
    elif cmd == "lines":
        lines(args[0])
    else:
        fail("unknown check %r" % cmd)


if __name__ == "__main__":
    main()
