#!/usr/bin/env python3
"""Bit allocation (quantize --target-size) against llama.cpp's presets at the same file size (issue 15, item 3).

For the bench model's F32 base, quantizes each preset without and with an importance matrix (quantlab
imatrix on groups_merged, IMATRIX_CHUNKS chunks of 512: llama-quantize's own mixes, byte-identical),
then an allocation whose --target-size is that preset's file size (so the allocation is never larger),
and measures every file's KL divergence against the F32 base on WikiText-2 test (CHUNKS chunks, ctx
512). The sensitivities are measured once per imatrix setting, on groups_merged (held out from the
evaluation text: --alloc-chunks chunks of --alloc-ctx tokens), and reused for every budget
(--alloc-reuse). Rows go to bench/bit_allocation_kld.json as they finish; --table prints them as the
Markdown table of docs/bit-allocation.md.

  tools/bit-allocation-kld.py [--work DIR] [--presets Q2_K,Q3_K_M,Q4_K_M,Q5_K_M] [--chunks 8]
                              [--alloc-chunks 2] [--alloc-ctx 256] [--alloc-unit group] [--threads 2]
  tools/bit-allocation-kld.py --table [ROWS.json ...]
"""
import argparse, datetime, json, os, platform, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT_JSON = os.path.join(ROOT, "bench/bit_allocation_kld.json")


def run(cmd):
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return r.stdout


def table(paths):
    rows = [r for p in paths for r in json.load(open(p))["rows"]]
    lines = ["| budget (preset's file) | imatrix | preset: bpw | KLD | same top | allocation: bpw | KLD | same top | KLD allocation / preset |",
             "|---|---|---|---|---|---|---|---|---|"]
    by = {(r["preset"], r["imatrix"], r["kind"]): r for r in rows}
    for (preset, imat, kind), p in by.items():
        a = by.get((preset, imat, "allocation"))
        if kind != "preset" or not a:
            continue
        lines.append(f"| {preset} ({p['file_size']:,} B) | {'yes' if imat else 'no'} | {p['bpw']:.3f} | {p['kld']:.4f} ± {p['kld_stderr']:.4f} | "
                     f"{100 * p['same_top_p']:.1f} % | {a['bpw']:.3f} | {a['kld']:.4f} ± {a['kld_stderr']:.4f} | "
                     f"{100 * a['same_top_p']:.1f} % | {a['kld'] / p['kld']:.2f} |")
    print("\n".join(lines))


def main():
    if "--table" in sys.argv:
        return table([p for p in sys.argv[1:] if p != "--table"] or [OUT_JSON])
    ap = argparse.ArgumentParser()
    ap.add_argument("--quantlab", default=os.path.join(ROOT, "build", "quantlab"))
    ap.add_argument("--work", default="/tmp/bit-allocation-kld")
    ap.add_argument("--presets", default="Q2_K,Q3_K_M,Q4_K_M,Q5_K_M")
    ap.add_argument("--chunks", type=int, default=8)
    ap.add_argument("--imatrix-chunks", type=int, default=20)
    ap.add_argument("--alloc-chunks", type=int, default=2)
    ap.add_argument("--alloc-ctx", type=int, default=256)
    ap.add_argument("--alloc-unit", default="group")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--imatrix", choices=["both", "no", "yes"], default="both", help="which runs: without, with an imatrix, or both")
    ap.add_argument("--out-json", default=OUT_JSON, help="rows go here (two halves run side by side write two files)")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    ql, t = a.quantlab, ["--threads", str(a.threads)]
    fetch = lambda role: run([os.path.join(ROOT, "tools/fetch-assets"), "--print", role]).strip()
    wiki, calib = fetch("wikitext2"), fetch("groups_merged")
    w = lambda name: os.path.join(a.work, name)
    base = w("base-f32.gguf")
    if not os.path.exists(base):
        run([ql, "quantize", "--method", "gguf", "--type", "F32", "--model", fetch("bench"), "--out", base])
    logits = w(f"base-logits-{a.chunks}.kld")
    if not os.path.exists(logits):
        run([ql, "eval", "kld", "--model", base, "--file", wiki, "--ctx", "512", "--chunks", str(a.chunks), "--save-base", logits] + t)
    imatrix = w("imatrix.gguf")
    if not os.path.exists(imatrix):
        run([ql, "imatrix", "--model", base, "--file", calib, "--ctx", "512", "--chunks", str(a.imatrix_chunks), "--out", imatrix] + t)
    rows = []
    presets = a.presets.split(",")
    # Rows of an earlier run (same file) whose GGUF is still there are kept, not run again; an
    # allocation's --json output beside its GGUF (q.gguf.json) likewise.
    old = json.load(open(a.out_json))["rows"] if os.path.exists(a.out_json) else []

    def kld(q):
        res = json.loads(run([ql, "eval", "kld", "--model", q, "--base", logits, "--json"] + t))["results"]
        return {"kld": res["kld"]["mean"], "kld_stderr": res["kld"]["stderr"], "same_top_p": res.get("same_top"), "ppl": res["ppl"]}

    def save():
        res_all = {"command": " ".join(sys.argv), "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "machine": f"{os.cpu_count()} vCPUs ({platform.machine()}), shared with other jobs", "chunks": a.chunks,
                   "ctx": 512, "imatrix_text": "groups_merged", "imatrix_chunks": a.imatrix_chunks, "alloc_text": "groups_merged",
                   "alloc_chunks": a.alloc_chunks, "alloc_ctx": a.alloc_ctx, "alloc_unit": a.alloc_unit, "rows": rows}
        with open(a.out_json, "w") as fh:
            json.dump(res_all, fh, indent=1)
            fh.write("\n")

    for use_imatrix in {"both": (False, True), "no": (False,), "yes": (True,)}[a.imatrix]:
        im = ["--imatrix", imatrix] if use_imatrix else []
        tag = "-imat" if use_imatrix else ""
        sizes = {}
        for p in presets:
            q = w(f"{p}{tag}.gguf")
            cached = [r for r in old if (r["kind"], r["preset"], r["imatrix"]) == ("preset", p, use_imatrix)]
            if cached and os.path.exists(q):
                rows.append(cached[0])
                sizes[p] = cached[0]["file_size"]
                continue
            t0 = time.time()
            qj = json.loads(run([ql, "quantize", "--method", "gguf", "--type", p, "--model", base, "--out", q, "--json"] + im + t))
            secs = round(time.time() - t0, 1)
            sizes[p] = qj["file_size"]
            row = {"kind": "preset", "preset": p, "imatrix": use_imatrix, "bpw": qj["bpw"], "file_size": qj["file_size"],
                   "types": qj["types"], "quantize_seconds": secs}
            row.update(kld(q))
            rows.append(row)
            print(json.dumps(row), flush=True)
            save()
        # Measure once (at the largest budget), then reuse the table for every other budget.
        first = None
        for p in sorted(presets, key=lambda p: -sizes[p]):
            q = w(f"alloc-{p}{tag}.gguf")
            cmd = [ql, "quantize", "--method", "gguf", "--target-size", str(sizes[p]), "--alloc-unit", a.alloc_unit,
                   "--model", base, "--out", q, "--json"] + im + t
            cmd += ["--alloc-reuse", first] if first else ["--alloc-text", calib, "--alloc-chunks", str(a.alloc_chunks),
                                                           "--alloc-ctx", str(a.alloc_ctx)]
            t0 = time.time()
            if os.path.exists(q) and os.path.exists(q + ".json"):
                qj = json.load(open(q + ".json"))
            else:
                qj = json.loads(run(cmd))
                with open(q + ".json", "w") as fh:
                    json.dump(qj, fh)
            secs = round(time.time() - t0, 1)
            first = first or q
            chosen = {}
            for u in qj["units"]:
                chosen[u["chosen"]] = chosen.get(u["chosen"], 0) + 1
            row = {"kind": "allocation", "preset": p, "imatrix": use_imatrix, "bpw": qj["bpw"], "file_size": qj["file_size"],
                   "budget": sizes[p], "predicted_kld": qj["predicted_kld"], "measure_seconds": qj["measure_seconds"],
                   "reused": qj["reused"], "chosen": chosen, "quantize_seconds": secs,
                   "units": {u["name"]: u["chosen"] for u in qj["units"]}}
            assert qj["file_size"] <= sizes[p], "allocation over budget"
            row.update(kld(q))
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "units"}), flush=True)
            save()


if __name__ == "__main__":
    main()
