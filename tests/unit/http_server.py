#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""HTTP/1.1 server on 127.0.0.1 for tests/unit/test-http.c.

Prints the port it listens on as the first line of stdout, then serves until killed.
With --tls DIR it first writes a self-signed server certificate (for IP 127.0.0.1) and a
self-signed client certificate into DIR with openssl(1), and serves HTTPS that requires that
client certificate; if openssl is missing it prints "SKIP" and exits 0.

Routes (any method):
  /echo              200, body "METHOD PATH\n" + request body; headers ETag, X-Method,
                     X-Echo (the request's X-Test), X-Body-Length, X-Content-Type,
                     X-Client-Port, X-Authorization
  /status/NNN        status NNN with a short body
  /big?n=N           N bytes with Content-Length
  /chunked?n=N       N bytes, chunked (no Content-Length)
  /sleep?ms=N        sleeps N ms, then 200
  /stream?n=N&ms=M   chunked, N lines "line I\n" (one chunk each) M ms apart; n=0: forever
  /headers?n=N       200 with N extra headers
  /junk/KIND/...     an etcd impostor for test-lease-etcd.c, 200 with: KIND text: not JSON;
                     empty: {}; array: [1]; huge: 100 kB of JSON; badid: a lease grant whose
                     ID is no number; grantonly: a good grant, then {} for everything else
"""

import http.server
import os
import shutil
import socketserver
import ssl
import subprocess
import sys
import time
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse can be checked

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        n = int(query.get("n", ["0"])[0])
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length > 0 else b""

        if url.path == "/echo":
            out = f"{self.command} {self.path}\n".encode() + body
            self.reply(200, out, [
                ("ETag", '"etag-1234"'),
                ("X-Method", self.command),
                ("X-Echo", self.headers.get("X-Test", "")),
                ("X-Body-Length", str(len(body))),
                ("X-Content-Type", self.headers.get("Content-Type", "(none)")),
                ("X-Client-Port", str(self.client_address[1])),
                ("X-Authorization", self.headers.get("Authorization", "")),
            ])
        elif url.path.startswith("/status/"):
            status = int(url.path[len("/status/"):])
            self.reply(status, f"status {status}\n".encode())
        elif url.path == "/big":
            self.reply(200, b"x" * n)
        elif url.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            left = n
            while left > 0:
                k = min(left, 4096)
                self.wfile.write(b"%x\r\n" % k + b"y" * k + b"\r\n")
                left -= k
            self.wfile.write(b"0\r\n\r\n")
        elif url.path == "/stream":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            i = 0
            while n == 0 or i < n:
                line = f"line {i}\n".encode()
                self.wfile.write(b"%x\r\n" % len(line) + line + b"\r\n")
                self.wfile.flush()
                i += 1
                time.sleep(int(query.get("ms", ["10"])[0]) / 1000)
            self.wfile.write(b"0\r\n\r\n")
        elif url.path == "/sleep":
            time.sleep(int(query.get("ms", ["1000"])[0]) / 1000)
            self.reply(200, b"slept\n")
        elif url.path.startswith("/junk/"):
            kind = url.path.split("/")[2]
            if kind == "grantonly" and url.path.endswith("/v3/lease/grant"):
                out = b'{"ID":"7587878787878787878","TTL":"2"}'
            else:
                out = {"text": b"this is not JSON\n", "empty": b"{}", "array": b"[1]",
                       "huge": b'{"a":"' + b"x" * 100000 + b'"}',
                       "badid": b'{"ID":"12.5e3","TTL":"2"}'}.get(kind, b"{}")
            self.reply(200, out)
        elif url.path == "/headers":
            self.reply(200, b"ok\n", [(f"X-H-{i}", str(i)) for i in range(n)])
        else:
            self.reply(404, b"no such route\n")

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many concurrent connects in one burst

    def handle_error(self, request, client_address):
        pass  # clients that hang up early (caps, cancels, timeouts) are expected


def make_certs(d):
    def selfsigned(name, cn, san):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", "/CN=" + cn, "-addext", "subjectAltName=" + san,
                        "-keyout", os.path.join(d, name + ".key"),
                        "-out", os.path.join(d, name + ".pem")],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    selfsigned("server", "127.0.0.1", "IP:127.0.0.1")
    selfsigned("client", "solocron-test-client", "DNS:client.test")


def main():
    server = Server(("127.0.0.1", 0), Handler)
    if len(sys.argv) == 3 and sys.argv[1] == "--tls":
        d = sys.argv[2]
        if not shutil.which("openssl"):
            print("SKIP", flush=True)
            return
        make_certs(d)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(os.path.join(d, "client.pem"))
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
