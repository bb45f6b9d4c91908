#!/usr/bin/env python3
"""Samples the memory and CPU of the process tree under a pid (scripts/bench-app.sh).

Usage: measure-tree.py PID SECONDS. Prints one JSON object.

Every process of the tree counts except the harness that launches it (xvfb-run,
Xvfb, dbus-run-session, dbus-daemon, shells). Per sample, for each process:
RSS (every resident page, shared libraries included, so a library mapped by
three processes is counted three times), PSS (each shared page divided among
the processes that map it: the sum over the tree is the fair "whole app"
figure), USS (pages only this process maps: what closing it would free) and
anonymous RSS (heap, stacks, private mappings). Totals are taken per sample and
the maximum over the samples is reported; per-process figures are those of the
sample with the largest PSS total, summed over processes of the same name.
"""
import json
import os
import sys
import time

HARNESS = ("xvfb-run", "Xvfb", "dbus-run-sessio", "dbus-daemon", "sh", "bash", "setsid", "sleep")


def tree(root):
    kids = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            st = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        ppid = int(st.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(p))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def comm(p):
    try:
        return open(f"/proc/{p}/comm").read().strip()
    except OSError:
        return None


def fields(p, path, names):
    got = dict.fromkeys(names, 0)
    for line in open(f"/proc/{p}/{path}"):
        key = line.split(":", 1)[0]
        if key in got:
            got[key] = int(line.split()[1])
    return got


def sample(p):
    """kB figures of one process, or None when it is gone."""
    try:
        roll = fields(p, "smaps_rollup", ("Rss", "Pss", "Private_Clean", "Private_Dirty"))
        st = fields(p, "status", ("RssAnon",))
    except OSError:
        return None
    return {"rss": roll["Rss"], "pss": roll["Pss"],
            "uss": roll["Private_Clean"] + roll["Private_Dirty"], "anon": st["RssAnon"]}


def ticks(p):
    try:
        f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None  # gone: its CPU is not counted
    return int(f[11]) + int(f[12])


def main():
    root, secs = int(sys.argv[1]), float(sys.argv[2])
    procs = [(p, c) for p in tree(root) if (c := comm(p)) and c not in HARNESS]
    t0 = {p: ticks(p) for p, _ in procs}
    start = time.time()
    totals = {k: [] for k in ("rss", "pss", "uss", "anon")}
    best, best_pss = {}, -1
    while True:
        per = {}
        for p, c in procs:
            s = sample(p)
            if s is None:
                continue
            acc = per.setdefault(c, {"count": 0, "rss": 0, "pss": 0, "uss": 0, "anon": 0})
            acc["count"] += 1
            for k in totals:
                acc[k] += s[k]
        for k in totals:
            totals[k].append(sum(v[k] for v in per.values()))
        if totals["pss"][-1] > best_pss:
            best_pss, best = totals["pss"][-1], per
        if time.time() - start >= secs:
            break
        time.sleep(5)
    elapsed = time.time() - start
    now = {p: ticks(p) for p, _ in procs}
    cpu = sum(t - t0[p] for p, t in now.items() if t is not None and t0.get(p) is not None)
    mb = lambda kb: round(kb / 1024, 1)
    print(json.dumps({
        "processes": sorted(c for _, c in procs),
        "cpu_percent": round(100 * cpu / os.sysconf("SC_CLK_TCK") / elapsed, 3),
        "rss_mb_max": mb(max(totals["rss"])),
        "rss_mb_mean": mb(sum(totals["rss"]) / len(totals["rss"])),
        "pss_mb_max": mb(max(totals["pss"])),
        "uss_mb_max": mb(max(totals["uss"])),
        "anon_mb_max": mb(max(totals["anon"])),
        "per_process": {c: {"count": v["count"], "rss_mb": mb(v["rss"]), "pss_mb": mb(v["pss"]),
                            "uss_mb": mb(v["uss"]), "anon_mb": mb(v["anon"])}
                        for c, v in sorted(best.items())},
        "samples": len(totals["rss"]),
        "seconds": round(elapsed, 1),
    }))


if __name__ == "__main__":
    main()
