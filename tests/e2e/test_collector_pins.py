"""e2e: the collector's pins survive a kill -9 and are adopted by the next collector.
The tree runs with file events under a private prefix. Then:
- the pin directory (status info pin_dir) holds the rings, counters, filter maps and one
  link per attached program;
- the collector is told not to be restarted (s6-svc -O) and killed with SIGKILL; while
  no collector runs, /bin/true TAG execs and a `cat FILE` happen; then s6-svc -u;
- those execs (binary, arguments, pid) and cat's security_file_open (the file's path)
  reach the JSON export: the still-attached programs wrote them into the pinned ring;
- the new collector adopted the links (counter pins.adopted_links > 0) and runs the very
  same programs (same ids for vigil_exec, vigil_exit, vigil_fork), no program name is
  loaded twice by it, each of its programs has at most one link, and the old collector's
  other programs are gone;
- the collector's open file descriptors stay the same over 3 more kill -9 restarts
  (nothing leaks per restart or per adoption);
- a stale pin (an unknown map pinned in the directory) makes the next start remove the
  pins and start clean (log line, no adoption, the old programs detached), and events
  are still seen afterwards;
- pins of a dead collector whose run directory is gone (a killed, deleted tree) are
  removed by the next collector that starts; those of a run directory that exists stay;
- after a clean stop of the tree the pin directory is gone and no program of this tree
  is left loaded."""
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid

from collectortest import Export, arg
from vigiltest import (Tree, bpf_prog_ids, check, need_root, run_test, unique_tag,
                       wait_for)


def progs():
    """{id: name} of every loaded BPF program."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL).stdout
    return {p["id"]: p.get("name", "") for p in json.loads(out or b"[]")}


def link_progs():
    """Program id of every BPF link."""
    out = subprocess.run(["bpftool", "-j", "link", "show"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL).stdout
    return [lk.get("prog_id") for lk in json.loads(out or b"[]")]


def nfds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def info(t):
    st = t.status("collector") or {}
    return st.get("info", {}), st.get("counters", {})


def ids_by_name(ids):
    loaded = progs()
    return {loaded[i]: i for i in ids if i in loaded}


def down_and_kill(t):
    """Keep s6 from restarting the collector, then SIGKILL it (no clean stop)."""
    pid = t.pid("collector")
    check(pid, "collector has a pid")
    t.svc("collector", "-O")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 5, what="the collector to die")
    time.sleep(0.2)
    check(t.pid("collector") is None, "s6 did not restart the collector: " + t.svstat("collector"))


def up(t):
    t.svc("collector", "-u")
    t.wait_ready("collector", 20)


def activity(base, tag):
    """Execs and an open while no collector runs; returns (true pids, cat pid, path)."""
    pids = []
    for i in range(3):
        p = subprocess.Popen(["/bin/true", f"{tag}-{i}"])
        p.wait()
        pids.append(p.pid)
    path = os.path.join(base, f"{tag}.txt")
    with open(path, "w") as f:
        f.write("x")
    c = subprocess.Popen(["/bin/cat", path], stdout=subprocess.DEVNULL)
    c.wait()
    return pids, c.pid, path


def fake_pins(owner):
    """A pin directory as a dead collector of run directory owner would leave it."""
    d = f"/sys/fs/bpf/vigil-collector-test-{uuid.uuid4().hex[:12]}"
    os.mkdir(d, 0o700)
    m = os.path.join(d, "owner")
    subprocess.run(["bpftool", "map", "create", m, "type", "array", "key", "4", "value", "256",
                    "entries", "1", "name", "vigil_owner"], check=True)
    val = owner.encode().ljust(256, b"\0")
    subprocess.run(["bpftool", "map", "update", "pinned", m, "key", "0", "0", "0", "0",
                    "value", *[str(b) for b in val]], check=True)
    return d


def rm_pins(d):
    if os.path.isdir(d):
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


def check_seen(x, tag, pids, cat_pid, path, when):
    x.watch(*pids, cat_pid)
    for i, pid in enumerate(pids):
        e = x.find("process_exec", lambda e, pid=pid: e["process"]["pid"] == pid, 20,
                   what=f"exec of /bin/true {tag}-{i} (pid {pid}) {when}")
        check(e["process"]["binary"] == os.path.realpath("/bin/true"), f"binary {e['process']['binary']}")
        check(e["process"]["arguments"] == f"{tag}-{i}",
              f"arguments {e['process']['arguments']!r}")
    e = x.kprobe("security_file_open", cat_pid,
                 lambda e: (arg(e, "file_arg") or {}).get("path") == path, 20)
    check(e["process"]["binary"] == os.path.realpath("/bin/cat"), f"open by {e['process']['binary']}")


def test():
    need_root()
    base = tempfile.mkdtemp(prefix="vigil-pins-")
    dead = alive = None
    t = Tree(stages=["collector", "enricher", "evaluator", "exporter"],
             env={"VIGIL_COLLECTOR_OPTS": f"--events process,file --file-prefixes {base}/"})
    try:
        t.start()
        x = Export(t)
        inf, _ = info(t)
        pin_dir = inf.get("pin_dir", "")
        check(pin_dir.startswith("/sys/fs/bpf/") and os.path.isdir(pin_dir),
              f"pin directory {pin_dir!r} exists")
        pins = set(os.listdir(pin_dir))
        for want in ("rb", "rb_proc", "lost", "emitted", "filter", "cgroup_allow",
                     "prefix_allow", "link_vigil_exec", "link_vigil_exit", "link_vigil_fork"):
            check(want in pins, f"{want} pinned in {pin_dir}: {sorted(pins)}")
        ids_a = t.collector_prog_ids()
        names_a = ids_by_name(ids_a)

        # 1. kill -9, activity while down, adoption
        down_and_kill(t)
        check(os.path.isdir(pin_dir), "pins stay after kill -9")
        loaded = progs()
        check(names_a.get("vigil_exec") in loaded, "vigil_exec stays loaded while down")
        tag = unique_tag("vigil-pins")
        pids, cat_pid, path = activity(base, tag)
        up(t)
        inf, c = info(t)
        check(c.get("pins.adopted_links", 0) >= 3, f"links adopted: {c.get('pins.adopted_links')}")
        check_seen(x, tag, pids, cat_pid, path, "while no collector ran")
        ids_b = t.collector_prog_ids()
        names_b = ids_by_name(ids_b)
        for n in ("vigil_exec", "vigil_exit", "vigil_fork"):
            check(names_a.get(n) and names_a.get(n) == names_b.get(n),
                  f"{n}: same program kept running ({names_a.get(n)} -> {names_b.get(n)})")
        loaded = progs()
        mine = [loaded[i] for i in ids_b if i in loaded]
        check(len(mine) == len(set(mine)), f"no program loaded twice: {sorted(mine)}")
        lp = link_progs()
        for i in ids_b:
            check(lp.count(i) <= 1, f"program {i} ({loaded.get(i)}) has {lp.count(i)} links")
        check(lp.count(names_b["vigil_exec"]) == 1, "vigil_exec attached once")
        gone = ids_a - ids_b
        wait_for(lambda: not (gone & bpf_prog_ids("")), 5,
                 what=f"the old collector's unadopted programs {gone} to be freed")
        # normal operation after the restart
        tag2 = unique_tag("vigil-pins-after")
        pids2, cat2, path2 = activity(base, tag2)
        check_seen(x, tag2, pids2, cat2, path2, "after the restart")

        # fds per restart: the same after each adoption
        counts = []
        for i in range(4):
            if counts:
                t.kill9("collector")
            # after a file event: the mount table's fd is opened on the first one
            tg = unique_tag(f"vigil-pins-fd{i}")
            check_seen(x, tg, *activity(base, tg), f"after restart {i}")
            counts.append(nfds(t.pid("collector")))
        check(len(set(counts)) == 1, f"collector fds over kill -9 restarts: {counts}")

        # 2. a stale pin: removed, clean start; a dead tree's pins are collected
        down_and_kill(t)
        dead = fake_pins(os.path.join(base, "gone", "run"))
        alive = fake_pins(base)
        r = subprocess.run(["bpftool", "map", "create", os.path.join(pin_dir, "bogus"),
                            "type", "array", "key", "4", "value", "4", "entries", "1",
                            "name", "bogus"], stderr=subprocess.PIPE, text=True)
        check(r.returncode == 0, f"bpftool map create: {r.stderr}")
        up(t)
        inf, c = info(t)
        check(c.get("pins.adopted_links", 0) == 0, "stale pins are not adopted")
        log = t.log("collector")
        check("stale pins" in log and "bogus" in log, f"the log says why:\n{log[-1500:]}")
        check("bogus" not in os.listdir(pin_dir), "the stale pin was removed")
        check(not os.path.exists(dead), f"pins of a gone run directory removed: {log[-800:]}")
        check(os.path.exists(alive), "pins of an existing run directory kept")
        ids_c = t.collector_prog_ids()
        wait_for(lambda: not ((ids_b - ids_c) & bpf_prog_ids("")), 5,
                 what="the replaced programs to be freed")
        tag3 = unique_tag("vigil-pins-clean")
        pids3, cat3, path3 = activity(base, tag3)
        check_seen(x, tag3, pids3, cat3, path3, "after a clean start")

        # 3. a clean stop removes everything
        t.stop()
        check(not os.path.exists(pin_dir), f"{pin_dir} removed by a clean stop")
        check(not t.leaked_progs(), f"programs left loaded: {t.leaked_progs()}")
    finally:
        t.cleanup()
        if "pin_dir" in locals() and pin_dir:
            rm_pins(pin_dir)   # a failed run: leave nothing attached
        for d in (dead, alive):
            if d:
                rm_pins(d)
        for f in os.listdir(base):
            os.unlink(os.path.join(base, f))
        os.rmdir(base)


run_test(test)
