#!/usr/bin/env python3
"""Loads quantlab's bitsandbytes exports with transformers + bitsandbytes on a CUDA GPU (the path
most users take) and compares their logits with the consumer fixture recorded on the CPU
(tools/make-consumer-fixtures.py), printing the largest differences.

    python3 tools/check-exports-on-gpu.py FIXTURE.json FOLDER_ROOT [EXPORT ...]

FOLDER_ROOT holds the export folders by the fixture's export names (as make-consumer-fixtures.py
leaves them under --work). Run on the device machine with the bitsandbytes 0.50.2 wheel carried
(see the report of the session that ran it for the exact command).
"""
import json
import os
import sys

import numpy as np
import torch
import transformers


def main():
    fixture = json.load(open(sys.argv[1]))
    root = sys.argv[2]
    names = sys.argv[3:] or [n for n, e in fixture["exports"].items() if e["quant_method"] == "bitsandbytes"]
    import bitsandbytes as bnb
    print("torch", torch.__version__, "transformers", transformers.__version__, "bitsandbytes", bnb.__version__,
          torch.cuda.get_device_name(0))
    torch.backends.cuda.matmul.allow_tf32 = False
    for name in names:
        e = fixture["exports"][name]
        model = transformers.AutoModelForCausalLM.from_pretrained(os.path.join(root, name), device_map="cuda",
                                                                  dtype=torch.float32)
        with torch.no_grad():
            logits = model(torch.tensor([fixture["tokens"]], device="cuda")).logits[0].float().cpu().numpy()
        key = "int8_matmul_positions" if "int8_matmul_positions" in e else "positions"
        worst, top_same = 0.0, 0
        for p in e[key]:
            row = logits[p["position"]]
            worst = max(worst, float(np.max(np.abs(row[p["top_ids"]] - np.array(p["top_logits"])))))
            top_same += int(np.argmax(row)) == p["top_ids"][0]
        print(f"{name}: GPU vs CPU consumer ({key}): max |d logit| {worst:.3g}, same top token {top_same}/{len(e[key])}")


if __name__ == "__main__":
    main()
