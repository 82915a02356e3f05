"""Helpers of the collector's qemu tests (tests/vm/test_collector_vm*.py): boot a stock
Debian kernel with tests/vm/run-collector-vm.sh and judge the self-test's console."""
import os
import subprocess

from vigiltest import check, skip

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Lines the console must show (the self-test prints one PASS line per check): an exec
# record with its fields, opens spelled evasively resolved to the real path, a path
# deeper than VIGIL_PATH_MAX cut with its flag.
WANT = [
    "PASS: echo: exec record",
    "PASS: echo: binary: /bin/busybox",
    "PASS: echo: cwd: /root",
    "PASS: echo: args",
    "PASS: echo: uid/euid/gid/egid",
    "PASS: echo: exit status 0",
    "PASS: relative exec: binary: /tmp/",
    "PASS: memfd exec: binary: /memfd:vigil-test",
    "PASS: deep path: truncFilename flag",
    "PASS: long args: truncArgs flag",
    "PASS: file: cd dir; open shadow: path: /tmp/",
    "PASS: file: dir/sub/../shadow: path: /tmp/",
    "PASS: file: symlink: path: /tmp/",
    "PASS: file: openat dirfd ../: path: /tmp/",
    "PASS: file: bind mount (source path): path: /tmp/",
    "PASS: file: failed open: return -errno",
    "PASS: stats: emitted, none lost",
    "PASS: cbpf selftest",
]


def collector_vm_run(suite, build, env=(), unchecked=()):
    """Run the self-test's VM subset on SUITE's kernel; build is the BPF build the
    collector must have picked there ("bpf_rdonly_cast", "nocast" or "noloop");
    unchecked: lines of WANT this kernel cannot show (the self-test says why)."""
    r = subprocess.run([os.path.join(ROOT, "tests/vm/run-collector-vm.sh"), suite, *env],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=400)
    out = r.stdout.decode("utf-8", "replace")
    if r.returncode == 77:
        skip(out.strip().splitlines()[-1] if out.strip() else f"no {suite} kernel")
    lines = [ln.strip() for ln in out.replace("\r", "").splitlines()]
    kernel = [ln for ln in lines if "VM-CBPF-KERNEL" in ln]
    print(f"info: {kernel[0].split('VM-CBPF-KERNEL')[-1].strip() if kernel else '?'}")
    fails = [ln for ln in lines if ln.startswith("FAIL")]
    check(not fails, f"no FAIL line on {suite}: {fails[:5]}")
    check(any(f"builds {build}" in ln for ln in lines),
          f"the collector picked the {build} build on {suite}")
    notes = [ln for ln in lines if ln.startswith("info: note:")]
    check(notes and all(f"{k} events off" not in notes[0] for k in ("network", "file",
                                                                      "privilege")),
          f"process, file, network and privilege objects loaded on {suite}: {notes}")
    for w in WANT:
        if w in unchecked:
            continue
        check(any(ln.startswith(w) for ln in lines), f"{suite}: {w}")
    check(any(ln.endswith("VM-CBPF-RESULT rc=0") for ln in lines),
          f"self-test exit 0 on {suite}: {lines[-5:]}")
