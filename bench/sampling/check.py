#!/usr/bin/env python3
"""Sampled vs exact GEMM timing on the shapes in shapes.csv (issue #21: within 0.5% in time and bytes).

Usage: bench/sampling/check.py BWSIM [-j N] [--out FILE.csv] [--only ROWS]
Each shape runs twice with --functional off --clock boost: as the planner runs it (sampled
where the waves repeat) and with --exact; the CSV has both times, the bytes at each level and
the relative errors; the last line is the worst error of each kind.
"""
import argparse, concurrent.futures as cf, csv, json, os, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))

def run(bwsim, row, exact):
    cmd = [bwsim, "gemm", "--hw", row["hw"], "--m", row["m"], "--n", row["n"], "--k", row["k"],
           "--format", row["format"], "--functional", "off", "--clock", "boost", "--json", "-", "-q"]
    if exact:
        cmd.append("--exact")
    t0 = time.time()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    r = json.loads(out)["result"]
    return {"us": r["time"]["us"], "hbm_read": r["bytes"]["hbm"]["read"], "hbm_write": r["bytes"]["hbm"]["write"],
            "l2_read": r["bytes"]["l2"]["read"], "tile": r["plan"]["tile"],
            "skipped": r["sampling"]["waves_skipped"], "waves": r["sampling"]["waves"], "wall": time.time() - t0}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bwsim")
    ap.add_argument("-j", type=int, default=2)
    ap.add_argument("--out")
    ap.add_argument("--only", help="comma-separated row numbers (0-based)")
    a = ap.parse_args()
    rows = list(csv.DictReader(open(os.path.join(HERE, "shapes.csv"))))
    if a.only:
        rows = [rows[int(i)] for i in a.only.split(",")]
    with cf.ThreadPoolExecutor(a.j) as ex:
        jobs = [(ex.submit(run, a.bwsim, r, False), ex.submit(run, a.bwsim, r, True)) for r in rows]
        res = [(s.result(), e.result()) for s, e in jobs]
    fields = ["hw", "m", "n", "k", "format", "tile", "waves", "skipped", "us_sampled", "us_exact", "err_time",
              "err_hbm_read", "err_hbm_write", "err_l2_read", "wall_sampled", "wall_exact"]
    out = open(a.out, "w", newline="") if a.out else sys.stdout
    w = csv.writer(out)
    w.writerow(fields)
    worst = {}
    for r, (s, e) in zip(rows, res):
        err = lambda key: (s[key] - e[key]) / e[key] if e[key] else 0.0
        errs = {"err_time": err("us"), "err_hbm_read": err("hbm_read"), "err_hbm_write": err("hbm_write"),
                "err_l2_read": err("l2_read")}
        for k, v in errs.items():
            worst[k] = max(worst.get(k, 0), abs(v))
        w.writerow([r["hw"], r["m"], r["n"], r["k"], r["format"], s["tile"] if s["tile"] == e["tile"] else s["tile"] + "|" + e["tile"],
                    s["waves"], s["skipped"], f"{s['us']:.3f}", f"{e['us']:.3f}"] +
                   [f"{100 * errs[k]:+.3f}%" for k in errs] + [f"{s['wall']:.2f}", f"{e['wall']:.2f}"])
    print("worst: " + ", ".join(f"{k} {100 * v:.3f}%" for k, v in worst.items()), file=sys.stderr)

main()
