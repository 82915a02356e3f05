"""e2e: the whole tree under s6 with a policies.d policy (passed with --policy-dir through
VIGIL_EVALUATOR_OPTS) on the exec of a unique binary path. Running that binary for real
puts a policy event in the tree's JSON export: process_kprobe with policy_name, action,
the rendered message and tags, for the right pid; `vigil status` shows the policy, its
mode and its match count; a `vigil policy test` replay of the export finds the same
match."""
import os
import shutil
import subprocess
import uuid

from vigiltest import ROOT, Tree, check, need_root, run_test

POLICY = """
name: {name}
description: the e2e marker binary ran
severity: low
tags: [e2e, T1204]
mode: monitor
action: sigkill
message: "{{process.binary}} ran with {{process.arguments}}"
rules:
  - event: exec
    process:
      binary: [{binary}]
"""


def test():
    need_root()
    tag = uuid.uuid4().hex[:12]
    name = f"e2e-marker-{tag}"
    t = Tree(env={})
    try:
        poldir = os.path.join(t.base, "policies.d")
        bindir = os.path.join(t.base, "bin")
        os.makedirs(poldir)
        os.makedirs(bindir)
        binary = os.path.join(bindir, f"marker-{tag}")
        shutil.copy("/bin/true", binary)
        with open(os.path.join(poldir, "marker.yaml"), "w") as f:
            f.write(POLICY.format(name=name, binary=binary))
        t.env["VIGIL_EVALUATOR_OPTS"] = f"--policy-dir {poldir}"
        t.start()
        st = t.status("evaluator")
        check(f"{name} (monitor)" in st["info"].get("policies", ""),
              f"policy not loaded: {st['info']}\n{t.log('evaluator')}")
        p = subprocess.Popen([binary, f"arg-{tag}"])
        p.wait()
        # The evaluator's event (security_bprm_check); the enforcer may also report a
        # monitor-mode "would have killed" for the same exec (sys_execve, at its entry).
        ev = t.find("process_kprobe", lambda e: e.get("policy_name") == name
                    and e.get("function_name") == "security_bprm_check", timeout=5)
        k = ev["process_kprobe"]
        check(k["process"]["pid"] == p.pid, f"pid {k['process'].get('pid')} != {p.pid}")
        check(k["process"]["binary"] == binary, f"binary {k['process']['binary']}")
        check(k["action"] == "KPROBE_ACTION_POST", f"action {k['action']} (monitor mode)")
        check(k["message"] == f"{binary} ran with arg-{tag} (monitor: would have killed)",
              f"message {k['message']!r}")
        check(k["tags"] == ["e2e", "T1204"], f"tags {k.get('tags')}")
        check(k["function_name"] == "security_bprm_check", f"function_name {k.get('function_name')}")
        # the original exec is still exported, unchanged
        t.find("process_exec", lambda e: e["process"].get("pid") == p.pid)
        check(t.counter("evaluator", f"policy.{name}.matches") == 1,
              f"matches {t.counter('evaluator', f'policy.{name}.matches')}")
        out = subprocess.run([os.path.join(ROOT, "build/vigil"), "--rundir", t.rundir, "status"],
                             stdout=subprocess.PIPE, text=True).stdout
        check(f"{name} (monitor)" in out and f"policy.{name}.matches" in out,
              f"vigil status does not show the policy:\n{out[-2000:]}")
        # the dry run on the recorded traffic finds the same exec
        r = subprocess.run([os.path.join(ROOT, "build/vigil"), "policy", "test",
                            os.path.join(poldir, "marker.yaml"), t.export],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        check(r.returncode == 0 and f"{name}: monitor" in r.stdout and f"arg-{tag}" in r.stdout,
              f"policy test: rc {r.returncode}\n{r.stdout[-2000:]}")
    finally:
        t.cleanup()


run_test(test)
