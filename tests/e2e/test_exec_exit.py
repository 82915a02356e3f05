"""e2e: with the whole tree under s6, a shell runs /bin/echo with a unique argument;
within 2 s the JSON export holds its process_exec (binary, arguments, pid, uid, cwd,
parent_exec_id = the shell's exec_id) and its process_exit with status 0; Ctrl-C-like
shutdown leaves no vigil BPF program loaded."""
import os
import subprocess
import tempfile
import uuid

from vigiltest import Tree, check, decode_exec_id, need_root, run_test


def test():
    need_root()
    t = Tree()
    try:
        t.start()
        tag = "vigil-e2e-" + uuid.uuid4().hex
        cwd = tempfile.mkdtemp(prefix="vigil-cwd-")
        sh = subprocess.Popen(["/bin/sh", "-c", f"/bin/echo {tag}; true"], cwd=cwd,
                              stdout=subprocess.DEVNULL)
        sh.wait()
        ex = t.find("process_exec", lambda e: e["process"].get("arguments") == tag)
        p = ex["process_exec"]["process"]
        real_echo = os.path.realpath("/bin/echo")
        check(p["binary"] == real_echo, f"binary {p['binary']!r}, want {real_echo!r}")
        check(p["uid"] == os.geteuid(), f"uid {p['uid']}")
        check(p["cwd"] == cwd, f"cwd {p.get('cwd')!r}, want {cwd!r}")
        check("execve" in p["flags"].split(), f"flags {p.get('flags')!r}")
        check(ex["node_name"] == "vigil-test", f"node_name {ex.get('node_name')!r}")
        check(ex["time"].endswith("Z"), f"time {ex['time']!r}")
        node, ktime, pid = decode_exec_id(p["exec_id"]).split(":")
        check(node == "vigil-test" and int(pid) == p["pid"], f"exec_id {p['exec_id']}")
        shx = t.find("process_exec", lambda e: e["process"]["pid"] == sh.pid)
        shp = shx["process_exec"]["process"]
        check(shp["binary"] == os.path.realpath("/bin/sh"), f"shell binary {shp['binary']}")
        check(p["parent_exec_id"] == shp["exec_id"],
              f"parent_exec_id {p['parent_exec_id']} != shell exec_id {shp['exec_id']}")
        check(ex["process_exec"]["parent"]["pid"] == sh.pid, "parent pid")
        check(p["pid"] != sh.pid, "echo ran in a child of the shell")
        xt = t.find("process_exit", lambda e: e["process"]["exec_id"] == p["exec_id"])
        check(xt["process_exit"].get("status", 0) == 0, f"exit {xt['process_exit']}")
        check("signal" not in xt["process_exit"], "no signal")
        # The export file is private: 0600.
        check(os.stat(t.export).st_mode & 0o777 == 0o600, "export file mode")
        os.rmdir(cwd)
        t.stop()
        left = t.leaked_progs()
        check(not left, f"BPF programs left loaded after stop: {left}")
    finally:
        t.cleanup()


run_test(test)
