#!/usr/bin/env python3
"""Test helper: builds a two-layer busybox image as a docker-save archive and
as an OCI image layout (layer 2 gzip-compressed there), with a whiteout
(data/a deleted) and an opaque directory (dir/ replaced) in layer 2.
Usage: make_images.py BUSYBOX OUTDIR  -> OUTDIR/docker.tar, OUTDIR/oci/"""
import gzip, hashlib, io, json, os, sys, tarfile

busybox, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)

def tar_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, data
                t.addfile(info)
            else:
                info.size, info.mode = len(data), (0o755 if kind == "exe" else 0o644)
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()

bb = open(busybox, "rb").read()
l1 = [("bin", "dir", None), ("bin/busybox", "exe", bb)]
l1 += [(f"bin/{a}", "link", "busybox") for a in ("sh", "cat", "ls", "true", "echo", "sleep", "id")]
l1 += [("etc", "dir", None), ("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/:/bin/sh\n"),
       ("data", "dir", None), ("data/a", "file", b"a\n"), ("data/b", "file", b"b\n"),
       ("dir", "dir", None), ("dir/old", "file", b"old\n"), ("tmp", "dir", None)]
l2 = [("data", "dir", None), ("data/.wh.a", "file", b""), ("dir", "dir", None), ("dir/.wh..wh..opq", "file", b""),
      ("dir/new", "file", b"new\n"), ("etc", "dir", None), ("etc/hello", "file", b"hello from layer 2\n")]
layer1, layer2 = tar_bytes(l1), tar_bytes(l2)
sha = lambda b: hashlib.sha256(b).hexdigest()
config = {"architecture": "amd64", "os": "linux",
          "config": {"Env": ["PATH=/bin", "GREETING=hi"], "Cmd": ["cat", "/etc/hello"], "WorkingDir": "/data"},
          "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(layer1), "sha256:" + sha(layer2)]}}
cfg = json.dumps(config).encode()

# docker save
with tarfile.open(os.path.join(out, "docker.tar"), "w") as t:
    def add(name, data):
        info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
    add(sha(cfg) + ".json", cfg)
    add("l1/layer.tar", layer1)
    add("l2/layer.tar", layer2)
    add("manifest.json", json.dumps([{"Config": sha(cfg) + ".json", "RepoTags": ["test/img:1"],
                                       "Layers": ["l1/layer.tar", "l2/layer.tar"]}]).encode())

# OCI layout (directory)
oci = os.path.join(out, "oci")
os.makedirs(os.path.join(oci, "blobs", "sha256"), exist_ok=True)
def blob(data):
    open(os.path.join(oci, "blobs", "sha256", sha(data)), "wb").write(data)
    return {"digest": "sha256:" + sha(data), "size": len(data)}
layer2gz = gzip.compress(layer2, mtime=0)
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": dict(blob(cfg), mediaType="application/vnd.oci.image.config.v1+json"),
            "layers": [dict(blob(layer1), mediaType="application/vnd.oci.image.layer.v1.tar"),
                       dict(blob(layer2gz), mediaType="application/vnd.oci.image.layer.v1.tar+gzip")]}
m = json.dumps(manifest).encode()
index = {"schemaVersion": 2, "manifests": [dict(blob(m), mediaType="application/vnd.oci.image.manifest.v1+json",
                                                 annotations={"org.opencontainers.image.ref.name": "test/oci:2"})]}
open(os.path.join(oci, "index.json"), "w").write(json.dumps(index))
open(os.path.join(oci, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
print(sha(layer2gz))
