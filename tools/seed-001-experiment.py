#!/usr/bin/env python3
"""Seed 001's experiment on quantlab (issue 5): does GPTQ get better with more calibration samples,
and does that depend on the data's quality? 128 vs 1024 samples of a clean and of a noisy
instruction/chat set, GPTQ 4-bit group 128 on the bench model, KL divergence to the F32 base on
WikiText-2 test. Writes bench/seed-001.json; the write-up is docs/seed-001-calibration-scaling.md.

  tools/seed-001-experiment.py [--quantlab build/quantlab] [--chunks 20] [--seq-len 256]
                               [--work /tmp/quantizer-table] [--threads 2]
                               [--bench-model F.gguf --wikitext F --clean F --noisy F]

The last four default to tools/fetch-assets' files (roles bench, wikitext2, crepe-chat, logiqa-chat);
giving them runs the experiment where the asset cache is absent (e.g. a lent machine with more cores:
quantlab's results do not depend on the thread count).

--work is shared with tools/quantizer-table.py (same F32 base and saved base log-probs).
Each run's JSON is kept in --work, so the script resumes where it stopped.
"""
import argparse, datetime, json, os, platform, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# role in tools/fetch-assets -> why it is "clean" or "noisy" (measured by `quantlab calib inspect`)
SETS = {
    "clean": ("crepe-chat", "CREPE as chat messages: 1,520 samples, 0 exact duplicates, no markup/URL/repeated-character flags"),
    "noisy": ("logiqa-chat", "LogiQA as chat messages: 1,354 samples of which 677 are exact duplicates of another"),
}


def run(cmd):
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return r.stdout, time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quantlab", default=os.path.join(ROOT, "build", "quantlab"))
    ap.add_argument("--work", default="/tmp/quantizer-table")
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default="128,1024")
    ap.add_argument("--act-order", action="store_true")
    ap.add_argument("--bench-model", default="")
    ap.add_argument("--wikitext", default="")
    ap.add_argument("--clean", default="")
    ap.add_argument("--noisy", default="")
    a = ap.parse_args()
    ql, w = a.quantlab, a.work
    os.makedirs(w, exist_ok=True)
    fetch = lambda role: subprocess.run([os.path.join(ROOT, "tools/fetch-assets"), "--print", role],
                                        capture_output=True, text=True, check=True).stdout.strip()
    shipped, wiki = a.bench_model or fetch("bench"), a.wikitext or fetch("wikitext2")
    given = {"clean": a.clean, "noisy": a.noisy}
    base = os.path.join(w, "base-f32.gguf")
    if not os.path.exists(base):
        run([ql, "quantize", "--method", "gguf", "--type", "F32", "--model", shipped, "--out", base])
    base_lp = os.path.join(w, f"base-{a.chunks}.kld")
    if not os.path.exists(base_lp):
        run([ql, "eval", "kld", "--save-base", base_lp, "--model", base, "--file", wiki, "--ctx", "512",
             "--chunks", str(a.chunks), "--threads", str(a.threads)])
    rows = []
    for quality, (role, why) in SETS.items():
        data = given[quality] or fetch(role)
        for n in [int(x) for x in a.sizes.split(",")]:
            tag = f"seed001-{quality}-{n}{'-ao' if a.act_order else ''}"
            cache = os.path.join(w, tag + ".json")
            if os.path.exists(cache):
                rows.append(json.load(open(cache)))
                continue
            cmd = [ql, "quantize", "--model", base, "--method", "gptq", "--bits", "4", "--group-size", "128",
                   "--calib", data, "--samples", str(n), "--seq-len", str(a.seq_len), "--seed", "0",
                   "--kld-base", base_lp, "--threads", str(a.threads), "--json"]
            if a.act_order:
                cmd.append("--act-order")
            out, secs = run(cmd)
            j = json.loads(out)
            row = {"set": quality, "role": role, "why": why, "samples_requested": n,
                   "samples_used": j["calibration_samples"], "calibration_tokens": j["calibration_tokens"],
                   "kld": j["kld"]["kld_mean"], "kld_stderr": j["kld"]["kld_stderr"], "ppl": j["kld"]["ppl"],
                   "ppl_base": j["kld"]["ppl_base"], "same_top": j["kld"]["same_top"], "seconds": round(secs, 1)}
            with open(cache, "w") as f:
                json.dump(row, f, indent=1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    res = {"command": " ".join(sys.argv), "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
           "machine": f"{os.cpu_count()} cores ({platform.machine()})", "model": os.path.basename(shipped),
           "method": "gptq 4-bit g128" + (" act-order" if a.act_order else ""), "seq_len": a.seq_len,
           "packing": "per-sample", "template": "the model's chat template", "kld_chunks": a.chunks, "rows": rows}
    with open(os.path.join(w, "seed-001.json") if a.bench_model else os.path.join(ROOT, "bench/seed-001.json"), "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    print("| set | samples | calibration tokens | mean KLD | PPL | same top | time (s) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} ({r['role']}) | {r['samples_used']} | {r['calibration_tokens']} | "
              f"{r['kld']:.5f} ± {r['kld_stderr']:.5f} | {r['ppl']:.4f} | {r['same_top']:.4f} | {r['seconds']} |")


if __name__ == "__main__":
    main()
