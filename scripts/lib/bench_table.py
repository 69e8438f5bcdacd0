"""Joins the parts scripts/bench.sh measured into one JSON and prints the table.

Usage: bench_table.py PARTS_DIR OUT_JSON SHORT SECONDS

Parts: bundle.json (the script), assembly.json (examples/bench_assembly.rs), stack.json
(tests/api/bench.rs). Goals are reported, never enforced: only a missing part fails.
"""
import datetime
import json
import os
import platform
import subprocess
import sys

parts, out, short, secs = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])


def load(name):
    with open(os.path.join(parts, name)) as f:
        return json.load(f)


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git(*args):
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


bundle, assembly, stack = load("bundle.json"), load("assembly.json"), load("stack.json")
machine = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "nproc": os.cpu_count(),
    "cpu": cpu_model(),
    "commit": git("rev-parse", "--short", "HEAD"),
    "short": short,
    "seconds": secs,
}
everything = {"machine": machine, "bundle": bundle, "assembly": assembly, **stack}
with open(out, "w") as f:
    json.dump(everything, f, indent=2)
    f.write("\n")


def kib(n):
    return f"{n / 1024:.0f} KiB"


def mib(n):
    return f"{n / (1024 * 1024):.2f} MiB"


def ms(v):
    return "–" if v is None else f"{v:.1f} ms"


rows = []  # (figure, ratio, absolute, goal)
t, m = bundle["talecast"], bundle["minimal"]
rows.append(("bundle, raw", f"{t['raw'] / m['raw']:.2f}×", f"{kib(t['raw'])} vs minimal Worker {kib(m['raw'])}", "≤ 4×"))
rows.append(("bundle, gzip", f"{t['gzip'] / m['gzip']:.2f}×", f"{kib(t['gzip'])} vs minimal Worker {kib(m['gzip'])}", "≤ 4×"))

s = stack["story_job"]
rows.append((
    f"story job ({s['chapters']} ch., enhance)",
    f"{s['ratio']:.2f}",
    f"wall {s['wall_s']:.1f} s, ideal {s['ideal_s']:.1f} s ({s['llm_calls']} LLM calls × {s['latency_ms']} ms)",
    "≤ 1.10",
))
a = stack["audio_job"]
rows.append((
    "audio job",
    f"{a['ratio']:.2f}",
    f"wall {a['wall_s']:.1f} s, ideal {a['ideal_s']:.1f} s ({a['lines']} lines, {a['concurrency']} at a time, × {a['latency_ms']} ms); "
    f"stand-in's own answer time per slot {a['stand_in_s']:.1f} s (ratio {a['ratio_to_stand_in']:.2f})",
    "≤ 1.15",
))

sr = stack["status_reads"]
base = sr["baseline"]
for name in ("task", "story"):
    r = sr[name]
    rows.append((
        f"status reads, GET /{'tasks' if name == 'task' else 'stories'}/{{id}}",
        f"{r['rps'] / base['rps']:.0%}",
        f"{r['rps']:.0f} req/s, p50 {ms(r['p50_ms'])}, p99 {ms(r['p99_ms'])}; no-op route {base['rps']:.0f} req/s, "
        f"p50 {ms(base['p50_ms'])}, p99 {ms(base['p99_ms'])}",
        "≥ 50 %",
    ))

p = stack["progress_latency"]
by_job = "; ".join(
    f"{name} job's {j['events']}: p50 {ms(j['p50_ms'])}, p95 {ms(j['p95_ms'])}"
    for name, j in (("story", p["story_job"]), ("audio", p["audio_job"]))
    if j["events"]
)
rows.append((
    "progress latency (commit → SSE)",
    f"p95 {ms(p['p95_ms'])}",
    f"p50 {ms(p['p50_ms'])}, max {ms(p['max_ms'])} over {p['events']} events ({p['unmatched']} unmatched, "
    f"{p['ambiguous']} ambiguous); {by_job}",
    "p95 ≤ 50 ms",
))

first = assembly["rows"][0]
for r in assembly["rows"]:
    rows.append((
        f"chapter assembly, {r['multiple']}× ({r['clips']} clips, {r['minutes']:.1f} min)",
        f"{r['stream_peak_bytes'] / first['stream_peak_bytes']:.2f}× of 1×",
        f"streamed peak {mib(r['stream_peak_bytes'])} ({r['stream_peak_bytes'] / r['largest_clip_bytes']:.1f}× the largest clip), "
        f"{r['stream_ms']:.0f} ms; in-memory join peak {mib(r['join_peak_bytes'])} for a {mib(r['chapter_bytes'])} chapter",
        "flat",
    ))

rt = stack["round_trips"]
rows.append((
    "round trips, story job",
    f"{rt['per_llm_call']:.2f} per LLM call",
    f"{rt['story_job']} Neon requests for {rt['llm_calls']} LLM calls",
    "≤ 5",
))
rows.append((
    "round trips, audio job",
    f"{rt['per_clip']:.2f} per clip",
    f"{rt['audio_job']} Neon requests for {rt['clips']} clips (6-line chapters)",
    "≤ 4",
))
over = [r for r, v in rt["routes"].items() if v["budget"] is not None and v["worker"] > v["budget"]]
total = sum(v["worker"] for v in rt["routes"].values())
budget = sum(v["budget"] or 0 for v in rt["routes"].values())
rows.append((
    f"round trips, {len(rt['routes'])} routes",
    f"{total / budget:.2f} of budget" if budget else "–",
    f"{total} in all against docs/API.md's {budget}; over budget: {', '.join(over) or 'none'}",
    "each ≤ its row",
))
i = stack["idle"]
rows.append(("idle", f"{i['neon_requests']} requests", f"{i['runs']} scheduled runs, {i['sweeps_that_asked']} sweeps asked Neon", "0"))

head = ("figure", "ratio", "absolute", "goal")
table = [
    f"bench: {machine['date']}, nproc {machine['nproc']}, {machine['cpu']}, commit {machine['commit']}, "
    f"{'short form (tiny sizes)' if short else 'full'}, {secs} s",
    "",
    "| " + " | ".join(head) + " |",
    "| " + " | ".join("---" for _ in head) + " |",
    *("| " + " | ".join(r) + " |" for r in rows),
]
# The same table as Markdown, for README.md's "Benchmarks" (between its bench markers).
with open(os.path.splitext(out)[0] + ".md", "w") as f:
    f.write("\n".join(table) + "\n")
print("\n".join(table))
print()
print("Neon round trips per route (the Worker's count; Neon's own where it is exact):")
for route, v in rt["routes"].items():
    neon = "" if v["neon"] is None else f", Neon counted {v['neon']}"
    print(f"  {route}: {v['worker']} (budget {v['budget']}{neon})")
print(f"bench: wrote {out}")
