"""e2e: with the whole tree under s6 and --events process,net, this process binds, listens,
connects and accepts on loopback; each call reaches the JSON export as a process_kprobe
(security_socket_bind / _listen / tcp_connect / security_socket_accept) with its sock_arg,
sockaddr_arg and return value: a successful connect returns 0, one to a closed port
-ECONNREFUSED, ::1 comes out as AF_INET6. A reverse shell (sh -i whose stdin/stdout are a
TCP socket connected to a listener here, set up with dup2 by a shell) shows as a
process_exec flagged stdinSocket/stdoutSocket, a sys_execve event with the peer address,
and a sys_dup2 event putting the socket on fd 0."""
import errno
import os
import socket
import subprocess

from collectortest import Export, arg
from vigiltest import Tree, check, need_root, run_test


def kprobes(x, fn, pred, pid=None):
    """The export's process_kprobe of pid (default: this process) with function fn and pred."""
    return x.kprobe(fn, pid or os.getpid(), pred)


def closed_port(family, host):
    """A port nobody listens on: bound (so nobody else takes it) but not listening."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((host, 0))
    return s, s.getsockname()[1]


def test():
    need_root()
    t = Tree(stages=["collector", "enricher", "evaluator", "exporter"],
             env={"VIGIL_COLLECTOR_OPTS": "--events process,net"})
    socks = []
    shell = None
    try:
        t.start()
        x = Export(t)
        # bind + listen
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        socks.append(lst)
        lst.bind(("127.0.0.1", 0))
        port = lst.getsockname()[1]
        lst.listen(7)
        # port 0 asked (left out of the JSON as protojson does), the kernel's choice in sock_arg
        e = kprobes(x, "security_socket_bind",
                    lambda e: (arg(e, "sock_arg") or {}).get("sport") == port)
        sa = arg(e, "sockaddr_arg")
        check(sa == {"family": "AF_INET", "addr": "127.0.0.1"}, f"bind {sa}")
        check(e["return"]["int_arg"] == 0, f"bind return {e['return']}")
        check(arg(e, "string_arg", "syscall") == "bind", f"bind syscall {e['args']}")
        e = kprobes(x, "security_socket_listen",
                    lambda e: (arg(e, "sock_arg") or {}).get("sport") == port)
        check(arg(e, "int_arg", "backlog") == 7, f"listen backlog {e['args']}")
        sk = arg(e, "sock_arg")
        check(sk.get("state") == "TCP_LISTEN" and sk.get("protocol") == "IPPROTO_TCP"
              and sk.get("type") == "SOCK_STREAM", f"listen sock {sk}")

        # connect (success) and accept
        c = socket.create_connection(("127.0.0.1", port))
        socks.append(c)
        cport = c.getsockname()[1]
        a, _ = lst.accept()
        socks.append(a)
        e = kprobes(x, "tcp_connect",
                    lambda e: (arg(e, "sockaddr_arg") or {}).get("port") == port)
        check(e["return"]["int_arg"] == 0, f"connect return {e['return']}")
        sk = arg(e, "sock_arg")
        check(sk.get("family") == "AF_INET" and sk.get("daddr") == "127.0.0.1"
              and sk.get("dport") == port and sk.get("sport") == cport
              and sk.get("state") == "TCP_ESTABLISHED", f"connect sock {sk}")
        e = kprobes(x, "security_socket_accept",
                    lambda e: (arg(e, "sock_arg") or {}).get("dport") == cport)
        check(e["return"]["int_arg"] == a.fileno(), f"accept return {e['return']}")
        check(arg(e, "int_arg", "fd") == lst.fileno(), f"accept listening fd {e['args']}")
        check(arg(e, "sock_arg").get("sport") == port, f"accept sock {e['args']}")

        # connect refused
        hold, cp = closed_port(socket.AF_INET, "127.0.0.1")
        socks.append(hold)
        r = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        socks.append(r)
        check(r.connect_ex(("127.0.0.1", cp)) == errno.ECONNREFUSED, "connect refused")
        e = kprobes(x, "tcp_connect",
                    lambda e: (arg(e, "sockaddr_arg") or {}).get("port") == cp)
        check(e["return"]["int_arg"] == -errno.ECONNREFUSED, f"refused return {e['return']}")

        # IPv6 loopback
        l6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        socks.append(l6)
        l6.bind(("::1", 0))
        p6 = l6.getsockname()[1]
        l6.listen(1)
        c6 = socket.create_connection(("::1", p6))
        socks.append(c6)
        e = kprobes(x, "tcp_connect",
                    lambda e: (arg(e, "sockaddr_arg") or {}).get("port") == p6)
        check(arg(e, "sockaddr_arg") == {"family": "AF_INET6", "addr": "::1", "port": p6},
              f"v6 sockaddr {e['args']}")
        sk = arg(e, "sock_arg")
        check(sk.get("family") == "AF_INET6" and sk.get("daddr") == "::1"
              and sk.get("dport") == p6, f"v6 sock {sk}")

        # a non-TCP connect (UDP) keeps the LSM hook's name
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        socks.append(u)
        u.connect(("127.0.0.1", port))
        e = kprobes(x, "security_socket_connect",
                    lambda e: (arg(e, "sock_arg") or {}).get("protocol") == "IPPROTO_UDP")
        check(arg(e, "sockaddr_arg").get("port") == port, f"udp connect {e['args']}")

        # reverse shell: a shell dup2s a connected socket onto 0/1/2, then execs sh -i
        rs = socket.create_connection(("127.0.0.1", port))
        socks.append(rs)
        rport = rs.getsockname()[1]
        peer, _ = lst.accept()
        socks.append(peer)
        shell = subprocess.Popen(["/bin/sh", "-c", "exec 0<&3 1>&3 2>&3 3>&-; exec /bin/sh -i"],
                                 pass_fds=(3,), stdin=subprocess.DEVNULL,
                                 preexec_fn=lambda: os.dup2(rs.fileno(), 3))
        peer.sendall(b"exit\n")
        shell.wait(timeout=10)
        x.watch(shell.pid)
        ex = x.find("process_exec", lambda e: e["process"]["pid"] == shell.pid
                    and e["process"].get("arguments") == "-i")
        flags = ex["process"].get("flags", "").split()
        check("stdinSocket" in flags and "stdoutSocket" in flags,
              f"reverse shell flags {flags}")
        e = kprobes(x, "sys_execve", lambda e: True, pid=shell.pid)
        sk = arg(e, "sock_arg")
        check(sk.get("daddr") == "127.0.0.1" and sk.get("dport") == port
              and sk.get("sport") == rport, f"reverse shell peer {sk}")
        check(arg(e, "string_arg", "stdio") == "stdin stdout stderr", f"stdio {e['args']}")
        e = kprobes(x, "sys_dup2", lambda e: arg(e, "int_arg", "newfd") == 0, pid=shell.pid)
        check(arg(e, "sock_arg").get("dport") == port, f"dup2 sock {e['args']}")

        check(t.counter("collector", "ringbuf_lost.net") == 0, "no net events lost")
        check(t.counter("collector", "kernel.emitted.net") >= 8, "net events counted")
        t.stop()
        left = t.leaked_progs()
        check(not left, f"BPF programs left loaded after stop: {left}")
    finally:
        if shell and shell.poll() is None:
            shell.kill()
            shell.wait()
        for s in socks:
            s.close()
        t.cleanup()


run_test(test)
