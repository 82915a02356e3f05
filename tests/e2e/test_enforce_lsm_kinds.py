"""enforcer, LSM-only rule kinds on a kernel without BPF LSM (this host): policies of kind
unlink, rename, chmod, setuid, module_load and mount are reported as not enforceable
(state=disarmed, naming the LSM hook they need), never silently weaker; the operations
they name still work (nothing pretends to block); a connect policy in the same set stays
armed on the cgroup tier; info.lsm_hooks says none loaded; a setuid rule with paths is
refused with a clear reason. Where BPF LSM loads, tests/vm proves these kinds block."""
import os
import shutil
import tempfile

from enforcetest import Enforcer
from vigiltest import check, need_root, run_test, skip


def pol(name, kind, **rule):
    return {"name": name, "mode": "enforce", "action": "override", "errno": 1, "scope": {},
            "rules": [dict(kind=kind, **rule)]}


def test():
    need_root()
    d = tempfile.mkdtemp(prefix="vigil-lsmk-", dir="/tmp")
    e = Enforcer()
    try:
        e.start()
        hooks = e.info("lsm_hooks")
        if hooks != "none":
            skip(f"BPF LSM loads here ({hooks}): tests/vm covers this kernel's behaviour")
        victim = os.path.join(d, "keep")
        open(victim, "w").close()
        kinds = {"unlink": "path_unlink", "rename": "path_rename", "chmod": "path_chmod",
                 "mount": "sb_mount", "module_load": "kernel_read_file"}
        pols = [pol(f"p-{k}", k, paths=[victim]) for k in kinds]
        pols.append(pol("p-setuid", "setuid", uids=[4242]))
        pols.append(pol("p-setuid-paths", "setuid", paths=[victim]))
        pols.append(pol("p-net", "connect", cidrs=["127.0.0.9/32"]))
        e.policy_set(1, pols)
        for k, hook in list(kinds.items()) + [("setuid", "task_fix_setuid")]:
            info = e.info(f"policy.p-{k}")
            check(info.startswith("state=disarmed") and f"lsm/{hook}" in info and
                  "not enforceable on this node" in info, f"p-{k}: {info!r}")
        info = e.info("policy.p-setuid-paths")
        check(info.startswith("state=disarmed"), f"p-setuid-paths: {info!r}")
        check(e.info("policy.p-net") == "state=armed tier=cgroup", e.info("policy.p-net"))
        os.chmod(victim, 0o600)
        os.rename(victim, victim + ".2")
        os.unlink(victim + ".2")
        check(not os.path.exists(victim + ".2"), "unlink did not happen")
        check(e.counter("policy.disarmed") >= 7, f"policy.disarmed {e.counter('policy.disarmed')}")
    finally:
        e.cleanup()
        shutil.rmtree(d, ignore_errors=True)


run_test(test)
