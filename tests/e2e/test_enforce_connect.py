"""enforcer, network Override on the host kernel: a policy_set pushed into enforcer.in
denying TCP to 127.0.0.2:PORT makes a real connect() fail with EPERM (also through an
IPv4-mapped IPv6 socket) while 127.0.0.1:PORT still connects; a UDP rule makes sendto()
fail with EPERM; every block is a process_kprobe report (security_socket_connect,
KPROBE_ACTION_OVERRIDE, return -1, the policy, our pid, the address) and a counter.
Hot switch to monitor: the connect succeeds and a "would have blocked" report comes;
the global monitor switch does the same; a stale generation is ignored; a bad set is a
counted drop with a clear error; a clean stop removes the pins and the block."""
import errno
import os
import socket

from enforcetest import Enforcer, try_connect, try_sendto
from vigiltest import LoopbackServer, check, need_root, run_test, wait_for


def policy(name, port, mode="enforce", proto="tcp", cidr="127.0.0.2/32"):
    return {"name": name, "mode": mode, "action": "override", "errno": 1,
            "kill_fallback": False, "scope": {},
            "rules": [{"kind": "connect", "cidrs": [cidr], "ports": [port],
                       "protocols": [proto]}]}


def test():
    need_root()
    srv = LoopbackServer(64)  # 127.0.0.1 and 127.0.0.2 only
    port = srv.getsockname()[1]
    e = Enforcer()
    try:
        e.start()
        check(try_connect("127.0.0.2", port) == 0, "127.0.0.2 reachable before any policy")
        name = "deny-net-" + str(port)
        e.policy_set(10, [policy(name, port), policy(name + "-udp", port, proto="udp")])
        st = e.status()
        check(st["info"].get(f"policy.{name}", "").startswith("state=armed tier=cgroup"),
              f"policy info {st['info']}")
        rc = try_connect("127.0.0.2", port)
        check(rc == errno.EPERM, f"connect 127.0.0.2: errno {rc}, want EPERM")
        check(try_connect("127.0.0.1", port) == 0, "127.0.0.1 must still connect")
        rc = try_connect("::ffff:127.0.0.2", port, socket.AF_INET6)
        check(rc == errno.EPERM, f"connect ::ffff:127.0.0.2: errno {rc}, want EPERM")
        check(try_connect("127.0.0.2", port + 1 if port < 65535 else port - 1)
              in (0, errno.ECONNREFUSED), "another port is not blocked")
        rc = try_sendto("127.0.0.2", port)
        check(rc == errno.EPERM, f"sendto 127.0.0.2 udp: errno {rc}, want EPERM")
        check(try_sendto("127.0.0.1", port) == 0, "udp to 127.0.0.1 must go")
        m = e.wait_report(lambda t, ev: ev.get("policy_name") == name and
                          ev.get("pid") == os.getpid())
        ev = m["ev"]
        check(m["type"] == "process_kprobe", f"type {m['type']}")
        check(ev["function_name"] == "security_socket_connect", f"function {ev}")
        check(ev["action"] == "KPROBE_ACTION_OVERRIDE", f"action {ev['action']}")
        check(ev["return"] == {"int_arg": -1}, f"return {ev.get('return')}")
        sa = ev["args"][0]["sockaddr_arg"]
        check(sa["addr"] == "127.0.0.2" and sa["port"] == port and
              sa["protocol"] == "IPPROTO_TCP", f"sockaddr {sa}")
        for k in ("time", "ktime", "pid", "tid", "start_ktime"):
            check(k in ev, f"report lacks {k}: {ev}")
        e.wait_report(lambda t, ev: ev.get("policy_name") == name + "-udp" and
                      ev["function_name"] == "security_socket_sendmsg")
        wait_for(lambda: e.counter(f"enforce.{name}.blocked") >= 2, 3,
                 what="blocked counter")

        # Hot switch of one policy to monitor: no restart, connect goes through.
        pid_before = e.proc.pid
        e.policy_set(11, [policy(name, port, mode="monitor")])
        check(e.proc.pid == pid_before and e.proc.poll() is None, "no restart")
        check(e.info(f"policy.{name}").startswith("state=monitor"), e.info(f"policy.{name}"))
        check(try_connect("127.0.0.2", port) == 0, "monitor mode must not block")
        check(try_sendto("127.0.0.2", port) == 0, "udp policy removed with the new set")
        m = e.wait_report(lambda t, ev: ev.get("policy_name") == name and
                          ev.get("action") == "KPROBE_ACTION_POST")
        check(m["ev"].get("message") == "would have blocked", f"message {m['ev']}")
        check("return" not in m["ev"], "a would-block report has no return value")
        wait_for(lambda: e.counter(f"enforce.{name}.would_block") >= 1, 3,
                 what="would_block counter")

        # Back to enforce, then the global monitor switch.
        e.policy_set(12, [policy(name, port)])
        check(try_connect("127.0.0.2", port) == errno.EPERM, "enforce again")
        e.policy_set(13, [policy(name, port)], mode="monitor")
        check(try_connect("127.0.0.2", port) == 0, "global monitor must not block")
        check(e.info("state") == "monitor", f"state {e.info('state')}")

        # A stale generation is ignored.
        stale = e.counter("policy_set.stale")
        e.policy_set(12, [policy(name, port)], wait=False)
        wait_for(lambda: e.counter("policy_set.stale") > stale, 3, what="stale counted")
        check(try_connect("127.0.0.2", port) == 0, "stale set not installed")

        # Bad input: a counted drop and a clear error, the set in force unchanged.
        drops = e.counter("drop.body")
        e.send("policy_set", {"generation": 99, "policies": [{"name": "x", "mode": "enforce",
               "action": "override", "rules": [{"kind": "connect", "cidrs": ["300.1.1.1/8"]}]}]})
        e.send("policy_set", {"generation": "soon", "policies": []})
        e.send("policy_set", {"generation": 98, "policies": [{"name": "y", "mode": "loud",
               "action": "override", "rules": [{"kind": "connect"}]}]})
        wait_for(lambda: e.counter("drop.body") >= drops + 3, 3, what="3 body drops")
        err = e.info("last_error")
        check("mode" in err and "loud" in err, f"last_error {err!r}")
        check(e.proc.poll() is None, "enforcer survives garbage")
        check(e.info("generation") == "13", f"generation {e.info('generation')}")

        # Pins are private to root; a clean stop lifts the block and removes them.
        e.policy_set(20, [policy(name, port)])
        for f in os.listdir(e.pin_dir):
            mode = os.stat(os.path.join(e.pin_dir, f)).st_mode & 0o777
            check(mode == 0o600, f"pin {f} mode {oct(mode)}")
        check(os.stat(e.pin_dir).st_mode & 0o777 == 0o700, "pin dir mode")
        check(try_connect("127.0.0.2", port) == errno.EPERM, "blocked before stop")
        rc = e.stop()
        check(rc == 0, f"enforcer exit {rc}:\n{e.log()}")
        check(not os.path.exists(e.pin_dir), "pins removed on clean stop")
        check(try_connect("127.0.0.2", port) == 0, "block lifted on clean stop")
    finally:
        e.cleanup()
        srv.close()


run_test(test)
