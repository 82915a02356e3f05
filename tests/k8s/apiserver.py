"""A Kubernetes API test server (pods only), stdlib http.server + ssl.

TLS with a CA and server certificate it generates with openssl; bearer-token auth;
GET /api/v1/pods (and /api/v1/namespaces/NS/pods) with fieldSelector=spec.nodeName=X,
limit/continue paging, resourceVersion; watch=true streams chunked JSON lines (ADDED,
MODIFIED, DELETED, BOOKMARK when allowWatchBookmarks, ERROR 410 when the requested
resourceVersion is compacted). Faults for tests: expire() (the next watch gets 410),
drop_watches() (close open streams), garbage(n) (a garbage line before each of the next n
watch events),
slow(seconds) (responses wait), fail(n, code) (the next n requests get an HTTP error),
down() / up() (the server goes away: the port refuses connections and open watches are
cut; up() listens again on the same port with the same certificate and history).
The token is read from token_file for every request: set_token() rotates it, and the old
token is refused from then on (401), as an API server does after the rotation window.

Use from a test:  srv = ApiServer(tmpdir).start(); srv.add_pod(make_pod(...)); srv.stop()"""
import copy
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_certs(d):
    """A test CA and a server certificate for 127.0.0.1/localhost; returns paths."""
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    key, csr, crt = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.crt"))
    ext = os.path.join(d, "ext.cnf")
    q = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    ca_key, "-out", ca_crt, "-days", "2", "-subj", "/CN=vigil-test-ca"], **q)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", csr, "-subj", "/CN=kube-apiserver"], **q)
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                    "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext], **q)
    return ca_crt, crt, key


def make_pod(name, node, ns="default", uid=None, labels=None, containers=(),
             owner=("ReplicaSet", None), annotations=None, sa="default"):
    """A v1 Pod object. containers: (name, image, container id hex, privileged)."""
    uid = uid or str(uuid.uuid4())
    meta = {"name": name, "namespace": ns, "uid": uid, "labels": dict(labels or {}),
            "annotations": dict(annotations or {}),
            "creationTimestamp": "2026-11-25T10:00:00Z"}
    if owner and owner[0]:
        oname = owner[1] or (name.rsplit("-", 1)[0])
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": oname,
                                    "uid": str(uuid.uuid4()), "controller": True,
                                    "blockOwnerDeletion": True}]
    spec = {"nodeName": node, "serviceAccountName": sa, "containers": []}
    statuses = []
    for cname, image, cid, priv in containers:
        c = {"name": cname, "image": image}
        if priv:
            c["securityContext"] = {"privileged": True}
        spec["containers"].append(c)
        statuses.append({"name": cname, "image": image,
                         "imageID": image.split(":")[0] + "@sha256:" + "ab" * 32,
                         "containerID": f"containerd://{cid}", "ready": True,
                         "restartCount": 0, "started": True,
                         "state": {"running": {"startedAt": "2026-11-25T10:00:01Z"}}})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": {"phase": "Running", "podIP": "10.0.0.5", "hostIP": "10.0.0.1",
                       "containerStatuses": statuses}}


class State:
    def __init__(self):
        self.cv = threading.Condition()
        self.rv = 100
        self.pods = {}         # uid -> pod
        self.history = []      # (rv, type, pod)
        self.compacted = 0     # watches from rv <= this get 410
        self.garbage_rvs = set()  # events preceded by a line of garbage
        self.slow = 0.0
        self.fail = []         # HTTP codes for the next requests
        self.drop_gen = 0
        self.requests = []     # (path, auth header)
        self.watches = 0
        self.lists = 0
        self.accept = None     # the server's own token (None: the token file's)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def status(self, code, reason, msg):
        self.send_json(code, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": msg, "reason": reason,
                              "code": code})

    def do_GET(self):
        st = self.server.state
        u = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        with st.cv:
            st.requests.append((u.path + "?" + u.query, self.headers.get("Authorization")))
            fail = st.fail.pop(0) if st.fail else None
            slow = st.slow
        if slow:
            time.sleep(slow)
        if self.headers.get("Authorization") != f"Bearer {self.server.token()}":
            return self.status(401, "Unauthorized", "Unauthorized")
        if fail:
            return self.status(fail, "InternalError", "injected failure")
        parts = u.path.strip("/").split("/")
        ns = None
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 5 and parts[4] == "pods":
            ns = parts[3]
        elif parts != ["api", "v1", "pods"]:
            return self.status(404, "NotFound", "the server could not find the resource")
        node = None
        fs = q.get("fieldSelector", "")
        if fs:
            k, _, v = fs.partition("=")
            if k != "spec.nodeName":
                return self.status(400, "BadRequest", f"field label not supported: {k}")
            node = v

        def match(p):
            return (node is None or p["spec"].get("nodeName") == node) and \
                (ns is None or p["metadata"]["namespace"] == ns)
        if q.get("watch", "").lower() in ("true", "1"):
            return self.watch(st, q, match)
        with st.cv:
            st.lists += 1
            items = sorted((p for p in st.pods.values() if match(p)),
                           key=lambda p: p["metadata"]["name"])
            rv = st.rv
        start = int(q.get("continue") or 0)
        limit = int(q.get("limit") or 0) or len(items) or 1
        page = items[start:start + limit]
        meta = {"resourceVersion": str(rv)}
        if start + limit < len(items):
            meta["continue"] = str(start + limit)
        self.send_json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": meta,
                             "items": page})

    def chunk(self, b):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(b), b))
        self.wfile.flush()

    def watch(self, st, q, match):
        rv = int(q.get("resourceVersion") or 0)
        bookmarks = q.get("allowWatchBookmarks", "").lower() == "true"
        deadline = time.monotonic() + min(int(q.get("timeoutSeconds") or 60), 60)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with st.cv:
            st.watches += 1
            gen = st.drop_gen
            if rv and rv <= st.compacted:
                ev = {"type": "ERROR", "object": {
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": f"too old resource version: {rv} ({st.compacted + 1})",
                    "reason": "Expired", "code": 410}}
                self.chunk(json.dumps(ev).encode() + b"\n")
                self.chunk(b"")
                return
        last_bm = time.monotonic()
        try:
            while time.monotonic() < deadline:
                out = []
                with st.cv:
                    if st.drop_gen != gen:  # a dropped connection: no final chunk
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    for hrv, typ, pod in st.history:
                        if hrv > rv and match(pod):
                            if hrv in st.garbage_rvs:
                                out.append(b'{"type": "ADDED", "object": {garbage\n')
                            out.append(json.dumps({"type": typ, "object": pod}).encode() + b"\n")
                    rv = max([rv] + [h[0] for h in st.history])
                    if not out:
                        st.cv.wait(0.1)
                for line in out:
                    self.chunk(line)
                if bookmarks and time.monotonic() - last_bm > 1.0:
                    last_bm = time.monotonic()
                    self.chunk(json.dumps({"type": "BOOKMARK", "object": {
                        "kind": "Pod", "apiVersion": "v1",
                        "metadata": {"resourceVersion": str(rv)}}}).encode() + b"\n")
            self.chunk(b"")
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True


class ApiServer:
    def __init__(self, workdir, token="vigil-test-token"):
        self.dir = workdir
        self.state = State()
        self.token_file = os.path.join(workdir, "token")
        self.set_token(token)
        self.ca, crt, key = make_certs(workdir)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(crt, key)
        self.httpd = self._listen(0)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.thread = None

    def _listen(self, port):
        httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        httpd.daemon_threads = True
        httpd.state = self.state
        httpd.token = self.token
        httpd.socket = self.ctx.wrap_socket(httpd.socket, server_side=True)
        return httpd

    def token(self):
        if self.state.accept is not None:
            return self.state.accept
        with open(self.token_file) as f:
            return f.read().strip()

    def accept_only(self, token):
        """The server rotates first: only token is valid from now on, whatever the client's
        token file says (None: back to the token file)."""
        self.state.accept = token

    def set_token(self, token):
        with open(self.token_file + ".tmp", "w") as f:
            f.write(token + "\n")
        os.rename(self.token_file + ".tmp", self.token_file)

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd:
            self.down()

    def down(self):
        """Go away: stop listening (connections are refused) and cut open watches."""
        self.drop_watches()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.httpd = None

    def up(self):
        """Come back on the same port (same certificate, pods and history)."""
        for _ in range(50):
            try:
                self.httpd = self._listen(self.port)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise OSError(f"cannot listen again on port {self.port}")
        return self.start()

    def requests_since(self, n):
        """(path, Authorization) of the requests after the first n."""
        with self.state.cv:
            return list(self.state.requests[n:])

    def _event(self, typ, pod):
        st = self.state
        with st.cv:
            st.rv += 1
            pod = copy.deepcopy(pod)
            pod["metadata"]["resourceVersion"] = str(st.rv)
            if typ == "DELETED":
                st.pods.pop(pod["metadata"]["uid"], None)
            else:
                st.pods[pod["metadata"]["uid"]] = pod
            st.history.append((st.rv, typ, pod))
            st.cv.notify_all()
        return pod

    def add_pod(self, pod):
        return self._event("ADDED", pod)

    def modify_pod(self, pod):
        return self._event("MODIFIED", pod)

    def delete_pod(self, pod):
        return self._event("DELETED", pod)

    def expire(self):
        """Compact history: every watch from an older resourceVersion gets 410."""
        with self.state.cv:
            self.state.compacted = self.state.rv
            self.state.history = []
            self.state.drop_gen += 1
            self.state.cv.notify_all()

    def drop_watches(self):
        with self.state.cv:
            self.state.drop_gen += 1
            self.state.cv.notify_all()

    def garbage(self, n=1):
        """Every watch stream gets a line of garbage before each of the next n events."""
        with self.state.cv:
            self.state.garbage_rvs.update(range(self.state.rv + 1, self.state.rv + 1 + n))

    def slow(self, seconds):
        self.state.slow = seconds

    def fail(self, n, code=500):
        with self.state.cv:
            self.state.fail.extend([code] * n)
