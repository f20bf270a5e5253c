#!/usr/bin/env python3
"""Sale deletion against a running flashsale-dp (sale_delete.sh runs it; see there).

Phase "run": on one dataplane, through its telemetry socket and kernel UDP claims, create,
claim, stop and delete SALES sales (every KEEP-th is kept, active), while a second thread claims
a long-lived sale with new users the whole time (and claims sales as they are being deleted).
Phase "check" (after a restart on the same state directory): the live sales and their winners
are exactly those kept. Each phase prints key=value lines (the facts the shell asserts) and
writes what "check" needs to --state (JSON).
"""
import argparse
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rawframes  # noqa: E402

ST = ["WON", "ALREADY_WON", "SOLD_OUT", "NOT_STARTED", "ENDED", "UNKNOWN_SALE", "BAD_TOKEN",
      "RATE_LIMITED", "RETRY", "ACTIVE"]
JREC_SALE = 2


class Telemetry(rawframes.Telemetry):
    """rawframes' telemetry client; a command the dataplane does not know answers {}."""

    def cmd(self, c):
        r = super().cmd(c)
        return r if r is not None else {}

    def close(self):
        self.s.close()


class Claimer:
    """Kernel UDP claims to the dataplane, one request at a time, resent on a timeout."""

    def __init__(self, src, dst, rid_base):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((src, 0))
        self.s.settimeout(0.2)
        self.dst = (dst, 7777)
        self.rid = rid_base

    def claim(self, sale, user, typ=1):
        """(status name, order id), or ("none", 0) after 10 tries without an answer.
        @typ 1 CLAIM, 2 SALE_STATUS."""
        self.rid += 1
        req = struct.pack(">2sBBIQIHH16sQ", b"FC", 1, typ, sale, user, 0, 0, 0, bytes(16),
                          self.rid)
        for _ in range(10):
            self.s.sendto(req, self.dst)
            deadline = time.monotonic() + 0.2
            while time.monotonic() < deadline:
                try:
                    rep = self.s.recv(64)
                except socket.timeout:
                    break
                if len(rep) == 48 and struct.unpack_from(">Q", rep, 40)[0] == self.rid:
                    return ST[rep[16]] if rep[16] < len(ST) else "INVALID", \
                        struct.unpack_from(">Q", rep, 24)[0]
        return "none", 0


def control_sale_records(state_dir, sale):
    """SALE records of @sale in the control journal (journal 255)."""
    return sum(1 for rtype, sid, _, _ in rawframes.journal_records(state_dir, control=True)
               if rtype == JREC_SALE and sid == sale)


class Background(threading.Thread):
    """Claims the long-lived sale with a new user each time, and asks for the status of the
    sale being stopped and deleted right now (the worker looks it up as a claim would)."""

    def __init__(self, args, sale, recent):
        super().__init__(daemon=True)
        self.c = Claimer(args.src, args.dst, 1 << 40)
        self.sale, self.recent = sale, recent
        self.stop = False
        self.user = 5000000
        self.won, self.other, self.near, self.none = {}, 0, 0, 0

    def run(self):
        while not self.stop:
            self.user += 1
            st, order = self.c.claim(self.sale, self.user)
            if st == "WON":
                self.won[self.user] = order
            else:
                self.other += 1
            if self.recent:
                st, _ = self.c.claim(self.recent[-1], self.user, typ=2)
                self.near += 1
                self.none += st == "none"


def expect(tel, cmd, key, want):
    r = tel.cmd(cmd)
    if r.get(key) != want:
        raise SystemExit("%s: %s=%r, want %r (%s)" % (cmd, key, r.get(key), want, r))
    return r


def one_sale(tel, c, args, sid, i, facts, now):
    """Create, lease, claim, (stop and delete) sale @sid; returns (user, order)."""
    expect(tel, "/flashsale/sale/create,%d,2,%d,%d,open" % (sid, now - 1000, now + 3600000),
           "sale_id", sid)
    expect(tel, "/flashsale/sale/lease,%d,2,1" % sid, "leased", 2)
    user = 1000000 + i
    st, order = c.claim(sid, user)
    facts["won"] += st == "WON"
    if st == "WON" and c.claim(sid, user) == ("ALREADY_WON", order):
        facts["already_won"] += 1
    if i % args.keep == 0:
        return user, order
    if i <= 3:  # an active sale is refused, and nothing changes
        r = tel.cmd("/flashsale/sale/delete,%d" % sid)
        facts["refused_active"] += "active: stop it first" in r.get("error", "")
    expect(tel, "/flashsale/sale/stop,%d" % sid, "state", "stopped")
    r = tel.cmd("/flashsale/sale/delete,%d" % sid)
    facts["deleted"] += r == {"sale_id": sid, "deleted": 1}
    facts["unknown_after"] += c.claim(sid, user)[0] == "UNKNOWN_SALE"
    if i <= 3:
        r = tel.cmd("/flashsale/sale/create,%d,2,%d,%d,open" % (sid, now, now + 1000))
        facts["recreate_refused"] += r.get("error") == "sale %d was deleted" % sid
    return user, order


def rekey_stress(args, sid, seconds, readers=2):
    """Status reads and rekeys at once, each thread on its own telemetry connection (a thread
    of its own in the dataplane) for @seconds: every status is the sale's and shows the id of a
    key that was set (key_id: BLAKE2b-64 of the key, libsodium's crypto_generichash), every
    rekey's reply shows the key it set. Prints the counts and the first wrong reply."""
    keys = [bytes([(k * 37 + b * 11) & 0xff for b in range(16)]) for k in range(1, 9)]
    fp = [hashlib.blake2b(k, digest_size=8).hexdigest() for k in keys]
    now = int(time.time() * 1000)
    t = Telemetry(args.prefix)
    expect(t, "/flashsale/sale/create,%d,10,%d,%d,token,%s" % (
        sid, now - 1000, now + 3600000, keys[0].hex()), "sale_id", sid)
    t.close()
    done = threading.Event()
    count = {"reads": 0, "rekeys": 0, "bad": 0}
    first_bad = []

    def check(ok, r):
        if not ok:
            count["bad"] += 1
            first_bad.append(r)

    def reader():
        t = Telemetry(args.prefix)
        while not done.is_set():
            r = t.cmd("/flashsale/sale/status,%d" % sid)
            count["reads"] += 1
            check(r.get("sale_id") == sid and r.get("key_id") in fp and r.get("key_set") == 1, r)
        t.close()

    def rekeyer():
        t = Telemetry(args.prefix)
        while not done.is_set():
            count["rekeys"] += 1
            k = count["rekeys"] % len(keys)
            r = t.cmd("/flashsale/sale/key,%d,%s,60000" % (sid, keys[k].hex()))
            check(r.get("sale_id") == sid and r.get("key_id") == fp[k], r)
        t.close()

    threads = [threading.Thread(target=rekeyer, daemon=True)] + \
        [threading.Thread(target=reader, daemon=True) for _ in range(readers)]
    for th in threads:
        th.start()
    time.sleep(seconds)
    done.set()
    for th in threads:
        th.join()
    print("rekey_status_reads=%d rekeys=%d rekey_bad=%d" % (
        count["reads"], count["rekeys"], count["bad"]))
    if first_bad:
        print("rekey_first_bad=%s" % json.dumps(first_bad[0], separators=(",", ":")))


def run(args):
    tel = Telemetry(args.prefix)
    c = Claimer(args.src, args.dst, 0)
    now = int(time.time() * 1000)
    base = args.base
    long_lived = base
    expect(tel, "/flashsale/sale/create,%d,1000000,%d,%d,open" % (
        long_lived, now - 1000, now + 3600000), "sale_id", long_lived)
    expect(tel, "/flashsale/sale/lease,%d,1000000,1" % long_lived, "leased", 1000000)
    # item 3: a stock past the limit is refused by name, and nothing is journaled for it
    big = base - 1
    r = tel.cmd("/flashsale/sale/create,%d,4294967295,%d,%d,open" % (big, now, now + 1000))
    print("big_error=%s" % r.get("error", "").replace(" ", "_"))
    print("big_sale_records=%d" % control_sale_records(args.state_dir, big))
    r = tel.cmd("/flashsale/sale/delete,%d" % (base + 999999))
    print("delete_unknown=%s" % r.get("error", "").replace(" ", "_"))

    facts = dict(won=0, already_won=0, deleted=0, unknown_after=0, refused_active=0,
                 recreate_refused=0)
    recent = []
    bg = Background(args, long_lived, recent)
    bg.start()
    kept, t0 = {}, time.monotonic()
    for i in range(1, args.sales + 1):
        sid = base + i
        recent.append(sid)
        user, order = one_sale(tel, c, args, sid, i, facts, now)
        if i % args.keep == 0:
            kept[sid] = (user, order)
    elapsed = time.monotonic() - t0
    bg.stop = True
    bg.join()
    live = tel.cmd("/flashsale/sale/list")["sales"]
    for k, v in facts.items():
        print("%s=%d" % (k, v))
    print("sales=%d kept=%d elapsed_s=%.1f" % (args.sales, len(kept), elapsed))
    print("live_is_kept=%d" % (sorted(live) == sorted(list(kept) + [long_lived])))
    print("bg_won=%d bg_other=%d bg_near=%d bg_none=%d" % (
        len(bg.won), bg.other, bg.near, bg.none))
    st = tel.cmd("/flashsale/stats")
    print("stats_sales=%d" % st["sales"])
    with open(args.state, "w") as f:
        json.dump({"long_lived": long_lived, "kept": kept, "bg_won": bg.won, "token": base - 2,
                   "deleted": [base + i for i in range(1, args.sales + 1) if i % args.keep]},
                  f)
    rekey_stress(args, base - 2, 3.0)


def check(args):
    tel = Telemetry(args.prefix)
    c = Claimer(args.src, args.dst, 1 << 50)
    with open(args.state) as f:
        state = json.load(f)
    kept = {int(k): v for k, v in state["kept"].items()}
    long_lived = state["long_lived"]
    live = tel.cmd("/flashsale/sale/list")["sales"]
    print("live_is_kept=%d" % (sorted(live) == sorted(list(kept) + [long_lived, state["token"]])))
    same = sum(c.claim(sid, user) == ("ALREADY_WON", order) for sid, (user, order) in kept.items())
    print("kept_winners_same=%d" % same)
    bg = state["bg_won"]
    same = sum(c.claim(long_lived, int(u)) == ("ALREADY_WON", o) for u, o in bg.items())
    print("long_lived_winners_same=%d" % same)
    sold = tel.cmd("/flashsale/sale/status,%d" % long_lived)["sold"]
    print("long_lived_sold=%d" % sold)
    gone = state["deleted"]
    unknown = sum(c.claim(sid, 1)[0] == "UNKNOWN_SALE" for sid in gone[::10])
    print("deleted_unknown=%d deleted_tried=%d" % (unknown, len(gone[::10])))
    now = int(time.time() * 1000)
    r = tel.cmd("/flashsale/sale/create,%d,2,%d,%d,open" % (gone[0], now, now + 1000))
    print("recreate_after_restart=%s" % r.get("error", "").replace(" ", "_"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("phase", choices=["run", "check"])
    ap.add_argument("--prefix", required=True, help="the dataplane's EAL --file-prefix")
    ap.add_argument("--src", required=True, help="our address on the tap")
    ap.add_argument("--dst", required=True, help="the dataplane's --addr")
    ap.add_argument("--state-dir", required=True, help="the dataplane's --state-dir")
    ap.add_argument("--state", required=True, help="JSON file from run to check")
    ap.add_argument("--base", type=int, required=True, help="first sale id (long-lived)")
    ap.add_argument("--sales", type=int, default=1200)
    ap.add_argument("--keep", type=int, default=10, help="every KEEP-th sale is kept")
    args = ap.parse_args()
    (run if args.phase == "run" else check)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
