"""The same workload under tools readers know: auditd (rules for execve, openat, connect;
a private configuration, in the foreground, records to a file of ours) and bpftrace 0.17
(syscall tracepoints printing the equivalent events to a file; kprobes are not available
on this kernel). For each: a window without the tool, then one with it, same rate and mix;
the tool's CPU (auditd plus the kernel's kauditd thread) and RSS; what it recorded of our
markers. measure() never raises: a tool that cannot run returns {"error": why}."""
import os
import shutil
import subprocess
import tempfile
import time

import vbench as vb

AUDIT_CONF = """local_events = yes
write_logs = yes
log_file = {d}/audit.log
log_format = RAW
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = 0
max_log_file_action = IGNORE
space_left = 2
space_left_action = IGNORE
admin_space_left = 1
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
q_depth = 2000
overflow_action = IGNORE
plugin_dir = {d}/plugins.d
"""
AUDIT_KEY = "vigilbench"
BT_SCRIPT = r"""
tracepoint:syscalls:sys_enter_execve { printf("exec %d %s ", pid, str(args->filename)); join(args->argv); }
tracepoint:syscalls:sys_enter_openat { printf("open %d %s %s\n", pid, comm, str(args->filename)); }
tracepoint:syscalls:sys_enter_connect { printf("connect %d %s\n", pid, comm); }
"""


def audit_status():
    out = subprocess.run(["auditctl", "-s"], stdout=subprocess.PIPE, text=True).stdout
    return dict(ln.split(None, 1) for ln in out.splitlines() if " " in ln)


def kauditd_pid():
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/comm") as f:
                    if f.read().strip() == "kauditd":
                        return int(p)
            except OSError:
                pass
    return None


class Auditd:
    def __init__(self, d):
        self.d = d
        self.out = os.path.join(d, "audit.out")

    def start(self):
        st = audit_status()
        if st.get("pid", "0") != "0":
            raise RuntimeError(f"an audit daemon is already running (pid {st['pid']}): "
                               "not touching it")
        self.was_enabled = st.get("enabled", "0")
        os.makedirs(os.path.join(self.d, "plugins.d"), exist_ok=True)
        conf = os.path.join(self.d, "auditd.conf")
        with open(conf, "w") as f:
            f.write(AUDIT_CONF.format(d=self.d))
        os.chmod(conf, 0o600)
        # -f: foreground; records go to its output (our file), not the system log.
        out = open(self.out, "wb")
        self.p = subprocess.Popen(["auditd", "-f", "-n", "-c", self.d], stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        end = time.monotonic() + 5
        while audit_status().get("pid", "0") != str(self.p.pid):
            if time.monotonic() > end or self.p.poll() is not None:
                raise RuntimeError("auditd did not register: " + open(self.out).read()[-300:])
            time.sleep(0.1)
        subprocess.run(["auditctl", "-b", "8192"], stdout=subprocess.DEVNULL, check=True)
        subprocess.run(["auditctl", "-a", "always,exit", "-F", "arch=b64", "-S", "execve",
                        "-S", "openat", "-S", "connect", "-k", AUDIT_KEY],
                       stdout=subprocess.DEVNULL, check=True)
        self.lost0 = int(audit_status().get("lost", 0))
        self.pids = [self.p.pid, kauditd_pid()]

    def stop(self):
        subprocess.run(["auditctl", "-D", "-k", AUDIT_KEY], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        self.lost = int(audit_status().get("lost", 0)) - self.lost0
        time.sleep(0.5)
        self.p.terminate()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        subprocess.run(["auditctl", "-e", getattr(self, "was_enabled", "0")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def seen(self, run, port, genpid):
        data = b""
        for fn in (self.out, os.path.join(self.d, "audit.log")):
            try:
                with open(fn, "rb") as f:
                    data += f.read()
            except OSError:
                pass
        c = {"exec": 0, "open": 0, "connect": 0}
        c["exec"] = data.count(f'"vigil-bench-{run}-'.encode())
        c["open"] = sum(1 for ln in data.splitlines()
                        if f'name="/tmp/vigil-bench-{run}/'.encode() in ln and b"nametype=NORMAL" in ln)
        c["connect"] = data.count(f"saddr=0200{port:04X}7F000001".encode())
        return c


class Bpftrace:
    def __init__(self, d):
        self.d = d
        self.out = os.path.join(d, "bt.out")
        self.lost = 0

    def start(self):
        script = os.path.join(self.d, "bench.bt")
        with open(script, "w") as f:
            f.write(BT_SCRIPT)
        self.err = os.path.join(self.d, "bt.err")
        err = open(self.err, "wb")
        self.p = subprocess.Popen(["bpftrace", "-o", self.out, script], stdout=subprocess.DEVNULL,
                                  stderr=err, start_new_session=True)
        err.close()
        end = time.monotonic() + 30
        # bpftrace writes its first lines as soon as the probes fire: we are attached.
        while not (os.path.exists(self.out) and os.path.getsize(self.out) > 0):
            if time.monotonic() > end or self.p.poll() is not None:
                raise RuntimeError("bpftrace did not attach: " + open(self.err).read()[-300:])
            subprocess.run(["/bin/true"])
            time.sleep(0.2)
        self.pids = [self.p.pid]

    def stop(self):
        time.sleep(0.5)
        self.p.send_signal(2)
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()

    def seen(self, run, port, genpid):
        with open(self.out, "rb") as f:
            data = f.read()
        for ln in data.splitlines():
            if ln.startswith(b"Lost ") and b"events" in ln:
                self.lost += int(ln.split()[1])
        return {"exec": data.count(f" vigil-bench-{run}-".encode()),
                "open": data.count(f" gen /tmp/vigil-bench-{run}/".encode()),
                "connect": data.count(f"connect {genpid} gen\n".encode())}


def measure(tool, rate, dur, mix):
    if not shutil.which("auditd" if tool == "auditd" else "bpftrace"):
        return {"tool": tool, "rate": rate, "error": f"{tool} is not installed (tests/deps.sh)"}
    d = tempfile.mkdtemp(prefix=f"vigil-bench-{tool}-", dir="/tmp")
    t = Auditd(d) if tool == "auditd" else Bpftrace(d)
    try:
        # one generator process: the tools' events are matched by its pid
        wo = vb.gen(vb.run_id(), rate, duration=dur, mix=mix, workers=1)
        try:
            t.start()
        except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
            return {"tool": tool, "rate": rate, "error": str(e)}
        try:
            run = vb.run_id()
            cpu0 = [vb.cpu_s(p) or 0 for p in t.pids if p]
            p = vb.gen(run, rate, duration=dur, mix=mix, popen=True, workers=1)
            genpid = p.pid
            out, _ = p.communicate()
            import json
            g = json.loads(out)
            time.sleep(1.0)  # let the tool catch up before counting
            cpu1 = [vb.cpu_s(p) or 0 for p in t.pids if p]
            rss = sum(vb.rss_mb(p) or 0 for p in t.pids if p)
        finally:
            t.stop()
        seen = t.seen(run, g["port"], genpid)
        gen_ops = {k: g[k]["ops"] - g[k]["fail"] for k in vb.KINDS}
        cpu = sum(cpu1) - sum(cpu0)
        return {"tool": tool, "rate": rate, "cpu_pct": 100 * cpu / g["elapsed_s"],
                "rss_mb": rss, "generated": sum(gen_ops.values()),
                "seen": sum(min(seen[k], gen_ops[k]) for k in vb.KINDS), "seen_by_kind": seen,
                "lost": t.lost, "achieved": g["rate_achieved"],
                "ratio": {k: g[k]["ns_per_op"] / wo[k]["ns_per_op"]
                          for k in vb.KINDS if wo[k]["ops"] and g[k]["ops"]}}
    except Exception as e:  # a comparison must never sink the benchmark
        return {"tool": tool, "rate": rate, "error": f"{type(e).__name__}: {e}"}
    finally:
        if not os.environ.get("VIGIL_BENCH_KEEP"):
            shutil.rmtree(d, ignore_errors=True)
