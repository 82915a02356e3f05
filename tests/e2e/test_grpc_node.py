"""e2e: an independent client, Node's @grpc/grpc-js + @grpc/proto-loader (npm install
into tests/grpc/node_modules at test time; skipped loudly if npm cannot reach its
registry), loads our proto/ files and subscribes over mutual TLS with allow_list
binary_regex "echo$" + event_set PROCESS_EXEC and deny_list arguments_regex
"deny-me". A shell runs two tagged echos and a tagged /bin/true; the client gets
exactly the allowed echo's process_exec, with binary, arguments, pid, exec_id and
parent_exec_id equal to the JSON file's, while a Python client on the same server
with no filter sees all three."""
import json
import os
import shutil
import subprocess
import threading
import uuid

import grpctest as g
from vigiltest import Tree, check, need_root, run_test, skip, wait_for

NODE_DIR = os.path.join(g.ROOT, "tests/grpc")


def npm_install():
    if not shutil.which("node") or not shutil.which("npm"):
        skip("node or npm is not installed")
    if os.path.isdir(os.path.join(NODE_DIR, "node_modules/@grpc/grpc-js")) and \
            os.path.isdir(os.path.join(NODE_DIR, "node_modules/@grpc/proto-loader")):
        return
    r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-package-lock",
                        "--loglevel=error"], cwd=NODE_DIR, capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        skip("npm install of @grpc/grpc-js failed (registry unreachable?): " +
             r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "no output")


def test():
    need_root()
    npm_install()
    t = Tree()
    node = None
    try:
        tls, port = g.serve_tls(t)
        t.start()
        filt = {"allow_list": [{"binary_regex": ["echo$"], "event_set": ["PROCESS_EXEC"]}],
                "deny_list": [{"arguments_regex": ["deny-me"]}]}
        node = subprocess.Popen(["node", os.path.join(NODE_DIR, "client.js"),
                                 f"127.0.0.1:{port}", tls["ca"], tls["client"],
                                 tls["client_key"], json.dumps(filt), "1"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = node.stdout.readline().strip()
        check(first == "subscribed", f"node client: {first!r} {node.stderr.read() if not first else ''}")
        py_got = []
        pcall = g.get_events(g.channel(port, tls))
        check(g.wait_subscribed(pcall), "python stream not open")

        def py_reader():
            try:
                for r in pcall:
                    py_got.append(r)
            except Exception:  # cancelled or server stopped at the end
                pass
        threading.Thread(target=py_reader, daemon=True).start()
        tag = "vigil-node-" + uuid.uuid4().hex
        subprocess.run(["/bin/sh", "-c", f"/bin/true {tag}; /bin/echo deny-me-{tag}; "
                        f"/bin/echo {tag}; true"], stdout=subprocess.DEVNULL, check=True)
        out, err = node.communicate(timeout=10)
        check(node.returncode == 0, f"node client exit {node.returncode}: {err}")
        lines = [json.loads(x) for x in out.splitlines() if x.strip()]
        check(len(lines) == 1, f"node got {len(lines)} events: {out[:500]}")
        r = lines[0]
        check("process_exec" in r, f"node event {r}")
        p = r["process_exec"]["process"]
        fx = t.find("process_exec", lambda e: e["process"].get("arguments") == tag and
                    e["process"]["binary"].endswith("echo"))
        fp = fx["process_exec"]["process"]
        check(p["arguments"] == tag and p["binary"] == fp["binary"], f"node binary/args {p}")
        check(p["pid"]["value"] == fp["pid"] and p["exec_id"] == fp["exec_id"], "pid/exec_id")
        check(p["parent_exec_id"] == fp["parent_exec_id"], "parent_exec_id")
        check(r["node_name"] == "vigil-test", f"node_name {r.get('node_name')}")
        args = lambda: {x.process_exec.process.arguments for x in py_got
                        if x.WhichOneof("event") == "process_exec"}
        wait_for(lambda: {tag, "deny-me-" + tag} <= args(), 5, what="python client saw all")
        check(sum(1 for x in py_got if x.WhichOneof("event") == "process_exec" and
                  x.process_exec.process.arguments == tag) == 2, "python: /bin/true and echo")
        pcall.cancel()
        t.stop()
    finally:
        if node and node.poll() is None:
            node.kill()
            node.wait()
        t.cleanup()


run_test(test)
