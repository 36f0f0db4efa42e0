#!/usr/bin/env python3
"""RTN / GPTQ / AWQ / NF4 / GGUF Q4_K_M side by side on the bench model (issue 4's acceptance table):
bits per weight, size, perplexity and KL divergence to the F32 base on WikiText-2 test, every method
fed the same calibration set. Writes bench/quantizers.md and bench/quantizers.json.

  tools/quantizer-table.py [--quantlab build/quantlab] [--chunks 20] [--samples 128] [--threads 2]
                           [--work /tmp/quantizer-table] [--extra NAME=ARGS ...]

Steps (each skipped when its output already exists in --work, so a run can be resumed):
  1. F32 base of the bench model (`quantize --type F32`), its log-probs on the first --chunks chunks
     of WikiText-2 test at ctx 512 (`eval kld --save-base`).
  2. The calibrated methods, 4 bits, group 64 (128 does not divide the bench model's 576-wide inputs, and quantlab refuses a folder its consumers cannot load; the published table below was measured at group 128 with a 64-wide last group, before that refusal), --samples paragraphs of ../shared groups_merged.txt
     (per-sample packing, seq-len 512, seed 0, no template: the text is not chat): quantize +
     export + KLD of the in-memory model against the saved base (`--kld-base`).
  3. GGUF Q4_K_M without and with an importance matrix collected (`imatrix --calib`) from the very
     same calibration sequences, and GPTQ rounding onto Q4_K_M's types (`--method gptq --type
     Q4_K_M`, same sequences); KLD of the written files by `eval kld --base`.
Sizes: the exported folder's safetensors / the GGUF file. bpw: quantlab's own count over the
quantized linears (calibrated methods) or the whole file's tensor bytes (GGUF).
"""
import argparse, datetime, json, os, platform, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.environ.get("QUANTLAB_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))


def run(cmd):
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return r.stdout, time.time() - t0


def cached_json(path, make):
    if os.path.exists(path):
        return json.load(open(path))
    j = make()
    with open(path + ".tmp", "w") as f:
        json.dump(j, f, indent=1)
    os.replace(path + ".tmp", path)
    return j


def folder_bytes(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs if f.endswith(".safetensors"))


def gguf_bpw(path):
    import gguf
    r = gguf.GGUFReader(path)
    n = sum(int(t.n_elements) for t in r.tensors)
    b = sum(int(t.n_bytes) for t in r.tensors)
    return 8.0 * b / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quantlab", default=os.path.join(ROOT, "build", "quantlab"))
    ap.add_argument("--work", default="/tmp/quantizer-table")
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--methods", default="rtn,gptq,gptq-act-order,awq,nf4,q4_k_m,q4_k_m-imatrix,gptq-q4_k_m,"
                                         "gptq-q4_k_m-act-order")
    a = ap.parse_args()
    ql, w = a.quantlab, a.work
    os.makedirs(w, exist_ok=True)
    P = lambda n: os.path.join(w, n)
    fetch = lambda role: subprocess.run([os.path.join(ROOT, "tools/fetch-assets"), "--print", role],
                                        capture_output=True, text=True, check=True).stdout.strip()
    shipped, wiki = fetch("bench"), fetch("wikitext2")
    groups = os.path.join(SHARED, "data/imatrix-groups-merged/groups_merged.txt")
    threads = ["--threads", str(a.threads)]
    calib = ["--calib", groups, "--format", "text-paragraphs", "--raw", "--samples", str(a.samples),
             "--seq-len", "512", "--seed", "0"]

    base = P("base-f32.gguf")
    if not os.path.exists(base):
        run([ql, "quantize", "--method", "gguf", "--type", "F32", "--model", shipped, "--out", base])
    base_lp = P(f"base-{a.chunks}.kld")
    if not os.path.exists(base_lp):
        run([ql, "eval", "kld", "--save-base", base_lp, "--model", base, "--file", wiki, "--ctx", "512",
             "--chunks", str(a.chunks)] + threads)

    calibrated = {
        "rtn": ["--method", "rtn"],
        "gptq": ["--method", "gptq"],
        "gptq-act-order": ["--method", "gptq", "--act-order"],
        "awq": ["--method", "awq"],
        "nf4": ["--method", "nf4"],
    }
    rows = {}
    for name in a.methods.split(","):
        if name in calibrated:
            def make(name=name):
                out = P(name)
                o, secs = run([ql, "quantize", "--model", base, "--bits", "4", "--group-size", "64", "--out", out,
                               "--kld-base", base_lp, "--json"] + calibrated[name] + calib + threads)
                j = json.loads(o)
                return {"bpw": j["bits_per_weight"], "bytes": folder_bytes(out), "kld": j["kld"]["kld_mean"],
                        "kld_stderr": j["kld"]["kld_stderr"], "ppl": j["kld"]["ppl"], "ppl_base": j["kld"]["ppl_base"],
                        "same_top": j["kld"]["same_top"], "seconds": round(secs, 1),
                        "peak_rss_mib": j.get("peak_rss_mib"), "calibration_tokens": j.get("calibration_tokens")}
            rows[name] = cached_json(P(name + ".json"), make)
        elif name.startswith("gptq-q4_k_m"):
            # GPTQ rounding onto llama.cpp's Q4_K_M types; the token embedding uses the imatrix of the
            # same calibration sequences (as the q4_k_m-imatrix row).
            def make(name=name):
                out = P(name + ".gguf")
                imat = P("imatrix-calib.gguf")
                if not os.path.exists(imat):
                    run([ql, "imatrix", "--model", base, "--out", imat] + calib + threads)
                cmd = [ql, "quantize", "--method", "gptq", "--type", "Q4_K_M", "--model", base, "--imatrix", imat,
                       "--out", out] + calib + threads
                if name.endswith("act-order"):
                    cmd.append("--act-order")
                _, secs = run(cmd)
                o, _ = run([ql, "eval", "kld", "--model", out, "--base", base_lp, "--json"] + threads)
                j = json.loads(o)["results"]
                return {"bpw": gguf_bpw(out), "bytes": os.path.getsize(out), "kld": j["kld"]["mean"],
                        "kld_stderr": j["kld"]["stderr"], "ppl": j["ppl"], "ppl_base": j["ppl_base"],
                        "same_top": j["same_top"], "seconds": round(secs, 1)}
            rows[name] = cached_json(P(name + ".json"), make)
        elif name.startswith("q4_k_m"):
            def make(name=name):
                out = P(name + ".gguf")
                cmd = [ql, "quantize", "--method", "gguf", "--type", "Q4_K_M", "--model", base, "--out", out] + threads
                t0 = time.time()
                if name.endswith("imatrix"):
                    imat = P("imatrix-calib.gguf")
                    if not os.path.exists(imat):
                        run([ql, "imatrix", "--model", base, "--out", imat] + calib + threads)
                    cmd += ["--imatrix", imat]
                run(cmd)
                secs = time.time() - t0
                o, _ = run([ql, "eval", "kld", "--model", out, "--base", base_lp, "--json"] + threads)
                j = json.loads(o)["results"]
                return {"bpw": gguf_bpw(out), "bytes": os.path.getsize(out), "kld": j["kld"]["mean"],
                        "kld_stderr": j["kld"]["stderr"], "ppl": j["ppl"], "ppl_base": j["ppl_base"],
                        "same_top": j["same_top"], "seconds": round(secs, 1)}
            rows[name] = cached_json(P(name + ".json"), make)
        else:
            sys.exit(f"unknown method {name}")

    res = {"command": " ".join(sys.argv), "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
           "machine": f"{os.cpu_count()} cores ({platform.machine()})", "model": os.path.basename(shipped),
           "base": "F32 dequantization of the shipped file", "kld_text": "wikitext-2 test", "ctx": 512,
           "chunks": a.chunks, "calibration": {"file": "groups_merged.txt", "samples": a.samples, "packing": "per-sample",
                                               "seq_len": 512, "template": "raw"}, "rows": rows}
    with open(os.path.join(ROOT, "bench/quantizers.json"), "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    rtn = rows.get("rtn", {}).get("kld")
    lines = [f"# Quantizers side by side ({res['model']}, F32 base)", "",
             f"Made by `{res['command']}` on {res['date']} ({res['machine']}). KLD and PPL: WikiText-2 test, "
             f"ctx 512, first {a.chunks} chunks, against the F32 base. Calibration: {a.samples} paragraphs of "
             "groups_merged.txt, per-sample packing, seq-len 512, seed 0, raw text. Integer methods: 4 bits, "
             "group 64, asymmetric. Q4_K_M: llama.cpp's mix (quantlab's files are byte-identical to llama-quantize's).",
             "", "| method | bpw | size (MiB) | PPL | mean KLD | KLD / RTN | same top token | time (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        ratio = f"{r['kld'] / rtn:.3f}" if rtn else "—"
        lines.append(f"| {name} | {r['bpw']:.3f} | {r['bytes'] / 2**20:.1f} | {r['ppl']:.4f} | "
                     f"{r['kld']:.5f} ± {r['kld_stderr']:.5f} | {ratio} | {r['same_top']:.4f} | {r['seconds']} |")
    any_row = next(iter(rows.values()))
    lines += ["", f"Base PPL on the same chunks: {any_row['ppl_base']:.4f}. bpw of the calibrated methods counts the "
              "quantized linears only (codes + scales + zeros); embedding/head stay F32 in those exports. GGUF bpw is "
              "over every tensor of the file (Q4_K_M keeps the tied embedding at Q6_K/Q8_0 per llama.cpp's rules)."]
    md = os.path.join(ROOT, "bench/quantizers.md")
    # Hand-written reading notes below the marker survive a re-run.
    marker = "<!-- notes: kept by tools/quantizer-table.py -->"
    old = open(md).read() if os.path.exists(md) else ""
    if marker in old:
        lines += ["", marker + old.split(marker, 1)[1].rstrip("\n")]
    with open(md, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
