#!/usr/bin/env python3
"""Checks of one scrape of `flashctl metrics` (tests/integration/metrics.sh), as TAP-ish lines.

metrics_check.py SCRAPE GRAFANA_JSON NODE SALE WON ORDERS [lag]
Parses SCRAPE with prometheus_client's text parser (the Prometheus text format's reference
implementation in Python) and prints one "ok - NAME" / "not ok - NAME" line per check (ft_results).
With "lag", prints only whether every journal's persist lag is 0 (exit 0) or not (exit 1).
"""
import json
import re
import sys

from prometheus_client.parser import text_string_to_metric_families


def samples(text):
    """{(name, frozenset(labels)): value} of every sample."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def get(smp, name, **labels):
    return smp.get((name, frozenset(labels.items())))


def series(smp, name):
    return {k[1]: v for k, v in smp.items() if k[0] == name}


def grafana_names(path):
    """Every flashsale_* name the dashboard's queries use."""
    with open(path) as f:
        dash = json.load(f)
    exprs = []

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k == "expr" and isinstance(v, str):
                    exprs.append(v)
                else:
                    walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(dash)
    return exprs, {n for e in exprs for n in re.findall(r"\bflashsale_[a-z0-9_]+", e)}


def lag_zero(smp):
    lags = series(smp, "flashsale_persist_lag_records")
    return len(lags) > 0 and all(v == 0 for v in lags.values()), lags


def main():
    scrape_path, dash_path, node, sale, won, orders = sys.argv[1:7]
    text = open(scrape_path).read()
    smp = samples(text)
    if len(sys.argv) > 7 and sys.argv[7] == "lag":
        ok, lags = lag_zero(smp)
        print(f"lags {sorted((dict(k)['journal'], v) for k, v in lags.items())}")
        return 0 if ok else 1
    won, orders = int(won), int(orders)
    checks = []

    def check(ok, name, detail=""):
        checks.append(ok)
        print(("ok - " if ok else "not ok - ") + name)
        if detail and not ok:
            print("# " + detail)

    check(get(smp, "flashsale_up", node=node) == 1, "flashsale_up is 1 for node " + node)
    w = get(smp, "flashsale_sale_claim_replies_total", node=node, sale=sale, status="WON")
    check(w == won and won > 0,
          f"sale {sale}: WON replies counted per sale = the WON replies the clients saw ({won})",
          f"metric {w}")
    check(w == orders, f"sale {sale}: WON replies counted = orders in PostgreSQL ({orders})",
          f"metric {w}")
    sold = get(smp, "flashsale_sale_sold_units", node=node, sale=sale)
    check(sold == won, f"sale {sale}: flashsale_sale_sold_units = WON", f"sold {sold}")
    per = series(smp, "flashsale_sale_claim_replies_total")
    total = sum(v for k, v in per.items() if dict(k).get("sale") == sale)
    claims = get(smp, "flashsale_sale_claims_total", node=node, sale=sale)
    check(claims == total and claims >= won,
          f"sale {sale}: claims_total = the sum of its replies by status", f"{claims} != {total}")
    node_won = get(smp, "flashsale_replies_total", node=node, status="WON")
    check(node_won is not None and node_won >= won, "node replies_total{status=WON} >= the sale's")
    ok, lags = lag_zero(smp)
    check(ok, "persist lag 0 on every journal once PostgreSQL has every order", str(lags))
    wr = series(smp, "flashsale_journal_written_seq")
    ck = series(smp, "flashsale_persist_checkpoint_seq")
    check(len(wr) > 0 and all(ck.get(k) == v for k, v in wr.items() if v > 0),
          "persist checkpoint seq = written seq of every journal with records",
          f"written {wr} checkpoints {ck}")
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    bad = [n for n, t in types.items()
           if not n.startswith("flashsale_") or (t == "counter") != n.endswith("_total")]
    check(not bad, "every family is flashsale_*, counters and only counters end in _total",
          " ".join(bad))
    try:
        exprs, names = grafana_names(dash_path)
        check(len(exprs) >= 5, f"the Grafana dashboard parses as JSON ({len(exprs)} queries)")
        missing = sorted(names - set(types))
        check(names and not missing, "every metric the dashboard queries is in the scrape",
              " ".join(missing))
    except (OSError, ValueError) as e:
        check(False, "the Grafana dashboard parses as JSON", str(e))
        check(False, "every metric the dashboard queries is in the scrape")
    return 0 if all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
