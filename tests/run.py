#!/usr/bin/python3
"""vigil's test runner: every unit test binary (build/tests/test_*) and every test
script (tests/*/test_*.py, run with /usr/bin/python3). A test passes with exit 0,
skips with exit 77 (its last output line says why, and the skip is printed loudly),
and fails otherwise. The last line is "N passed, N failed, N skipped".

  tests/run.py [SUBSTRING...]   run only tests whose name contains a substring"""
import glob
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = int(os.environ.get("VIGIL_TEST_TIMEOUT", "600"))


def tests():
    out = []
    for b in sorted(glob.glob(os.path.join(ROOT, "build/tests/test_*"))):
        if os.access(b, os.X_OK):
            out.append(("unit/" + os.path.basename(b), [b]))
    for s in sorted(glob.glob(os.path.join(ROOT, "tests/*/test_*.py"))):
        rel = os.path.relpath(s, os.path.join(ROOT, "tests"))
        out.append((rel[:-3], ["/usr/bin/python3", s]))
    return out


def main():
    want = sys.argv[1:]
    passed = failed = skipped = 0
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tests/lib"), VIGIL_ROOT=ROOT,
               PYTHONDONTWRITEBYTECODE="1")
    for name, cmd in tests():
        if want and not any(w in name for w in want):
            continue
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        try:
            outb, _ = p.communicate(timeout=TIMEOUT)
            rc, out = p.returncode, outb.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            # SIGTERM first: the test's cleanup (finally blocks: s6 trees, mounts, cgroups)
            # runs; SIGKILL only if it does not finish.
            p.terminate()
            try:
                outb, _ = p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                outb, _ = p.communicate()
            rc, out = -1, outb.decode("utf-8", "replace") + f"\ntimed out after {TIMEOUT}s"
        dt = time.monotonic() - t0
        if rc == 0:
            passed += 1
            print(f"PASS {name} ({dt:.1f}s)", flush=True)
        elif rc == 77:
            skipped += 1
            why = (out.strip().splitlines() or ["no reason given"])[-1]
            print(f"SKIP {name}: {why}", flush=True)
            print(f"!!!! SKIPPED: {name} did not run: {why}", flush=True)
        else:
            failed += 1
            print(f"FAIL {name} (exit {rc}, {dt:.1f}s)", flush=True)
            for line in out.rstrip().splitlines()[-60:]:
                print("     | " + line)
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
