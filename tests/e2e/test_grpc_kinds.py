"""e2e: every collector event kind over the exporter's gRPC stream (mutual TLS), with the
whole tree under s6 and the collector's file, net and priv events on (--events
process,file,net,priv; file events only under this test's temp dir). A python3-grpcio
client (no filter) and a Node @grpc/grpc-js client (allow pid = this process,
event_set PROCESS_KPROBE) subscribe; then this process
- opens a temp file, chmods it u+s and unlinks it: process_kprobe security_file_open
  (file_arg path = the real path, permission, return = the fd), security_path_chmod
  (path_arg, mode 04755, new_permission) and security_path_unlink (path_arg, return 0);
- listens on 127.0.0.1, connects to itself and accepts: tcp_connect (sock_arg family
  AF_INET, type SOCK_STREAM, protocol IPPROTO_TCP, saddr/daddr 127.0.0.1, sport = the
  client's port, dport = the listener's; sockaddr_arg; return 0) and
  security_socket_accept (return = the accepted fd);
- setuid(0) and capset of its own capabilities: sys_setuid / sys_capset with
  process_credentials_arg (euid 0; caps with CAP_SYS_ADMIN as the enum value 21);
  a child python unshare(CLONE_NEWUTS)s and setns()es back into this test's UTS
  namespace: sys_unshare (flags, namespaces, ns_after, ns_changes) and sys_setns
  (namespace uts, inum = the namespace's inode as stat -L shows it); another child
  mounts a tmpfs in a mount namespace of its own with flags MS_MGC_VAL|MS_NOSUID:
  sys_mount (source, target, fstype, flags 0xC0ED0002, return 0).
Each gRPC event, decoded with the protobuf classes generated from proto/, has the type
process_kprobe, the function_name, args (labels, values), return and action of the JSON
export's event for the same process and time (the whole args list compared through
protojson), the same exec_id and time; the exporter counts no unknown field or bad value
while encoding them. Unsigned values above 2^31 (setns [inum], those mount [flags]) must
reach the gRPC client equal to the export's, in an argument type that holds them
(int_arg is an int32). The Node client gets the security_file_open with the right path."""
import ctypes
import datetime
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading

import grpctest as g
from collectortest import Export, arg
from vigiltest import Tree, check, need_root, run_test, wait_for

NODE_DIR = os.path.join(g.ROOT, "tests/grpc")
CLONE_NEWUTS = 0x04000000

# A child that leaves this test's UTS namespace and comes back: unshare then setns.
NSHOP = r"""
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open("/proc/self/ns/uts", os.O_RDONLY)
u = libc.unshare(0x04000000)
s = libc.setns(fd, 0)
print(json.dumps({"unshare": u, "setns": s, "fd": fd, "pid": os.getpid()}), flush=True)
"""
# A child that mounts a tmpfs in a mount namespace of its own, with the legacy magic
# MS_MGC_VAL (0xC0ED0000: flags above 2^31, which the kernel strips) | MS_NOSUID.
MOUNTER = r"""
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                       ctypes.c_void_p]
u = libc.unshare(0x00020000)
p = libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None)      # MS_REC | MS_PRIVATE
m = libc.mount(sys.argv[2].encode(), sys.argv[1].encode(), b"tmpfs", 0xC0ED0002, None)
print(json.dumps({"unshare": u, "private": p, "mount": m, "pid": os.getpid()}), flush=True)
"""
MOUNT_FLAGS = 0xC0ED0002
# (event, label) of arguments whose values do not fit an int32
WIDE = {("setns", "inum"), ("mount", "flags")}


def node_ok():
    """Node and the installed @grpc modules (test_grpc_node.py installs them)."""
    return shutil.which("node") and all(
        os.path.isdir(os.path.join(NODE_DIR, "node_modules/@grpc", m))
        for m in ("grpc-js", "proto-loader"))


def json_ns(s):
    """ns since the epoch of a protojson Timestamp string (RFC 3339, Z)."""
    main, _, frac = s.rstrip("Z").partition(".")
    sec = datetime.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    return int(sec) * 1000000000 + int((frac or "0").ljust(9, "0")[:9])


def test():
    need_root()
    from google.protobuf import json_format
    base = os.path.realpath(tempfile.mkdtemp(prefix="vigil-grpck-"))
    os.chmod(base, 0o755)
    target = os.path.join(base, "victim")
    t = Tree(stages=["collector", "enricher", "evaluator", "exporter"],
             env={"VIGIL_COLLECTOR_OPTS":
                  f"--events process,file,net,priv --file-prefixes {base}/"})
    socks, node, calls = [], None, []
    try:
        tls, port = g.serve_tls(t)
        t.start()
        info = t.status("collector")["info"]
        for kind in ("file", "net", "priv"):
            check(kind in info.get("programs", ""), f"{kind} programs loaded: {info}")
        g.pb()
        tp = __import__("tetragon.tetragon_pb2").tetragon_pb2
        got = []
        call = g.get_events(g.channel(port, tls))
        calls.append(call)
        check(g.wait_subscribed(call), "python stream not open")

        def reader():
            try:
                for r in call:
                    got.append(r)
            except Exception:  # cancelled at the end
                pass
        threading.Thread(target=reader, daemon=True).start()
        nclients = 1
        node_lines = []
        if node_ok():
            filt = {"allow_list": [{"pid": [os.getpid()], "event_set": ["PROCESS_KPROBE"]}]}
            node = subprocess.Popen(["node", os.path.join(NODE_DIR, "client.js"),
                                     f"127.0.0.1:{port}", tls["ca"], tls["client"],
                                     tls["client_key"], json.dumps(filt), "100000"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            first = node.stdout.readline().strip()
            check(first == "subscribed", f"node client: {first!r}")

            def node_reader():
                for line in node.stdout:
                    if line.strip():
                        node_lines.append(json.loads(line))
            threading.Thread(target=node_reader, daemon=True).start()
            nclients = 2
        else:
            print("note: node or its @grpc modules missing: the Node check is skipped "
                  "(run test_grpc_node first)", flush=True)
        wait_for(lambda: t.counter("exporter", "grpc.clients") == nclients, 5,
                 what=f"{nclients} gRPC clients")
        pb0 = t.counters("exporter")
        me = os.getpid()
        x = Export(t)

        # -- file: open, chmod u+s, unlink -----------------------------------
        with open(target, "w") as f:
            f.write("x")
        os.chmod(target, 0o644)
        fd = os.open(target, os.O_RDONLY)
        os.chmod(target, 0o4755)
        os.close(fd)
        os.unlink(target)
        # -- net: listen, connect, accept ------------------------------------
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        socks.append(lst)
        lst.bind(("127.0.0.1", 0))
        lport = lst.getsockname()[1]
        lst.listen(4)
        c = socket.create_connection(("127.0.0.1", lport))
        socks.append(c)
        cport = c.getsockname()[1]
        a, _ = lst.accept()
        socks.append(a)
        # -- priv: setuid(0) (we are root: nothing changes), capset unchanged --
        os.setuid(0)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        hdr = struct.pack("Ii", 0x20080522, 0)
        data = ctypes.create_string_buffer(24)
        check(libc.syscall(125, hdr, data) == 0, "capget")
        check(libc.syscall(126, hdr, data) == 0, "capset")
        hop = subprocess.run([sys.executable, "-c", NSHOP], capture_output=True, text=True,
                             timeout=20)
        res = json.loads(hop.stdout)
        check(res["unshare"] == 0 and res["setns"] == 0, f"unshare/setns child: {res}")
        own_uts = os.stat("/proc/self/ns/uts").st_ino
        mnt = os.path.join(base, "mnt")
        os.mkdir(mnt)
        src = "vigil-grpck-" + os.path.basename(base)
        mo = subprocess.run([sys.executable, "-c", MOUNTER, mnt, src], capture_output=True,
                            text=True, timeout=20)
        mres = json.loads(mo.stdout)
        check(mres["unshare"] == 0 and mres["mount"] == 0, f"mount child: {mres}")

        # -- the JSON export's events (no policy copies) ------------------------
        nopol = lambda pred: (lambda e: "policy_name" not in e and pred(e))
        x.watch(res["pid"], mres["pid"])
        je = {}
        je["open"] = x.kprobe("security_file_open", me, nopol(
            lambda e: (arg(e, "file_arg") or {}).get("path") == target
            and e["return"]["int_arg"] == fd))
        je["chmod"] = x.kprobe("security_path_chmod", me, nopol(
            lambda e: (arg(e, "path_arg") or {}).get("path") == target))
        je["unlink"] = x.kprobe("security_path_unlink", me, nopol(
            lambda e: (arg(e, "path_arg") or {}).get("path") == target))
        je["connect"] = x.kprobe("tcp_connect", me, nopol(
            lambda e: (arg(e, "sock_arg") or {}).get("dport") == lport))
        je["accept"] = x.kprobe("security_socket_accept", me, nopol(
            lambda e: (arg(e, "sock_arg") or {}).get("dport") == cport))
        je["setuid"] = x.kprobe("sys_setuid", me, nopol(lambda e: True))
        je["capset"] = x.kprobe("sys_capset", me, nopol(lambda e: True))
        je["unshare"] = x.kprobe("sys_unshare", res["pid"], nopol(lambda e: True))
        je["setns"] = x.kprobe("sys_setns", res["pid"], nopol(lambda e: True))
        je["mount"] = x.kprobe("sys_mount", mres["pid"], nopol(
            lambda e: arg(e, "string_arg", "source") == src))
        # the JSON export itself says what we did (the reference for the gRPC side)
        check(je["open"]["return"]["int_arg"] == fd, f"export open {je['open']}")
        check(arg(je["connect"], "sock_arg").get("sport") == cport, "export connect")
        check(arg(je["setns"], "uint_arg", "inum") == own_uts,
              f"export setns inum {je['setns']['args']} want {own_uts}")
        check(arg(je["mount"], "uint_arg", "flags") == MOUNT_FLAGS,
              f"export mount flags {je['mount']['args']} want {MOUNT_FLAGS}")

        # the JSON lines, whole, to find each one's top-level time
        lines = {}
        for e in x.events:
            k = e.get("process_kprobe")
            for name, body in je.items():
                if k is body:
                    lines[name] = e

        def grpc_of(name):
            body = je[name]
            want_ns = json_ns(lines[name]["time"])
            for r in list(got):
                if r.WhichOneof("event") != "process_kprobe":
                    continue
                k = r.process_kprobe
                if k.function_name == body["function_name"] and not k.policy_name and \
                        k.process.exec_id == body["process"]["exec_id"] and \
                        r.time.seconds * 1000000000 + r.time.nanos == want_ns:
                    return r
            return None

        for name, body in je.items():
            r = wait_for(lambda: grpc_of(name), 10, what=f"gRPC {name} event")
            check(r.WhichOneof("event") == "process_kprobe", f"{name}: type")
            k = r.process_kprobe
            check(k.process.pid.value == body["process"]["pid"] and
                  k.process.binary == body["process"]["binary"],
                  f"{name}: process {k.process.pid.value} {k.process.binary}")
            check(r.node_name == lines[name]["node_name"], f"{name}: node_name")
            check(k.action == tp.KPROBE_ACTION_POST, f"{name}: action {k.action}")
            d = json_format.MessageToDict(k, preserving_proto_field_name=True)
            for key in ("function_name", "args", "return", "action"):
                # the unsigned values above 2^31 are checked on their own at the end
                dv, bv = d.get(key), body.get(key)
                if key == "args":
                    dv = [x for x in dv if (name, x.get("label")) not in WIDE]
                    bv = [x for x in bv if (name, x.get("label")) not in WIDE]
                check(dv == bv, f"{name}: gRPC {key} {dv!r}\n  export {bv!r}")

        # -- and field by field, as a user of the gRPC API reads them -----------
        def kp(name):
            return grpc_of(name).process_kprobe

        def garg(k, field, label=None):
            for a in k.args:
                if a.WhichOneof("arg") == field and (label is None or a.label == label):
                    return getattr(a, field)
            return None
        k = kp("open")
        check(k.function_name == "security_file_open" and k.args[0].WhichOneof("arg") ==
              "file_arg" and k.args[0].file_arg.path == target, f"open file_arg {k.args[0]}")
        check(k.args[0].file_arg.permission == "-rw-r--r--", f"open permission {k.args[0]}")
        check(getattr(k, "return").int_arg == fd, f"open return {getattr(k, 'return')}")
        check(garg(k, "string_arg", "syscall") == "openat", "open syscall label")
        k = kp("chmod")
        check(k.args[0].path_arg.path == target and garg(k, "int_arg", "mode") == 0o4755,
              f"chmod args {list(k.args)}")
        check(getattr(k, "return").int_arg == 0, "chmod return")
        k = kp("unlink")
        check(k.args[0].path_arg.path == target and getattr(k, "return").int_arg == 0,
              f"unlink args {list(k.args)}")
        k = kp("connect")
        sk = garg(k, "sock_arg")
        check(sk.family == "AF_INET" and sk.type == "SOCK_STREAM" and
              sk.protocol == "IPPROTO_TCP" and sk.saddr == "127.0.0.1" and
              sk.daddr == "127.0.0.1" and sk.sport == cport and sk.dport == lport and
              sk.state == "TCP_ESTABLISHED", f"connect sock_arg {sk}")
        sa = garg(k, "sockaddr_arg", "address")
        check(sa.family == "AF_INET" and sa.addr == "127.0.0.1" and sa.port == lport,
              f"connect sockaddr_arg {sa}")
        check(garg(k, "int_arg", "fd") == c.fileno() and getattr(k, "return").int_arg == 0,
              f"connect fd/return {list(k.args)}")
        k = kp("accept")
        sk = garg(k, "sock_arg")
        check(sk.sport == lport and sk.dport == cport and sk.family == "AF_INET",
              f"accept sock_arg {sk}")
        check(getattr(k, "return").int_arg == a.fileno() and
              garg(k, "int_arg", "fd") == lst.fileno(), f"accept return/fd {list(k.args)}")
        k = kp("setuid")
        cr = garg(k, "process_credentials_arg")
        check(cr.euid.value == 0 and cr.uid.value == 0 and cr.HasField("euid"),
              f"setuid creds {cr}")
        check(garg(k, "int_arg", "uid") == 0 and getattr(k, "return").int_arg == 0,
              f"setuid args {list(k.args)}")
        k = kp("capset")
        cr = garg(k, "process_credentials_arg")
        check(21 in list(cr.caps.effective) and getattr(k, "return").int_arg == 0,
              f"capset caps {cr.caps}")
        k = kp("unshare")
        check(garg(k, "int_arg", "flags") == CLONE_NEWUTS and
              garg(k, "string_arg", "namespaces") == "CLONE_NEWUTS" and
              getattr(k, "return").int_arg == 0, f"unshare args {list(k.args)}")
        check((garg(k, "string_arg", "ns_changes") or "").startswith(f"uts:{own_uts}->"),
              f"unshare ns_changes {list(k.args)}")
        k = kp("setns")
        check(garg(k, "string_arg", "namespace") == "uts" and
              garg(k, "int_arg", "fd") == res["fd"], f"setns args {list(k.args)}")
        k = kp("mount")
        check(garg(k, "string_arg", "target") == mnt and
              garg(k, "string_arg", "fstype") == "tmpfs" and
              getattr(k, "return").int_arg == 0, f"mount args {list(k.args)}")

        pb1 = t.counters("exporter")
        for cn in ("grpc.pb_unknown_field", "grpc.pb_bad_value"):
            check(pb1.get(cn, 0) == pb0.get(cn, 0),
                  f"{cn} grew from {pb0.get(cn, 0)} to {pb1.get(cn, 0)}")

        # -- the Node client: the open with its path ----------------------------
        if node:
            def node_open():
                for r in node_lines:
                    k = r.get("process_kprobe") or {}
                    if k.get("function_name") == "security_file_open" and \
                            not k.get("policy_name") and \
                            k.get("return", {}).get("int_arg") == fd:
                        return k
                return None
            k = wait_for(node_open, 10, what="the node client's security_file_open")
            check(k["args"][0].get("arg") == "file_arg" and
                  k["args"][0]["file_arg"]["path"] == target,
                  f"node file_arg {k['args'][0]}")
            check(k["process"]["pid"]["value"] == me and
                  k["process"]["exec_id"] == je["open"]["process"]["exec_id"],
                  f"node process {k['process'].get('pid')}")
            others = [r for r in node_lines if "process_kprobe" not in r or
                      r["process_kprobe"]["process"]["pid"]["value"] != me]
            check(not others, f"node filter let through {others[:2]}")
            print(f"node client: security_file_open {target} ok", flush=True)
        print(f"gRPC = export for {', '.join(je)}", flush=True)
        # setns [inum] (a namespace inode: 4026531838 for the host's UTS) and mount
        # [flags] with MS_MGC_VAL are unsigned values above 2^31: the gRPC client must get
        # what the JSON export has, in an argument whose proto type holds it (int_arg is
        # an int32: such a value would arrive negative)
        bad = []
        for name, label in sorted(WIDE):
            ga = [a for a in kp(name).args if a.label == label]
            # (int(): a long_arg is a JSON string, as protojson writes an int64)
            jv = [int(v) for x in je[name]["args"] if x.get("label") == label
                  for k_, v in x.items() if k_ != "label"]
            kind = ga[0].WhichOneof("arg") if ga else None
            gv = getattr(ga[0], kind) if ga else None
            print(f"{name} [{label}]: gRPC {kind} {gv}, export {jv}", flush=True)
            if len(ga) != 1 or jv != [gv]:
                bad.append(f"{name} [{label}] over gRPC is {kind} {gv}, the JSON export has "
                           f"{jv}")
        check(not bad, "; ".join(bad))
        call.cancel()
        t.stop()
        check(not t.leaked_progs(), "BPF programs left loaded after stop")
    finally:
        for cl in calls:
            cl.cancel()
        if node and node.poll() is None:
            node.kill()
            node.wait()
        for s in socks:
            s.close()
        t.cleanup()
        # the mount lived in the child's namespace only: nothing to unmount here
        shutil.rmtree(base, ignore_errors=True)


run_test(test)
