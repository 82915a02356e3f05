#!/usr/bin/python3
"""Compare two enr_bench --dump files frame by frame (decoded, key order kept), with the
cgroup ids of _vigil replaced by their order of first appearance (they are the inodes of
cgroup directories made for each run). Exit 0 when equal, 1 at the first difference.
Usage: bench/enr_bench_cmp.py A B"""
import struct
import sys

import msgpack


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    off, ids = 0, {}
    while off < len(data):
        (n,) = struct.unpack_from("<I", data, off)
        ev = msgpack.unpackb(data[off + 4:off + 4 + n], raw=True)
        v = ev.get(b"ev", {}).get(b"_vigil", {})
        if b"cgroup_id" in v:
            v[b"cgroup_id"] = ids.setdefault(v[b"cgroup_id"], len(ids))
        yield repr(ev)
        off += 4 + n


def main():
    a, b = sys.argv[1], sys.argv[2]
    n = 0
    for x, y in zip(frames(a), frames(b), strict=True):
        if x != y:
            print(f"frame {n} differs:\n{x}\n{y}")
            return 1
        n += 1
    print(f"{n} frames equal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
