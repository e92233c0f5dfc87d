# SPDX-License-Identifier: MIT
"""Real lease stores for the fleet tests, started on 127.0.0.1 by the tests themselves:
Debian's etcd (a single node or a 3-node cluster), Debian's redis-server and PostgreSQL, and
the S3 servers (tests/integration/helpers/s3_double.py, a labelled S3-semantics test
double)."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
HELPERS = os.path.join(os.path.dirname(__file__), "helpers")


def free_port():
    """A port of 127.0.0.1 that nothing listens on, for a server a test starts. Taken below the
    kernel's ephemeral range: a port from bind(0) is one that any outgoing connection may take
    before the server binds it (etcd then fails with "address already in use"); here only
    another test's pick could, one in thousands."""
    import random
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    for _ in range(100 if low > 12000 else 0):
        port = random.randint(10000, low - 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EtcdCluster:
    """n etcd members on 127.0.0.1 with ephemeral ports and private data directories."""

    def __init__(self, n=1):
        self.dir = tempfile.mkdtemp(prefix="solocron-etcd-")
        self.members = []
        for i in range(n):
            self.members.append({"name": f"m{i}", "client": free_port(), "peer": free_port()})
        cluster = ",".join(f"{m['name']}=http://127.0.0.1:{m['peer']}" for m in self.members)
        for m in self.members:
            m["proc"] = self._start(m, cluster)
        self.wait_healthy()

    def _start(self, m, cluster):
        log = open(os.path.join(self.dir, m["name"] + ".log"), "ab")
        return subprocess.Popen([
            ETCD, "--name", m["name"], "--data-dir", os.path.join(self.dir, m["name"]),
            "--listen-client-urls", f"http://127.0.0.1:{m['client']}",
            "--advertise-client-urls", f"http://127.0.0.1:{m['client']}",
            "--listen-peer-urls", f"http://127.0.0.1:{m['peer']}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{m['peer']}",
            "--initial-cluster", cluster, "--initial-cluster-state", "new",
            "--heartbeat-interval", "50", "--election-timeout", "500",
        ], stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    @property
    def endpoints(self):
        return [f"http://127.0.0.1:{m['client']}" for m in self.members]

    def wait_healthy(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for url in self.endpoints:
                try:
                    with urllib.request.urlopen(url + "/health", timeout=1) as r:
                        if json.load(r).get("health") == "true":
                            return
                except OSError:
                    pass
            time.sleep(0.05)
        raise AssertionError("etcd did not become healthy")

    def range(self, key):
        """The value of key (bytes), or None."""
        import base64
        body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
        for url in self.endpoints:
            try:
                req = urllib.request.Request(url + "/v3/kv/range", data=body, method="POST")
                with urllib.request.urlopen(req, timeout=2) as r:
                    kvs = json.load(r).get("kvs") or []
                    return base64.b64decode(kvs[0]["value"]) if kvs else None
            except OSError:
                continue
        raise AssertionError("no etcd member answered")

    def wait_deleted(self, key, timeout=15):
        """Return once key is gone: at once if it is, else on the DELETE event of a /v3/watch
        from the revision the range saw."""
        import base64
        k64 = base64.b64encode(key.encode()).decode()
        url = self.endpoints[0]
        req = urllib.request.Request(url + "/v3/kv/range", method="POST",
                                     data=json.dumps({"key": k64}).encode())
        with urllib.request.urlopen(req, timeout=2) as r:
            reply = json.load(r)
        if not reply.get("kvs"):
            return
        start = int(reply["header"]["revision"]) + 1
        req = urllib.request.Request(url + "/v3/watch", method="POST", data=json.dumps(
            {"create_request": {"key": k64, "start_revision": str(start)}}).encode())
        with urllib.request.urlopen(req, timeout=timeout) as r:
            for line in r:
                events = json.loads(line).get("result", {}).get("events") or []
                if any(e.get("type") == "DELETE" for e in events):
                    return
        raise AssertionError(f"the watch of {key} ended before its deletion")

    def kill(self, i):
        self.members[i]["proc"].kill()
        self.members[i]["proc"].wait()

    def restart(self, i):
        """Start member i again (after kill) on its data directory, and wait until it
        answers."""
        cluster = ",".join(f"{m['name']}=http://127.0.0.1:{m['peer']}" for m in self.members)
        self.members[i]["proc"] = self._start(self.members[i], cluster)
        self.wait_healthy()

    def stop(self):
        for m in self.members:
            if m["proc"].poll() is None:
                m["proc"].terminate()
        for m in self.members:
            try:
                m["proc"].wait(timeout=10)
            except subprocess.TimeoutExpired:
                m["proc"].kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class S3Double:
    """The S3-semantics test double (a labelled stand-in: no installable S3 server enforces
    conditional writes), on an ephemeral port. tls_dir: serve HTTPS with a certificate it
    makes there (ca_file, the CA that signed it); needs openssl(1)."""

    def __init__(self, *args, tls_dir=None):
        tls = ["--tls", str(tls_dir)] if tls_dir else []
        self.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HELPERS, "s3_double.py"),
                                      *tls, *args],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode().strip()
        self.port = int(line.split()[-1])
        self.ca_file = os.path.join(str(tls_dir), "server.pem") if tls_dir else None
        self.endpoint = f"{'https' if tls_dir else 'http'}://127.0.0.1:{self.port}"

    def control(self, method, what, body=None):
        """A test-control request (s3_double.py's /_double/ routes): its JSON answer."""
        import ssl
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.endpoint}/_double/{what}", data=data, method=method)
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=self.ca_file)))
        with opener.open(req, timeout=10) as r:
            return json.load(r)

    def fault(self, **f):
        self.control("POST", "fault", f)

    def stats(self):
        return self.control("GET", "stats")

    def record(self, key):
        """The record stored at key, parsed."""
        return json.loads(self.control("GET", f"object?key={key}")["body"])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class RedisServer:
    """redis-server on an ephemeral port of 127.0.0.1, in a private directory; password:
    requirepass."""

    def __init__(self, password=None):
        self.dir = tempfile.mkdtemp(prefix="solocron-redis-")
        self.port = free_port()
        self.password = password
        self.proc = None
        self.start()

    def start(self):
        args = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--save", "", "--appendonly", "no", "--daemonize", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        self.wait_answering()

    def wait_answering(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    reply = s.recv(64)
                    if reply.startswith((b"+PONG", b"-NOAUTH")):
                        return
            except OSError:
                pass
            assert self.proc.poll() is None, "redis-server exited"
            time.sleep(0.05)
        raise AssertionError("redis-server did not answer")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    @property
    def endpoint(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *args):
        """One command over RESP; its answer (a bulk or simple string as bytes, an integer,
        None)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            if self.password:
                s.sendall(_resp("AUTH", self.password))
                s.recv(64)
            s.sendall(_resp(*args))
            data = b""
            while not data.endswith(b"\r\n") or (data[:1] == b"$" and
                                                 len(data) < _bulk_end(data)):
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
        kind, rest = data[:1], data[1:data.index(b"\r\n")]
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return None if rest == b"-1" else data[data.index(b"\r\n") + 2:_bulk_end(data) - 2]
        return rest

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def _bulk_end(data):
    """Where a bulk string answer ends (its \\r\\n included)."""
    head = data.index(b"\r\n")
    n = int(data[1:head])
    return head + 2 if n < 0 else head + 2 + n + 2


def _pg_bin():
    """Debian's PostgreSQL server binaries (the newest version installed), or None."""
    import glob
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


class PgServer:
    """A PostgreSQL cluster made with initdb in a private directory and started with pg_ctl
    on an ephemeral port of 127.0.0.1, as the unprivileged user postgres when the tests run
    as root (the server refuses to run as root). User solocron with the given password,
    scram-sha-256 over TCP."""

    def __init__(self, password="secret", options=""):
        self.bin = _pg_bin()
        self.options = options          # more server settings: "-c log_statement=all"
        self.dir = tempfile.mkdtemp(prefix="solocron-pg-")
        self.port = free_port()
        self.password = password
        self.as_user = []
        if os.geteuid() == 0:
            import pwd
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["setpriv", "--reuid", "postgres", "--regid", "postgres",
                            "--init-groups"]
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(password + "\n")
        if self.as_user:
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        subprocess.run([*self.as_user, os.path.join(self.bin, "initdb"), "-D", self.data,
                        "-U", "solocron", f"--pwfile={pwfile}", "--auth=scram-sha-256",
                        "-E", "UTF8"], check=True, capture_output=True, cwd="/")
        self.start()

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    def dsn(self, password=None):
        return (f"host=127.0.0.1 port={self.port} dbname=postgres user=solocron "
                f"password={password or self.password} connect_timeout=5")

    def start(self):
        subprocess.run([*self.as_user, os.path.join(self.bin, "pg_ctl"), "-D", self.data,
                        "-l", os.path.join(self.dir, "log"), "-w", "-o",
                        f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                        f"-c fsync=off {self.options}", "start"], check=True,
                       capture_output=True, cwd="/")

    @property
    def log(self):
        return os.path.join(self.dir, "log")

    def stop(self):
        subprocess.run([*self.as_user, os.path.join(self.bin, "pg_ctl"), "-D", self.data,
                        "-m", "fast", "-w", "stop"], capture_output=True, cwd="/")

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
