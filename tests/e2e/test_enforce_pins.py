"""enforcer, pins and atomic swaps on the host kernel: with 5,000 CIDR entries per set, a
thread connecting to 127.0.0.2:PORT as fast as it can never gets through while the
enforcer alternates between two different sets that both deny it (exact /32 vs a /24
among thousands of others), nor while the enforcer is SIGKILLed (the pinned links keep
enforcing) and a new enforcer adopts the pins and the generation in force; a set that
lifts the rule lets it through; a set larger than the map is rejected with a clear
error and the set in force stays; a second enforcer on the same pin dir is refused.
Prints the install time of a 5,000-entry set."""
import errno
import os
import random
import shutil
import signal
import socket
import threading
import time

from enforcetest import Enforcer
from vigiltest import LoopbackServer, check, need_root, run_test, wait_for


def cidrs(seed, n):
    r = random.Random(seed)
    return [f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(256)}/32" for _ in range(n)]


def pol(cidr_list, port):
    return [{"name": "big-deny", "mode": "enforce", "action": "override", "errno": 1,
             "scope": {}, "rules": [{"kind": "connect", "cidrs": cidr_list, "ports": [port]}]}]


class Prober(threading.Thread):
    """Connects to 127.0.0.2:port in a loop; counts attempts and successes."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stop, self.tries, self.through, self.other = port, False, 0, 0, 0

    def run(self):
        while not self.stop:
            s = socket.socket()
            s.settimeout(1)
            try:
                s.connect(("127.0.0.2", self.port))
                self.through += 1
            except OSError as e:
                if e.errno != errno.EPERM:
                    self.other += 1
            finally:
                s.close()
            self.tries += 1


def test():
    need_root()
    srv = LoopbackServer(1024)  # 127.0.0.1 and 127.0.0.2 only
    port = srv.getsockname()[1]
    stop_accept = False

    def drain():
        srv.settimeout(0.2)
        while not stop_accept:
            try:
                srv.accept()[0].close()
            except OSError:
                pass
    acc = threading.Thread(target=drain, daemon=True)
    acc.start()
    a = cidrs(1, 5000) + ["127.0.0.2/32"]
    b = cidrs(2, 5000) + ["127.0.0.0/24"]
    e = Enforcer()
    e2 = None
    prober = Prober(port)
    try:
        e.start()
        t0 = time.monotonic()
        e.policy_set(1, pol(a, port))
        print(f"install of a {len(a)}-entry set: {(time.monotonic() - t0) * 1000:.0f} ms "
              "(send to installed, incl. status polling)")
        prober.start()
        wait_for(lambda: prober.tries > 50, 5, what="prober running")
        for gen in range(2, 8):
            e.policy_set(gen, pol(b if gen % 2 == 0 else a, port))
        check(prober.through == 0, f"{prober.through} connects got through during swaps")

        # Crash: the pinned links keep enforcing; a new enforcer adopts them.
        tries = prober.tries
        e.stop(signal.SIGKILL)
        check(os.path.isdir(e.pin_dir), "pins survive a crash")
        wait_for(lambda: prober.tries > tries + 50, 5, what="probes while no enforcer runs")
        check(prober.through == 0, "a connect got through while the enforcer was down")
        e2 = Enforcer(pin_dir=e.pin_dir)
        busy = Enforcer(pin_dir=e.pin_dir)
        e2.start()
        pins_before = sorted(os.listdir(e.pin_dir))
        check(any(p.startswith("link_vigil_enf_c4") for p in pins_before), pins_before)
        check("adopted" in e2.log(), f"adoption not logged:\n{e2.log()}")
        check(e2.info("generation") == "7", f"generation after restart {e2.info('generation')}")
        started = True
        try:
            busy.start(timeout=5)
        except Exception:
            started = False
        finally:
            busy.stop()
            busy_log = busy.log()
            busy.ctx.destroy(linger=0)
            shutil.rmtree(busy.base, ignore_errors=True)
        check(not started, "a second enforcer on the same pin dir must be refused")
        check("in use by another enforcer" in busy_log, f"busy log:\n{busy_log}")
        check(sorted(os.listdir(e.pin_dir)) == pins_before,
              f"the refused enforcer touched the pins: {os.listdir(e.pin_dir)}")
        # The restarted enforcer accepts the same generation (the evaluator's resend).
        e2.policy_set(7, pol(a, port))
        check(prober.through == 0, "blocked across restart")

        # Too large for the map: rejected, the set in force stays.
        rej = e2.counter("policy_set.rejected")
        e2.send("policy_set", {"generation": 8, "mode": "enforce",
                               "policies": pol(cidrs(3, 40000), port)})
        wait_for(lambda: e2.counter("policy_set.rejected") > rej, 20, what="big set rejected")
        check("rule set larger than the map" in e2.info("last_error"), e2.info("last_error"))
        check(e2.info("generation") == "7", "old set still in force")
        check(prober.through == 0, "still blocked after the rejected set")

        # Lift it.
        e2.policy_set(9, [])
        wait_for(lambda: prober.through > 0, 5, what="connects allowed after the lift")
        check(e2.info("state") == "idle", f"state {e2.info('state')}")
        prober.stop = True
        prober.join()
        print(f"probes: {prober.tries} connects, {prober.through} after the lift")
        check(e2.stop() == 0, "clean stop")
        check(not os.path.exists(e.pin_dir), "clean stop removes the pins")
    finally:
        prober.stop = True
        stop_accept = True
        e.cleanup()
        if e2:
            e2.cleanup()
        srv.close()


run_test(test)
