"""`vigil policy check` and `vigil policy test` (no running tree needed): check accepts the
shipped library and a Tetragon TracingPolicy, rejects an unmappable Tetragon hook and a
broken vigil policy with FILE:LINE:COL errors and exit 1; test replays a recorded JSON
export through a policy and reports what would match and what would be blocked."""
import os
import subprocess
import tempfile

from vigiltest import ROOT, check, run_test

VIGIL = os.path.join(ROOT, "build/vigil")
FIX = os.path.join(ROOT, "tests/policy")


def vigil(*args):
    return subprocess.run([VIGIL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def test():
    r = vigil("policy", "check", os.path.join(ROOT, "policies"))
    check(r.returncode == 0 and r.stdout.strip().endswith("rules"),
          f"library: rc {r.returncode}\n{r.stdout}\n{r.stderr}")
    r = vigil("policy", "check", os.path.join(FIX, "tetragon-lsm-file-open.yaml"))
    check(r.returncode == 0 and "ok: 1 policies, 2 rules" in r.stdout, f"tetragon: {r.stdout}{r.stderr}")
    r = vigil("policy", "check", os.path.join(FIX, "tetragon-unmappable.yaml"))
    check(r.returncode == 1, f"unmappable hook accepted: rc {r.returncode}")
    check("tetragon-unmappable.yaml:7:11: hook 'security_inode_copy_up_xattr' cannot be mapped"
          in r.stderr, f"stderr {r.stderr!r}")
    with tempfile.TemporaryDirectory() as d:
        bad = os.path.join(d, "bad.yaml")
        with open(bad, "w") as f:
            f.write("name: b\nrules:\n  - event: network\n    network: {port: [80, 99999]}\n")
        r = vigil("policy", "check", bad)
        check(r.returncode == 1 and f"{bad}:4:26: port: expected an integer or a range" in r.stderr,
              f"bad port: rc {r.returncode} {r.stderr!r}")
        r = vigil("policy", "check", os.path.join(d, "missing.yaml"))
        check(r.returncode == 1 and "cannot open" in r.stderr, f"missing file: {r.stderr!r}")
    r = vigil("policy", "test", os.path.join(FIX, "tetragon-lsm-file-open.yaml"),
              "--events", os.path.join(FIX, "recorded.json"))
    out = r.stdout
    check(r.returncode == 0, f"policy test rc {r.returncode}: {r.stderr}")
    check("recorded.json:1: tp-file-and-egress: WOULD BLOCK" in out, f"line 1: {out}")
    check("recorded.json:2:" not in out, f"sshd is exempt: {out}")
    check("recorded.json:3: tp-file-and-egress: WOULD KILL" in out, f"line 3: {out}")
    check("recorded.json:4:" not in out, f"10/8 is excluded: {out}")
    check("5 events, 2 matches, 2 would be blocked or killed" in out, f"summary: {out}")
    check("recorded.json:6: not a JSON object" in r.stderr, f"bad line reported: {r.stderr!r}")


run_test(test)
