#!/usr/bin/env python3
"""The report of a scripts/bench.sh comparison run, from its raw results.

    python3 scripts/bench-report.py DIR

DIR holds what the run wrote: runs/r<round>-<scenario>-<target>.json (one
`gregor bench --json` summary each), meta.json (commit, start, end),
env.txt, disk.txt and, when a cold read could not drop the page cache,
warm.txt. bench.sh runs this at its end; with UPDATE_BENCHMARKS=1 it keeps
DIR's raw results in bench/results/, so the report in BENCHMARKS.md can be
regenerated from the repository: python3 scripts/bench-report.py bench/results
"""
import json, glob, os, statistics, sys
out = sys.argv[1]
meta = json.load(open(os.path.join(out, "meta.json")))
commit, started, ended = meta["commit"], meta["started"], meta["ended"]
print(f"Written by `scripts/bench.sh` ({started} – {ended}) on commit {commit}. "
      "Medians over the rounds; the settings, machine, load and disk are at the end.")
print()
runs = {}
for f in glob.glob(os.path.join(out, "runs", "r*.json")):
    name = os.path.basename(f)[:-5]
    rnd, scen, target = name.split("-", 2)
    try:
        s = json.load(open(f))
    except Exception:
        continue
    runs.setdefault((scen, target), []).append(s)

def med(scen, target, fn):
    vals = [fn(s) for s in runs.get((scen, target), []) if fn(s) is not None]
    return statistics.median(vals) if vals else None

def lat(key):
    return lambda s: (s.get("latency") or {}).get(key)

def fmt(v, nd=0):
    if v is None: return "–"
    return f"{v:,.{nd}f}"

order = ["gregor", "gregor-sync", "kafka", "kfake", "blackhole"]
rps = lambda scen, t: med(scen, t, lambda s: s["records_per_sec"])

# The leading table: one row per scenario and measure, every target side by
# side, gregor's ratio to Kafka and to the no-storage ceiling, and the goal.
THROUGHPUT = [
    ("produce16", "≥ 1.5 × Kafka, ≥ 0.8 × ceiling"),
    ("produce10k", "≥ 0.8 × ceiling"),
    ("produce10krr", "≥ 0.8 × ceiling"),
    ("acks1", "≥ 0.8 × ceiling"),
    ("lz4", "≥ 0.8 × ceiling"),
    ("zstd", "≥ 0.8 × ceiling"),
    ("producers100", "≥ 0.8 × ceiling"),
    ("topics1000", "≥ 0.8 × topic8000 and × produce16"),
    ("topic8000", "≥ 0.8 × ceiling"),
    ("consume16", "≥ 1.5 × Kafka"),
    ("consumefan", "≥ 1.5 × Kafka"),
    ("consumecold", "≥ 1.5 × Kafka"),
    ("consumetxn", "≥ 1.5 × Kafka"),
]
LATENCY = [("e2e", "p99_ms", "≤ 0.5 × Kafka"), ("e2e", "p99_9_ms", "≤ 0.5 × Kafka"),
           ("e2eroll", "p99_ms", "≤ 0.5 × Kafka"), ("e2eroll", "p99_9_ms", "≤ 0.5 × Kafka"),
           ("e2eroll", "max_ms", "(info; the stall goal is make stall's 10-minute run)"),
           ("ackfloor", "p99_ms", "(the client's floor)")]

def x(a, b):
    return "–" if a is None or not b else f"{a/b:.2f}"

print("| scenario | measure | gregor | gregor-sync | kafka | kfake | ceiling | gregor × kafka | gregor × ceiling | goal |")
print("|---|---|---|---|---|---|---|---|---|---|")
for scen, goal in THROUGHPUT:
    if not any(runs.get((scen, t)) for t in order): continue
    v = {t: rps(scen, t) for t in order}
    print(f"| {scen} | records/s | " + " | ".join(fmt(v[t]) for t in order) +
          f" | {x(v['gregor'], v['kafka'])} | {x(v['gregor'], v['blackhole'])} | {goal} |")
for scen, key, goal in LATENCY:
    if not any(runs.get((scen, t)) for t in order): continue
    v = {t: med(scen, t, lat(key)) for t in order}
    print(f"| {scen} | {key[:-3].replace('_', '.')} ms | " + " | ".join(fmt(v[t], 2) for t in order) +
          f" | {x(v['gregor'], v['kafka'])} | – | {goal} |")
print()
print("Ceiling: kfake --blackhole, which acknowledges without storing (the client's own limit). "
      "Every figure is the median over the rounds; the details follow.")
print()
print("| scenario | target | runs | records/s | MB/s | p50 ms | p99 ms | p99.9 ms | max ms | errors | broker RSS MiB | broker CPU µs/rec | client CPU µs/rec |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
PRODUCE = ["produce16", "produce10k", "produce10krr", "acks1", "lz4", "zstd", "producers100", "topics1000", "topic8000"]
for scen in ["produce16", "consumefan", "consume16", "consumecold", "consumetxn", "produce10k", "produce10krr", "acks1", "lz4", "zstd", "producers100", "topics1000", "topic8000", "e2e", "e2eroll", "ackfloor"]:
    for t in order:
        rs = runs.get((scen, t))
        if not rs: continue
        errs = sum(s.get("errors", 0) + s.get("lost", 0) for s in rs)
        rss = med(scen, t, lambda s: s.get("broker_rss_max_bytes", 0) / 2**20 or None)
        print(f"| {scen} | {t} | {len(rs)} | {fmt(med(scen,t,lambda s: s['records_per_sec']))} | "
              f"{fmt(med(scen,t,lambda s: s['mb_per_sec']),1)} | {fmt(med(scen,t,lat('p50_ms')),2)} | "
              f"{fmt(med(scen,t,lat('p99_ms')),2)} | {fmt(med(scen,t,lat('p99_9_ms')),2)} | "
              f"{fmt(med(scen,t,lat('max_ms')),2)} | {errs} | {fmt(rss)} | "
              f"{fmt(med(scen,t,lambda s: s.get('broker_cpu_us_per_record')),2)} | "
              f"{fmt(med(scen,t,lambda s: s.get('client_cpu_us_per_record')),2)} |")

def ratio(label, a, b, want):
    if a is None or b is None or b == 0:
        print(f"| {label} | – | {want} |"); return
    print(f"| {label} | {a/b:.2f} | {want} |")

rps = lambda scen, t: med(scen, t, lambda s: s["records_per_sec"])
p99 = lambda scen, t: med(scen, t, lat("p99_ms"))
rss = lambda scen, t: med(scen, t, lambda s: s.get("broker_rss_max_bytes") or None)
cpu = lambda scen, t: med(scen, t, lambda s: s.get("broker_cpu_us_per_record"))
print()
print("| ratio (medians) | value | target |")
print("|---|---|---|")
ratio("gregor produce16 / kfake produce16", rps("produce16","gregor"), rps("produce16","kfake"), "≥ 4")
ratio("gregor produce16 / blackhole produce16 (no-storage ceiling)", rps("produce16","gregor"), rps("produce16","blackhole"), "(info)")
ratio("gregor produce10k / gregor produce16", rps("produce10k","gregor"), rps("produce16","gregor"), "≥ 0.8")
ratio("gregor consume16 / gregor produce16", rps("consume16","gregor"), rps("produce16","gregor"), "≥ 1.0")
ratio("gregor e2e p99 / kfake e2e p99", p99("e2e","gregor"), p99("e2e","kfake"), "≤ 0.7")
ratio("blackhole ack p99 at the e2e rate / gregor e2e p99 (client floor)", p99("ackfloor","blackhole"), p99("e2e","gregor"), "(info)")
ratio("gregor-sync produce16 / gregor produce16", rps("produce16","gregor-sync"), rps("produce16","gregor"), "≥ 0.5")
ratio("gregor produce16 / kafka produce16", rps("produce16","gregor"), rps("produce16","kafka"), "> 1")
ratio("gregor produce10k / kafka produce10k", rps("produce10k","gregor"), rps("produce10k","kafka"), "> 1")
for scen in ["consume16", "consumefan", "consumecold", "consumetxn"]:
    ratio(f"gregor {scen} / kafka {scen}", rps(scen,"gregor"), rps(scen,"kafka"), "≥ 1.5")
    ratio(f"broker CPU per record {scen}: gregor / kafka", cpu(scen,"gregor"), cpu(scen,"kafka"), "(info)")
p999 = lambda scen, t: med(scen, t, lat("p99_9_ms"))
for scen in ["e2e", "e2eroll"]:
    ratio(f"gregor {scen} p99 / kafka {scen} p99", p99(scen,"gregor"), p99(scen,"kafka"), "≤ 0.5")
    ratio(f"gregor {scen} p99.9 / kafka {scen} p99.9", p999(scen,"gregor"), p999(scen,"kafka"), "≤ 0.5")
    ratio(f"gregor {scen} max / kafka {scen} max", med(scen,"gregor",lat("max_ms")), med(scen,"kafka",lat("max_ms")), "(info)")
ratio("gregor topics1000 / gregor topic8000 (many topics against one)", rps("topics1000","gregor"), rps("topic8000","gregor"), "≥ 0.8")
ratio("gregor topics1000 / gregor produce16", rps("topics1000","gregor"), rps("produce16","gregor"), "≥ 0.8")
ratio("kafka topics1000 / kafka topic8000", rps("topics1000","kafka"), rps("topic8000","kafka"), "(info)")
ratio("gregor RSS / kafka RSS (produce10k)", rss("produce10k","gregor"), rss("produce10k","kafka"), "< 1")
for scen in PRODUCE:
    if not runs.get((scen, "gregor")): continue
    ratio(f"gregor {scen} / blackhole {scen} (× ceiling)", rps(scen,"gregor"), rps(scen,"blackhole"), "≥ 0.8")
    ratio(f"gregor {scen} / kafka {scen}", rps(scen,"gregor"), rps(scen,"kafka"), "≥ 1.5" if scen == "produce16" else "(info)")
cpu = lambda scen, t: med(scen, t, lambda s: s.get("broker_cpu_us_per_record"))
ratio("broker CPU per record produce16: gregor / kafka", cpu("produce16","gregor"), cpu("produce16","kafka"), "(info)")
ratio("broker CPU per record produce16: gregor / kfake", cpu("produce16","gregor"), cpu("produce16","kfake"), "(info)")
print()
rates = sorted({s.get("target_rate") for (sc, t), rs in runs.items() if sc in ("e2e", "e2eroll") for s in rs if s.get("target_rate")})
if rates:
    print("e2e and e2eroll rates (records/s, the same for every target in a round): " + ", ".join(f"{r:,.0f}" for r in rates))
    print()
warm = os.path.join(out, "warm.txt")
if os.path.exists(warm):
    print("consumecold runs that read warm (the page cache could not be dropped): " + ", ".join(l.strip() for l in open(warm)))
    print()
print("gregor RSS max over produce10k: " + fmt((rss("produce10k","gregor") or 0)/2**20) + " MiB (target < 1024)")
print()
print("disk (dd bs=1M count=1024 conv=fdatasync, before / after):")
for line in open(os.path.join(out, "disk.txt")):
    print("    " + line.strip())
print()
for line in open(os.path.join(out, "env.txt")):
    print("    " + line.rstrip())
