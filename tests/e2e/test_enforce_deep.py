"""enforcer, Sigkill tier on the host kernel: a file whose path is too long for the
enforcer to resolve (more than 4 KiB: its walk cannot see the head that prefixes are
matched against) must not slip past a rule by being nested deep. A file_open rule on a
prefix (kill_fallback): the shallow file under it is killed, a file under it nested
4.3 KiB deep is killed too (fail closed: an unresolvable path is judged as matching every
rule of the kind in scope), and an ordinary file outside the prefix still opens. All three
builds are run: typed (bpf_rdonly_cast: the one this host picks),
bpf_loop without the cast (VIGIL_ENF_NOCAST=1) and bounded-loop (VIGIL_ENF_NOLOOP=1);
info.bpf_build must name the one asked for."""
import os
import subprocess
import sys
import tempfile

from enforcetest import Enforcer
from vigiltest import check, need_root, run_test

# Open the file "f" at the bottom of a chain of 200-byte directory names below argv[1]
# (step by step: the whole path is longer than PATH_MAX), and read it.
CHILD = r"""
import os, sys
os.chdir(sys.argv[1])
while os.path.isdir("d" * 200):
    os.chdir("d" * 200)
fd = os.open(sys.argv[2], os.O_RDONLY)
sys.stdout.write("READ:" + os.read(fd, 10).decode())
"""


def opened(where, name, env):
    p = subprocess.run([sys.executable, "-c", CHILD, where, name], env=env, timeout=20,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout


def make_tree(base):
    """base/secret/f (shallow), base/secret/<d*200 repeated past 4300 bytes>/f (deep),
    base/open/f (outside the prefix)."""
    sec = os.path.join(base, "secret")
    os.makedirs(sec)
    os.makedirs(os.path.join(base, "open"))
    for d in (sec, os.path.join(base, "open")):
        with open(os.path.join(d, "f"), "w") as f:
            f.write("shallow")
    fd = os.open(sec, os.O_RDONLY | os.O_DIRECTORY)
    length = len(sec)
    while length < 4300:
        os.mkdir("d" * 200, dir_fd=fd)
        nfd = os.open("d" * 200, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
        length += 201
    with open(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f:
        f.write("deep")
    os.close(fd)
    return sec


BUILDS = {None: "typed (bpf_rdonly_cast", "VIGIL_ENF_NOCAST": "bpf_loop (no bpf_rdonly_cast",
          "VIGIL_ENF_NOLOOP": "bounded loops"}


def one_build(var):
    env = dict(os.environ)
    for v in BUILDS:
        if v:
            env.pop(v, None)
    if var:
        env[var] = "1"
    base = os.path.realpath(tempfile.mkdtemp(prefix="vigil-enf-deep-"))
    e = Enforcer()
    saved = {v: os.environ.pop(v, None) for v in BUILDS if v}
    try:
        sec = make_tree(base)
        if var:
            os.environ[var] = "1"
        e.start()
        build = e.info("bpf_build")
        check(build.startswith(BUILDS[var]), f"{var or 'default'}: bpf_build {build!r}")
        e.policy_set(1, [{"name": "deep", "mode": "enforce", "action": "override",
                          "errno": 13, "kill_fallback": True, "scope": {},
                          "rules": [{"kind": "file_open", "prefixes": [sec + "/"]}]}])
        what = f"{build} build"
        rc, out = opened(os.path.join(base, "open"), "f", env)
        check(rc == 0 and out == "READ:shallow", f"{what}: a file outside the prefix: {rc} {out}")
        child = [sys.executable, "-c", "import os,sys;os.chdir(sys.argv[1]);"
                 "sys.stdout.write(open('f').read())", sec]
        p = subprocess.run(child, env=env, stdout=subprocess.PIPE, timeout=20, text=True)
        check(p.returncode == -9 and p.stdout == "", f"{what}: shallow file under the prefix: "
              f"{p.returncode} {p.stdout!r}")
        rc, out = opened(sec, "f", env)
        check(rc == -9 and out == "", f"{what}: the file nested 4.3 KiB deep under the prefix "
              f"was not killed: exit {rc}, {out!r}")
    finally:
        for v, old in saved.items():
            os.environ.pop(v, None)
            if old is not None:
                os.environ[v] = old
        e.cleanup()
        subprocess.run(["rm", "-rf", base])


def test():
    need_root()
    for var in BUILDS:
        one_build(var)


run_test(test)
