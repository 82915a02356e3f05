"""e2e: what the in-kernel prefix filter cannot judge is judged by the collector after
it has resolved the path, so neither a bind mount nor a symlink hides a file from
--file-prefixes. With --file-prefixes /etc/vigil-late-PID:
- an open through a bind mount of /etc is exported as /etc/... ([mount_path] the path
  through the mount); an open of another /etc file through it is dropped and counted
  (filtered.late_prefix), not exported;
- truncate through a symlink to the file, chmod u+s and unlink through a symlink to /etc
  are exported with the path as the kernel walked it (flag relinkedPath) and the spelled
  one as [lexical_path]; an unlink outside the prefix is dropped and counted;
- a successful open through the symlink is resolved by the kernel and passes in the kernel;
- a rename from outside the prefix into it is exported (its new name is judged too).
Nothing else of this process is exported, and nothing is counted as lost."""
import errno
import os
import shutil
import subprocess
import tempfile

from collectortest import Export, arg
from vigiltest import Tree, check, need_root, run_test


def labelled(e, label):
    for a in e["args"]:
        if a.get("label") == label:
            return a.get("string_arg")
    return None


def path_of(e):
    a = e["args"][0]
    return (a.get("file_arg") or a.get("path_arg") or {}).get("path")


def flags_of(e):
    a = e["args"][0]
    return (a.get("file_arg") or a.get("path_arg") or {}).get("flags", "")


def test():
    need_root()
    pid = os.getpid()
    pre = f"/etc/vigil-late-{pid}"
    fa, fb, fc = pre + "-a", pre + "-b", pre + "-c"
    base = os.path.realpath(tempfile.mkdtemp(prefix="vigil-late-"))
    bind, lnk, dl, junk, junk2 = (os.path.join(base, n)
                                  for n in ("b", "lnk", "dl", "junk", "junk2"))
    os.mkdir(bind)
    for f in (fa, fb, junk, junk2):
        with open(f, "w") as fh:
            fh.write("x" * 10)
    os.symlink(fa, lnk)
    os.symlink("/etc", dl)
    mounted = False
    t = Tree(stages=["collector", "enricher", "evaluator", "exporter"],
             env={"VIGIL_COLLECTOR_OPTS":
                  f"--events process,file --file-prefixes {pre} --scan 0"})
    try:
        subprocess.run(["mount", "--bind", "/etc", bind], check=True)
        mounted = True
        t.start()
        x = Export(t)
        x.watch(pid)
        c0 = t.status("collector")["counters"]
        # 1. through the bind mount: the source's path, in the prefix
        os.close(os.open(os.path.join(bind, os.path.basename(fa)), os.O_RDONLY))
        # 2. through the bind mount, outside the prefix: judged here, dropped
        os.close(os.open(os.path.join(bind, "hostname"), os.O_RDONLY))
        # 3. truncate through a symlink to the file
        os.truncate(lnk, 3)
        # 4. chmod u+s through a symlinked directory
        os.chmod(os.path.join(dl, os.path.basename(fa)), 0o4644)
        # 5. unlink through the symlinked directory
        os.unlink(os.path.join(dl, os.path.basename(fb)))
        # 6. unlink outside the prefix: dropped
        os.unlink(junk)
        # 7. a successful open through the symlink: the kernel resolves it
        os.close(os.open(lnk, os.O_RDONLY))
        # 8. a rename from outside the prefix into it: where it goes counts
        os.rename(junk2, fc)
        # a failed truncate through the symlinked directory, outside the prefix: dropped
        try:
            os.truncate(os.path.join(dl, "vigil-late-none-%d" % pid), 0)
        except OSError as err:
            check(err.errno == errno.ENOENT, f"truncate of a missing file: {err}")

        ev = x.kprobe("security_file_open", pid,
                      lambda e: labelled(e, "mount_path") is not None)
        check(path_of(ev) == fa, f"open through the bind mount: path {path_of(ev)}, want {fa}")
        check(labelled(ev, "mount_path") == os.path.join(bind, os.path.basename(fa)),
              f"mount_path {labelled(ev, 'mount_path')}")
        ev = x.kprobe("security_path_truncate", pid)
        check(path_of(ev) == fa and "relinkedPath" in flags_of(ev),
              f"truncate through the symlink: {ev['args']}")
        check(labelled(ev, "lexical_path") == lnk, f"lexical_path {ev['args']}")
        check(ev["return"]["int_arg"] == 0, f"truncate return {ev['return']}")
        ev = x.kprobe("security_path_chmod", pid)
        check(path_of(ev) == fa and labelled(ev, "new_permission").endswith("rwSr--r--"),
              f"chmod through the symlinked directory: {ev['args']}")
        check(labelled(ev, "lexical_path") == os.path.join(dl, os.path.basename(fa)),
              f"chmod lexical_path {ev['args']}")
        ev = x.kprobe("security_path_unlink", pid)
        check(path_of(ev) == fb and labelled(ev, "lexical_path") ==
              os.path.join(dl, os.path.basename(fb)), f"unlink through the symlink: {ev['args']}")
        ev = x.kprobe("security_path_rename", pid)
        check(path_of(ev) == junk2 and (ev["args"][1].get("path_arg") or {}).get("path") == fc,
              f"rename into the prefix: {ev['args']}")
        ev = x.kprobe("security_file_open", pid, lambda e: labelled(e, "mount_path") is None)
        check(path_of(ev) == fa and "unresolvedPath" not in flags_of(ev),
              f"open through the symlink: {ev['args']}")

        # exactly these, nothing else of ours: 2 opens, truncate, chmod, unlink
        x._poll()
        mine = [e["process_kprobe"] for e in x.events
                if e.get("process_kprobe", {}).get("process", {}).get("pid") == pid
                and "policy_name" not in e["process_kprobe"]]
        got = sorted((e["function_name"], path_of(e)) for e in mine)
        want = sorted([("security_file_open", fa), ("security_file_open", fa),
                       ("security_path_truncate", fa), ("security_path_chmod", fa),
                       ("security_path_unlink", fb), ("security_path_rename", junk2)])
        check(got == want, f"exported {got}, want {want}")
        c = t.status("collector")["counters"]
        late = c.get("filtered.late_prefix", 0) - c0.get("filtered.late_prefix", 0)
        check(late >= 3, f"filtered.late_prefix grew by {late}, want >= 3 (bind open of "
              "/etc/hostname, unlink of junk, failed truncate)")
        check(c.get("ringbuf_lost", 0) == 0, f"lost {c.get('ringbuf_lost')}")
        t.stop()
        check(not t.leaked_progs(), "BPF programs left loaded after stop")
    finally:
        t.cleanup()
        if mounted:
            subprocess.run(["umount", bind])
        for f in (fa, fb, fc):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass
        shutil.rmtree(base, ignore_errors=True)


run_test(test)
