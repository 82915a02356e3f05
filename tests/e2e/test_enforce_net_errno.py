"""enforcer, the policy's errno for network Override on the host kernel (cgroup connect4/6
and sendmsg4 with bpf_set_retval, 6.18 here): a policy with errno ECONNREFUSED makes a
loopback connect() (IPv4, and IPv4-mapped IPv6 through connect6) fail with
ECONNREFUSED, a policy with errno EACCES makes a UDP sendto() fail with EACCES, and the
process_kprobe reports say OVERRIDE with return -111 / -13; info.net_errno says the
policy's errno is used. With bpf_set_retval taken away (VIGIL_ENF_NO_SETRETVAL=1, as on
kernels before 5.18) the same connect fails with EPERM, the report says -1 (what the
caller got), and the enforcer says so: info.net_errno, the policy's tier info and a
warning in its log — never silently different."""
import errno
import socket

from enforcetest import Enforcer, try_connect, try_sendto
from vigiltest import LoopbackServer, check, need_root, run_test


def pols(port):
    return [{"name": "refuse-tcp", "mode": "enforce", "action": "override",
             "errno": errno.ECONNREFUSED, "scope": {},
             "rules": [{"kind": "connect", "cidrs": ["127.0.0.2/32"], "ports": [port],
                        "protocols": ["tcp"]}]},
            {"name": "eacces-udp", "mode": "enforce", "action": "override",
             "errno": errno.EACCES, "scope": {},
             "rules": [{"kind": "connect", "cidrs": ["127.0.0.2/32"], "ports": [port],
                        "protocols": ["udp"]}]}]


def test():
    need_root()
    srv = LoopbackServer(64)  # 127.0.0.1 and 127.0.0.2 only
    port = srv.getsockname()[1]
    e = Enforcer()
    try:
        e.start()
        check(e.info("net_errno") == "policy (bpf_set_retval)",
              f"net_errno {e.info('net_errno')!r} (this kernel has bpf_set_retval)")
        e.policy_set(1, pols(port))
        rc = try_connect("127.0.0.2", port)
        check(rc == errno.ECONNREFUSED, f"connect: errno {rc}, want ECONNREFUSED")
        rc = try_connect("::ffff:127.0.0.2", port, socket.AF_INET6)
        check(rc == errno.ECONNREFUSED, f"connect6 (mapped): errno {rc}, want ECONNREFUSED")
        check(try_connect("127.0.0.1", port) == 0, "127.0.0.1 still connects")
        rc = try_sendto("127.0.0.2", port)
        check(rc == errno.EACCES, f"sendto: errno {rc}, want EACCES")
        m = e.wait_report(lambda t, ev: ev.get("policy_name") == "refuse-tcp")
        check(m["ev"]["action"] == "KPROBE_ACTION_OVERRIDE" and
              m["ev"]["return"] == {"int_arg": -errno.ECONNREFUSED}, f"report {m['ev']}")
        m = e.wait_report(lambda t, ev: ev.get("policy_name") == "eacces-udp")
        check(m["ev"]["return"] == {"int_arg": -errno.EACCES}, f"report {m['ev']}")
        check("net_errno" not in e.info("policy.refuse-tcp"), e.info("policy.refuse-tcp"))
        check(e.stop() == 0, "clean stop")
        check(try_connect("127.0.0.2", port) == 0, "block lifted on clean stop")
    finally:
        e.cleanup()

    # The fallback: EPERM, and said so.
    e = Enforcer()
    try:
        import os
        os.environ["VIGIL_ENF_NO_SETRETVAL"] = "1"
        try:
            e.start()
        finally:
            del os.environ["VIGIL_ENF_NO_SETRETVAL"]
        check(e.info("net_errno").startswith("EPERM only"), f"net_errno {e.info('net_errno')!r}")
        e.policy_set(1, pols(port))
        rc = try_connect("127.0.0.2", port)
        check(rc == errno.EPERM, f"fallback connect: errno {rc}, want EPERM")
        info = e.info("policy.refuse-tcp")
        check(info.startswith("state=armed tier=cgroup") and
              "net_errno=EPERM (no bpf_set_retval)" in info, f"policy info {info!r}")
        m = e.wait_report(lambda t, ev: ev.get("policy_name") == "refuse-tcp")
        check(m["ev"]["return"] == {"int_arg": -errno.EPERM},
              f"the report says what the caller got: {m['ev']}")
        log = e.log()
        check("no bpf_set_retval" in log and "refuse-tcp" in log and "errno 111" in log,
              f"warning in the log:\n{log}")
    finally:
        e.cleanup()
        srv.close()


run_test(test)
