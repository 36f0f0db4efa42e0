#!/usr/bin/env python3
"""Acceptance measurements of `quantlab quantize --method gguf` and `quantlab imatrix` against
llama.cpp (issue 4) on the bench model, recorded in assets/reference.json (models.bench.gguf_quantize)
and as a table in bench/gguf_quantize.md.

Steps (each skipped when its output exists in --work, so the script can be resumed):
  1. F32 base: `quantlab quantize --type F32` of the shipped Q4_1 model; compared with llama.cpp's
     own dequantization (the `f32` variant of reference.json) byte for byte, provenance keys aside.
  2. For Q8_0, Q6_K, Q4_K_M, Q2_K: quantlab's file and llama-quantize's file from that base, compared
     tensor by tensor; KL divergence of both to the base (`quantlab eval kld --base`, WikiText-2,
     ctx 512, --chunks N), PPL of quantlab's file by quantlab (from the same eval kld run) and by
     llama-perplexity (-t 1, same chunks).
  3. imatrix on groups_merged (ctx 512, --chunks M) by quantlab and by llama-imatrix: per-tensor
     relative difference of the mean x²; llama-quantize loads quantlab's imatrix; both quantizers
     with quantlab's imatrix, compared and measured as in 2.

Command used for the recorded figures (2 shared cores):
  tools/gguf-acceptance.py --quantlab build-ggufq/quantlab --chunks 4 --imatrix-chunks 8
"""
import argparse, datetime, hashlib, json, os, re, subprocess, sys, time

import gguf
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ASSETS = os.environ.get("QUANTLAB_ASSETS", os.path.expanduser("~/.cache/quantlab/assets"))
SHARED = os.environ.get("QUANTLAB_SHARED", "/work/shared")
TYPES = ["Q8_0", "Q6_K", "Q4_K_M", "Q2_K"]


def sh(cmd, log=None):
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if log:
        with open(log, "w") as f:
            f.write(" ".join(cmd) + "\n" + r.stdout + r.stderr)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return r.stdout, time.time() - t0


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def field_value(f):
    return [bytes(f.parts[i]).hex() for i in f.data]


def compare(a_path, b_path):
    """Tensor infos and bytes, and metadata other than quantlab.* (and the imatrix file path)."""
    a, b = gguf.GGUFReader(a_path), gguf.GGUFReader(b_path)
    skip = lambda k: k.startswith("quantlab.") or k.startswith("GGUF.") or k == "quantize.imatrix.file"
    ka = [(k, field_value(f)) for k, f in a.fields.items() if not skip(k)]
    kb = [(k, field_value(f)) for k, f in b.fields.items() if not skip(k)]
    ta = {t.name: t for t in a.tensors}
    differing = []
    for t in b.tensors:
        u = ta.get(t.name)
        if u is None or u.tensor_type != t.tensor_type or bytes(u.data.tobytes()) != bytes(t.data.tobytes()):
            differing.append(t.name)
    same_order = [t.name for t in a.tensors] == [t.name for t in b.tensors]
    return {"metadata_identical": ka == kb, "tensor_order_identical": same_order,
            "tensors_differing": len(differing) + abs(len(a.tensors) - len(b.tensors)),
            "first_differing": differing[:5], "n_tensors": len(b.tensors),
            "identical": ka == kb and same_order and not differing and len(a.tensors) == len(b.tensors)}


def kld(ql, model, base, chunks, threads):
    out, secs = sh([ql, "eval", "kld", "--model", model, "--base", base, "--chunks", str(chunks),
                    "--threads", str(threads), "--json"])
    j = json.loads(out)["results"]
    return {"kld_mean": j["kld"]["mean"], "kld_stderr": j["kld"]["stderr"], "kld_p99": j["kld"]["p99"],
            "same_top": j["same_top"], "ppl": j["ppl"], "seconds": round(secs, 1)}


def ppl_llama(bin_dir, model, text, chunks):
    r = subprocess.run([f"{bin_dir}/llama-perplexity", "-m", model, "-f", text, "-c", "512", "-b", "512",
                        "--chunks", str(chunks), "-t", "1"], capture_output=True, text=True)
    m = re.search(r"Final estimate: PPL = ([0-9.]+)", r.stdout + r.stderr)
    return float(m.group(1))


def imatrix_diff(a_path, b_path):
    """Per tensor: max over columns of |a-b| / max(|a|,|b|) of the mean x², and the relative L2 norm."""
    def load(p):
        r = gguf.GGUFReader(p)
        t = {x.name: np.array(x.data, dtype=np.float64).reshape(-1) for x in r.tensors}
        return {n[:-len(".in_sum2")]: t[n] / t[n[:-len(".in_sum2")] + ".counts"][0] for n in t if n.endswith(".in_sum2")}
    a, b = load(a_path), load(b_path)
    rel_l2 = {n: float(np.linalg.norm(a[n] - b[n]) / np.linalg.norm(b[n])) for n in b if n in a}
    return {"entries_a": len(a), "entries_b": len(b), "common": len(rel_l2),
            "rel_l2_max": max(rel_l2.values()), "rel_l2_mean": float(np.mean(list(rel_l2.values()))),
            "worst": max(rel_l2, key=rel_l2.get)}


def record(res):
    """Merges the results into assets/reference.json as models.bench.gguf_quantize (other entries kept)."""
    ref_path = os.path.join(ROOT, "assets/reference.json")
    ref = json.load(open(ref_path)) if os.path.exists(ref_path) else {"models": {}}
    ref.setdefault("models", {}).setdefault("bench", {})["gguf_quantize"] = res
    with open(ref_path + ".tmp", "w") as f:
        json.dump(ref, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(ref_path + ".tmp", ref_path)


def main():
    if "--record-only" in sys.argv:  # re-merge bench/gguf_quantize.json (e.g. after reference.json was regenerated)
        return record(json.load(open(os.path.join(ROOT, "bench/gguf_quantize.json"))))
    ap = argparse.ArgumentParser()
    ap.add_argument("--quantlab", default=os.path.join(ROOT, "build", "quantlab"))
    ap.add_argument("--llama-bin", default=os.environ.get("LLAMA_CPP_BIN", "/work/peers/llama.cpp-build/bin"))
    ap.add_argument("--work", default="/tmp/ggufq-acc")
    ap.add_argument("--chunks", type=int, default=40)
    ap.add_argument("--imatrix-chunks", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-ppl", action="store_true")
    ap.add_argument("--ppl-all", action="store_true", help="llama-perplexity also on the imatrix files")
    a = ap.parse_args()
    ql, lb, w = a.quantlab, a.llama_bin, a.work
    os.makedirs(w, exist_ok=True)
    shipped = os.path.join(ASSETS, "models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf")
    llama_f32 = os.path.join(ASSETS, "derived/SmolLM2-135M-Instruct.Q4_1.f32.gguf")
    wiki = os.path.join(SHARED, "data/wikitext-2-raw/wiki.test.raw")
    groups = os.path.join(SHARED, "data/imatrix-groups-merged/groups_merged.txt")
    P = lambda n: os.path.join(w, n)
    res = {"command": " ".join(sys.argv), "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
           "machine": "2 shared cores (x86_64)", "kld_chunks": a.chunks, "ctx": 512, "text": "wikitext-2 test",
           "imatrix": {"text": "groups_merged.txt", "ctx": 512, "chunks": a.imatrix_chunks}, "types": {}}

    base = P("base-f32.gguf")
    if not os.path.exists(base):
        sh([ql, "quantize", "--method", "gguf", "--type", "F32", "--model", shipped, "--out", base])
    res["f32_base"] = {"vs_llama_cpp_dequantization": compare(base, llama_f32)}

    base_logits = P("base.kld")
    if not os.path.exists(base_logits):
        sh([ql, "eval", "kld", "--model", base, "--file", wiki, "--ctx", "512", "--chunks", str(a.chunks),
            "--threads", str(a.threads), "--save-base", base_logits])

    im_q, im_l = P("quantlab-imatrix.gguf"), P("llama-imatrix.gguf")
    if not os.path.exists(im_q):
        sh([ql, "imatrix", "--model", base, "--file", groups, "--ctx", "512", "--chunks", str(a.imatrix_chunks),
            "--threads", str(a.threads), "--out", im_q])
    if not os.path.exists(im_l):
        sh([f"{lb}/llama-imatrix", "-m", llama_f32, "-f", groups, "-c", "512", "--chunks", str(a.imatrix_chunks),
            "-t", "1", "--no-ppl", "-o", im_l])
    res["imatrix"]["quantlab_vs_llama_imatrix"] = imatrix_diff(im_q, im_l)

    for group, extra_q, extra_l in (("no_imatrix", [], []), ("imatrix", ["--imatrix", im_q], ["--imatrix", im_q])):
        rows = {}
        for t in TYPES:
            q, l = P(f"quantlab-{group}-{t}.gguf"), P(f"llama-{group}-{t}.gguf")
            cached = P(f"row-{group}-{t}.json")  # a finished row (resuming after an interruption)
            if os.path.exists(cached) and os.path.exists(q):
                rows[t] = json.load(open(cached))
                continue
            row = {}
            if not os.path.exists(q):
                out, secs = sh([ql, "quantize", "--method", "gguf", "--type", t, "--model", base, "--out", q,
                                "--threads", str(a.threads), "--json", *extra_q])
                j = json.loads(out)
                row["quantlab_quantize"] = {"bpw": j["bpw"], "file_size": j["file_size"], "seconds": j["seconds"],
                                            "peak_rss_mib": j["peak_rss_mib"]}
            if not os.path.exists(l):
                sh([f"{lb}/llama-quantize", *extra_l, base, l, t, "1"])
            row["comparison"] = compare(q, l)
            row["quantlab_file"] = kld(ql, q, base_logits, a.chunks, a.threads)
            row["llama_quantize_file"] = (row["quantlab_file"] if row["comparison"]["identical"]
                                          else kld(ql, l, base_logits, a.chunks, a.threads))
            row["kld_ratio_quantlab_over_llama"] = row["quantlab_file"]["kld_mean"] / row["llama_quantize_file"]["kld_mean"]
            if not a.skip_ppl and (group == "no_imatrix" or a.ppl_all):
                # quantlab's PPL of the file on the same chunks comes with its KLD run (eval kld reports it).
                pq = row["quantlab_file"]["ppl"]
                pl = ppl_llama(lb, q, wiki, a.chunks)
                row["ppl_of_quantlab_file"] = {"quantlab_eval_ppl": pq, "llama_perplexity": pl,
                                               "rel_diff": abs(pq - pl) / pl}
            rows[t] = row
            with open(cached, "w") as f:
                json.dump(row, f)
            print(t, group, json.dumps(row), flush=True)
        res["types"][group] = rows

    # bench/gguf_quantize.json, merged into reference.json, and a Markdown table.
    os.makedirs(os.path.join(ROOT, "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "bench/gguf_quantize.json"), "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    record(res)
    lines = ["# GGUF quantization: quantlab vs llama-quantize (SmolLM2-135M-Instruct, F32 base)", "",
             f"Made by `{res['command']}` on {res['date']} ({res['machine']}). KLD to the F32 base on WikiText-2 test, "
             f"ctx 512, first {a.chunks} chunks (`quantlab eval kld --base`). The base is the shipped Q4_1 model "
             "dequantized by quantlab (identical to llama.cpp's dequantization: "
             f"{res['f32_base']['vs_llama_cpp_dequantization']['identical']}).", "",
             "| type | imatrix | bpw | identical to llama-quantize | KLD quantlab | KLD llama-quantize | ratio | PPL quantlab | PPL llama.cpp (same file) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for group in ("no_imatrix", "imatrix"):
        for t, r in res["types"][group].items():
            bpw = r.get("quantlab_quantize", {}).get("bpw", float("nan"))
            p = r.get("ppl_of_quantlab_file", {})
            lines.append(f"| {t} | {'groups_merged' if group == 'imatrix' else '—'} | {bpw:.3f} | "
                         f"{'yes' if r['comparison']['identical'] else 'no (%d tensors differ)' % r['comparison']['tensors_differing']} | "
                         f"{r['quantlab_file']['kld_mean']:.5f} ± {r['quantlab_file']['kld_stderr']:.5f} | "
                         f"{r['llama_quantize_file']['kld_mean']:.5f} | {r['kld_ratio_quantlab_over_llama']:.4f} | "
                         f"{p.get('quantlab_eval_ppl', float('nan')):.4f} | {p.get('llama_perplexity', float('nan')):.4f} |")
    d = res["imatrix"]["quantlab_vs_llama_imatrix"]
    lines += ["", f"imatrix (groups_merged, ctx 512, {a.imatrix_chunks} chunks): quantlab vs llama-imatrix, per-tensor "
              f"relative L2 difference of mean x²: mean {d['rel_l2_mean']:.2e}, max {d['rel_l2_max']:.2e} ({d['worst']}); "
              f"{d['common']} of {d['entries_b']} entries in common. The imatrix rows above use quantlab's imatrix "
              "for both quantizers (llama-quantize loads it).", ""]
    os.makedirs(os.path.join(ROOT, "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "bench/gguf_quantize.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
