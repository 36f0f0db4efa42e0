#!/usr/bin/env python3
"""What a residual-stream rotation (quantlab rotate) does to GGUF quantization error (issue 15, item 2).

For the bench model's F32 base and its rotation (quantlab rotate --seed SEED), quantizes each type
without and with an importance matrix (made by quantlab imatrix on groups_merged, CHUNKS chunks of
512, on the file being quantized: the rotated model's own imatrix for the rotated run) and measures
the KL divergence against the F32 base on WikiText-2 test (20 chunks, ctx 512). Rows are printed as
JSON lines as they finish and written to bench/rotation_kld.json; docs/rotation.md quotes them.

The rotated model is untied (its output head differs from its embedding), so the quantizer sees a
separate token_embd, which llama.cpp's mixes give the default type, where the original's tied
tensor (embedding and head at once) gets the output's type (Q8_0 here). The rotated runs therefore
pass --token-embedding-type with the original file's type, so every tensor the two share has the same
type and the rotated file is larger by exactly its extra output.weight. Rows already in the JSON
file (same type, model, imatrix, embedding type) are kept and not run again (--fresh runs them).

  tools/rotation-kld.py [--work DIR] [--types Q2_K,Q3_K_M,Q4_K_M,IQ4_XS,Q4_0] [--chunks 20] [--seed 0]
  tools/rotation-kld.py --table     # prints bench/rotation_kld.json as a Markdown table
"""
import argparse, datetime, json, os, platform, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return r.stdout


def tensor_type(ql, path, name):
    j = json.loads(run([ql, "inspect", path, "--json"]))
    ts = j.get("tensors") or j["gguf"]["tensors"]
    return next(t.get("type") or t.get("dtype") for t in ts if t["name"] == name)


def table(path):
    res = json.load(open(path))
    by = {(r["type"], r["model"], r["imatrix"]): r for r in res["rows"]}
    lines = ["| type | imatrix | original: bpw | KLD | same top | rotated: bpw | KLD | same top | KLD rotated / original |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (typ, model, imat), o in by.items():
        r = by.get((typ, "rotated", imat))
        if model != "original" or not r:
            continue
        lines.append(f"| {typ} | {'yes' if imat else 'no'} | {o['bpw']:.2f} | {o['kld']:.4f} ± {o['kld_stderr']:.4f} | "
                     f"{100 * o['same_top_p']:.1f} % | {r['bpw']:.2f} | {r['kld']:.4f} ± {r['kld_stderr']:.4f} | "
                     f"{100 * r['same_top_p']:.1f} % | {r['kld'] / o['kld']:.2f} |")
    print("\n".join(lines))


def main():
    if "--table" in sys.argv:
        return table(os.path.join(ROOT, "bench/rotation_kld.json"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--quantlab", default=os.path.join(ROOT, "build", "quantlab"))
    ap.add_argument("--work", default="/tmp/rotation-kld")
    ap.add_argument("--types", default="Q2_K,Q3_K_M,Q4_K_M,IQ4_XS,Q4_0")
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--imatrix-chunks", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fresh", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    ql, t = a.quantlab, ["--threads", str(a.threads)]
    fetch = lambda role: run([os.path.join(ROOT, "tools/fetch-assets"), "--print", role]).strip()
    wiki, calib = fetch("wikitext2"), fetch("groups_merged")
    w = lambda name: os.path.join(a.work, name)
    base = w("base-f32.gguf")
    if not os.path.exists(base):
        run([ql, "quantize", "--method", "gguf", "--type", "F32", "--model", fetch("bench"), "--out", base])
    rot = w(f"rotated-s{a.seed}-f32.gguf")
    if not os.path.exists(rot):
        print(run([ql, "rotate", "--model", base, "--out", rot, "--seed", str(a.seed)] + t).strip(), flush=True)
    logits = w("base-logits.kld")
    if not os.path.exists(logits):
        run([ql, "eval", "kld", "--model", base, "--file", wiki, "--ctx", "512", "--chunks",
             str(a.chunks), "--save-base", logits] + t)
    imatrix = {}
    for name, model in (("original", base), ("rotated", rot)):
        imatrix[name] = w(f"imatrix-{name}.gguf")
        if not os.path.exists(imatrix[name]):
            run([ql, "imatrix", "--model", model, "--file", calib, "--ctx", "512", "--chunks", str(a.imatrix_chunks),
                 "--out", imatrix[name]] + t)
    rows = []
    out_json = os.path.join(ROOT, "bench/rotation_kld.json")
    old = [] if a.fresh or not os.path.exists(out_json) else json.load(open(out_json))["rows"]
    for typ in a.types.split(","):
        embd_type = None  # the original file's token_embd type, for the rotated run
        for use_imatrix in (True, False):
            for name, model in (("original", base), ("rotated", rot)):
                q = w(f"{name}-{typ}{'-imat' if use_imatrix else ''}.gguf")
                key = lambda r: (r["type"], r["model"], r["imatrix"], r.get("token_embedding_type"))
                if name == "original":
                    embd_type = None
                    cached = [r for r in old if key(r) == (typ, name, use_imatrix, None)]
                    if cached and os.path.exists(q):
                        rows.append(cached[0])
                        embd_type = tensor_type(ql, q, "token_embd.weight")
                        print(json.dumps(cached[0]), flush=True)
                        continue
                t0 = time.time()
                cmd = [ql, "quantize", "--method", "gguf", "--type", typ, "--model", model, "--out", q, "--json"] + t
                if use_imatrix:
                    cmd += ["--imatrix", imatrix[name]]
                if name == "rotated":
                    cmd += ["--token-embedding-type", embd_type]
                qj = json.loads(run(cmd))
                if name == "original":
                    embd_type = next(x["to"] for x in qj["tensors"] if x["name"] == "token_embd.weight")
                kj = json.loads(run([ql, "eval", "kld", "--model", q, "--base", logits, "--json"] + t))
                res = kj["results"]
                row = {"type": typ, "model": name, "imatrix": use_imatrix,
                       "token_embedding_type": embd_type if name == "rotated" else None, "bpw": qj["bpw"], "file_size": qj["file_size"],
                       "types": qj["types"], "kld": res["kld"]["mean"], "kld_stderr": res["kld"]["stderr"],
                       "same_top_p": res.get("same_top"), "ppl": res["ppl"], "ppl_base": res.get("ppl_base"),
                       "seconds": round(time.time() - t0, 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)
                res_all = {"command": " ".join(sys.argv), "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "machine": f"{os.cpu_count()} cores ({platform.machine()}), shared", "seed": a.seed,
                           "chunks": a.chunks, "ctx": 512, "imatrix_text": "groups_merged", "imatrix_chunks": a.imatrix_chunks,
                           "rows": rows}
                with open(out_json, "w") as fh:
                    json.dump(res_all, fh, indent=1)
                    fh.write("\n")


if __name__ == "__main__":
    main()
