#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""TEST DOUBLE -- not an S3 implementation. A small in-memory stand-in for the parts of the
S3 API that solocron's S3 lease backend uses, written from AWS's documented behaviour,
because no installable S3 emulator enforces conditional writes (s3rver ignores If-None-Match
and If-Match on PutObject). Never use it for anything but tests.

What it models (AWS S3 API Reference: PutObject, GetObject, HeadObject, DeleteObject,
ListObjectsV2, "Conditional writes", "Error responses"):
  - PutObject with If-None-Match: *  -> 412 PreconditionFailed if the key exists;
    PutObject with If-Match: ETAG     -> 412 PreconditionFailed if the key is absent or its
    ETag differs; two conditional writes to one key racing -> the later one gets
    409 ConditionalRequestConflict (--conflict-window-ms widens the race window).
  - ETag = quoted MD5 of the body (single-part upload); Date and Last-Modified from this
    process's own clock (RFC 7231 IMF-fixdate, whole seconds).
  - GetObject, HeadObject (no body), DeleteObject (204 even when absent), ListObjectsV2
    (list-type=2, prefix, max-keys, continuation-token, start-after (ignored with a
    continuation token); keys in UTF-8 binary order). AWS may
    return fewer keys than max-keys on a page; --list-max-keys N makes every page hold at
    most N, so that clients must follow continuation tokens.
  - Error XML bodies <Error><Code/><Message/><RequestId/></Error>.
  - Requests must be signed: an "AWS4-HMAC-SHA256 Credential=KEYID/..." Authorization header
    with a known key id (403 InvalidAccessKeyId), x-amz-date within 15 minutes of our clock
    (403 RequestTimeTooSkewed), x-amz-content-sha256 present and, for a hex value, equal to
    the body's SHA-256 (400 XAmzContentSHA256Mismatch), and x-amz-security-token when the
    key id has a session token (403 InvalidToken). The signature itself is NOT verified.
  - Path-style (/BUCKET/KEY) and virtual-hosted-style (Host: BUCKET.HOST) addressing.

Test-only control routes (a bucket name cannot start with '_'):
  GET  /_double/stats                 {"requests": {"PUT": n, ...}, "total": n,
                                      "statuses": {"409": n, ...}, "fetches": n,
                                      "dropped": n, "members": n, "lists": n,
                                      "kinds": {"GET :paused": n, "PUT record": n, ...}};
                                      members: the requests on ":peers/" keys (the fleet's
                                      heartbeats) and the listings of PREFIX/:p (its members
                                      and pause markers); lists: the other ListObjectsV2
                                      (history clean-ups); kinds: see kind_of()
  POST /_double/reset-stats
  POST /_double/fault                 JSON {"status": 500, "body": "...", "count": 1,
                                      "method": "PUT", "content_type": "application/xml",
                                      "key_prefix": ""}: the next `count` matching requests
                                      get it instead of being carried out. With "action":
                                      "delay" or "drop" the request IS carried out, and its
                                      answer (if its status is "if_status", when given) is
                                      held "delay_ms", then sent ("delay") or never sent, the
                                      connection closed ("drop"): a slow server, or an answer
                                      lost on the way back
  PUT  /_double/raw?key=K             store the body as object K of the first bucket as is
  GET  /_double/object?key=K          {"body": ..., "etag": ..., "last_modified": epoch}
  POST /_double/age?key=K&seconds=N   move K's Last-Modified N seconds into the past

With --metadata it serves, instead of S3, stand-ins for the ECS container credentials
endpoint (GET /v2/credentials/*; GET /full-uri/* wants Authorization: the --ecs-token) and
EC2 IMDSv2 (PUT /latest/api/token, GET /latest/meta-data/iam/security-credentials/[ROLE]),
handing out ASIA... keys that expire --cred-expiry seconds from now, numbered per fetch.

With --tls DIR it writes a self-signed certificate for IP 127.0.0.1 to DIR/server.pem (and
its key) with openssl(1) and serves HTTPS; without openssl it prints "SKIP" and exits.

Prints the port it listens on (127.0.0.1; ephemeral unless --port) as the first line of
stdout.
"""

import argparse
import base64
import calendar
import email.utils
import hashlib
import http.server
import json
import re
import os
import shutil
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape



def http_date(t):
    return email.utils.formatdate(int(t), usegmt=True)


def iso_date(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(int(t)))


def kind_of(method, key, query):
    """What a request is about, for the stats' "kinds": "GET :paused" (a key whose path has a
    segment starting with ':', named by it), "PUT record" (any other key), "LIST :members"
    (a listing, named by its prefix's ':' segment, or "records")."""
    if not key and query.get("list-type") == "2":
        method, key = "LIST", query.get("prefix", "")
    marks = [seg for seg in (key or "").split("/") if seg.startswith(":")]
    return f"{method} {marks[0] if marks else 'record' if method != 'LIST' else 'records'}"


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()   # send() counts answers, also under the lock
        self.buckets = {b: {} for b in args.bucket}     # bucket -> key -> Obj
        self.keys = {}                                  # access key id -> session token or None
        for spec in args.access_key:
            kid, _, token = spec.partition(":")
            self.keys[kid] = token or None
        self.inflight = set()                           # (bucket, key) of conditional writes
        self.stats = {}
        self.members = 0                                # the fleet's heartbeats and listings
        self.lists = 0                                  # other ListObjectsV2 requests
        self.kinds = {}                                 # "METHOD KIND" -> n (kind_of())
        self.statuses = {}                              # answers by status, control included
        self.faults = []
        self.fetches = 0                                # --metadata: credentials handed out
        self.dropped = 0                                # answers a "drop" fault never sent
        self.imds_tokens = set()


class Obj:
    def __init__(self, body, content_type):
        self.body = body
        self.etag = '"%s"' % hashlib.md5(body).hexdigest()
        self.last_modified = int(time.time())
        self.content_type = content_type


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "s3-double"
    disable_nagle_algorithm = True      # headers and body go out as two writes

    def log_message(self, fmt, *args):
        pass

    # ---- plumbing ----

    def send(self, status, body=b"", headers=(), head=False):
        st = self.server.state
        late = getattr(self, "late", None)
        self.late = None
        with st.lock:
            st.statuses[str(status)] = st.statuses.get(str(status), 0) + 1
            if late is not None and late["count"] > 0 and late.get("if_status", status) == status:
                late["count"] -= 1
            else:
                late = None
        if late is not None:
            # A slow server (the request was carried out; the answer takes its time) or a
            # lost answer (it never comes: the connection just closes).
            time.sleep(late.get("delay_ms", 0) / 1000.0)
            if late.get("action") == "drop":
                with st.lock:
                    st.dropped += 1
                self.close_connection = True
                return
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head and self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message, extra=()):
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
                "<Message>%s</Message>" % (code, escape(message)))
        for name, value in extra:
            body += "<%s>%s</%s>" % (name, escape(value), name)
        body += "<RequestId>double</RequestId></Error>"
        self.send(status, body.encode(), [("Content-Type", "application/xml")])

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def route(self):
        st = self.server.state
        self.late = None
        body = self.read_body()
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        if url.path.startswith("/_double/"):
            return self.control(url.path[len("/_double/"):], query, body)
        bucket, key = self.address(urllib.parse.unquote(url.path))
        with st.lock:
            st.stats[self.command] = st.stats.get(self.command, 0) + 1
            if ":peers/" in (key or "") or (not key and query.get("prefix", "").endswith("/:p")):
                st.members += 1
            elif not key and query.get("list-type") == "2":
                st.lists += 1
            kind = kind_of(self.command, key, query)
            st.kinds[kind] = st.kinds.get(kind, 0) + 1
            fault = None
            for f in st.faults:
                if (f.get("method") not in (None, self.command) or f["count"] <= 0 or
                        not key.startswith(f.get("key_prefix", ""))):
                    continue
                if f.get("action", "replace") != "replace":
                    self.late = self.late or f  # send() takes it if the status matches
                    continue
                f["count"] -= 1
                fault = f
                break
        if fault:
            hdrs = [("Content-Type", fault.get("content_type", "application/xml"))]
            return self.send(fault.get("status", 500), fault.get("body", "").encode(), hdrs)
        if st.args.metadata:
            return self.metadata(url.path)
        if not self.check_auth(body):
            return
        if bucket not in st.buckets:
            return self.error(404, "NoSuchBucket", "The specified bucket does not exist")
        if key == "":
            if self.command == "GET" and query.get("list-type") == "2":
                return self.list_objects(bucket, query)
            return self.error(405, "MethodNotAllowed", "Not supported by the test double")
        if self.command == "PUT":
            return self.put(bucket, key, body)
        if self.command in ("GET", "HEAD"):
            return self.get(bucket, key)
        if self.command == "DELETE":
            with st.lock:
                st.buckets[bucket].pop(key, None)
            return self.send(204, headers=[("Date", http_date(time.time()))])
        return self.error(405, "MethodNotAllowed", "Not supported by the test double")

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = route

    # Host: BUCKET.example:port is virtual-hosted style; anything else is path style.
    def address(self, path):
        host = (self.headers.get("Host") or "").split(":")[0]
        for b in self.server.state.buckets:
            if host.startswith(b + "."):
                return b, path[1:]
        parts = path[1:].split("/", 1)
        return parts[0], parts[1] if len(parts) > 1 else ""

    def check_auth(self, body):
        st = self.server.state
        auth = self.headers.get("Authorization") or ""
        m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, ?"
                     r"SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$", auth)
        if not m:
            self.error(403, "AccessDenied", "Missing or malformed SigV4 Authorization header")
            return False
        kid, signed = m.group(1), m.group(4).split(";")
        if kid not in st.keys:
            self.error(403, "InvalidAccessKeyId",
                       "The AWS Access Key Id you provided does not exist in our records.",
                       [("AWSAccessKeyId", kid)])
            return False
        for h in ("host", "x-amz-date", "x-amz-content-sha256"):
            if h not in signed:
                self.error(403, "AccessDenied", "Header %s is not signed" % h)
                return False
        amz_date = self.headers.get("x-amz-date") or ""
        try:
            t = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            self.error(403, "AccessDenied", "Bad x-amz-date")
            return False
        if abs(t - time.time()) > 900:
            self.error(403, "RequestTimeTooSkewed",
                       "The difference between the request time and the current time is too "
                       "large.", [("RequestTime", amz_date),
                                  ("ServerTime", iso_date(time.time()))])
            return False
        token = st.keys[kid]
        if token is not None and (self.headers.get("x-amz-security-token") != token or
                                  "x-amz-security-token" not in signed):
            self.error(403, "InvalidToken", "The provided token is malformed or otherwise invalid.")
            return False
        sha = self.headers.get("x-amz-content-sha256")
        if sha is None:
            self.error(400, "InvalidRequest",
                       "Missing required header for this request: x-amz-content-sha256")
            return False
        if sha != "UNSIGNED-PAYLOAD" and sha != hashlib.sha256(body).hexdigest():
            self.error(400, "XAmzContentSHA256Mismatch",
                       "The provided 'x-amz-content-sha256' header does not match what was "
                       "computed.")
            return False
        return True

    # ---- objects ----

    def put(self, bucket, key, body):
        st = self.server.state
        if_none = self.headers.get("If-None-Match")
        if_match = self.headers.get("If-Match")
        if if_none is not None and if_none != "*":
            return self.error(501, "NotImplemented", "If-None-Match accepts only '*'")
        conditional = if_none is not None or if_match is not None
        ident = (bucket, key)
        if conditional:
            with st.lock:
                if ident in st.inflight:
                    return self.error(409, "ConditionalRequestConflict",
                                      "A conflicting conditional operation is currently in "
                                      "progress against this resource. Please try again.")
                st.inflight.add(ident)
            # The window in which a racing conditional write sees the conflict.
            time.sleep(st.args.conflict_window_ms / 1000.0)
        failed = None
        try:
            with st.lock:
                cur = st.buckets[bucket].get(key)
                if if_none is not None and cur is not None:
                    failed = "If-None-Match"
                elif if_match is not None and (cur is None or cur.etag != if_match):
                    failed = "If-Match"
                else:
                    obj = Obj(body, self.headers.get("Content-Type") or "binary/octet-stream")
                    st.buckets[bucket][key] = obj
        finally:
            if conditional:
                with st.lock:
                    st.inflight.discard(ident)
        # Answered once the write is over, as S3 does: a slow answer ("delay" fault) holds
        # up no other write.
        if failed:
            return self.error(412, "PreconditionFailed", "At least one of the pre-conditions "
                              "you specified did not hold", [("Condition", failed)])
        self.send(200, headers=[("ETag", obj.etag), ("Date", http_date(time.time()))])

    def get(self, bucket, key):
        st = self.server.state
        with st.lock:
            obj = st.buckets[bucket].get(key)
        if obj is None:
            if self.command == "HEAD":
                return self.send(404, headers=[("Date", http_date(time.time()))])
            return self.error(404, "NoSuchKey", "The specified key does not exist.",
                              [("Key", key)])
        self.send(200, obj.body, [("ETag", obj.etag),
                                  ("Last-Modified", http_date(obj.last_modified)),
                                  ("Content-Type", obj.content_type),
                                  ("Date", http_date(time.time()))])

    def list_objects(self, bucket, query):
        st = self.server.state
        prefix = query.get("prefix", "")
        max_keys = min(int(query.get("max-keys", "1000")), st.args.list_max_keys)
        token = query.get("continuation-token")
        after = base64.b64decode(token).decode() if token else query.get("start-after")
        with st.lock:
            keys = sorted(k for k in st.buckets[bucket] if k.startswith(prefix) and
                          (after is None or k > after))
            objs = [(k, st.buckets[bucket][k]) for k in keys[:max_keys]]
        truncated = len(keys) > max_keys
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n'
               '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
               "<Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount>"
               "<MaxKeys>%d</MaxKeys><IsTruncated>%s</IsTruncated>"
               % (bucket, escape(prefix), len(objs), max_keys, "true" if truncated else "false")]
        for k, o in objs:
            out.append("<Contents><Key>%s</Key><LastModified>%s</LastModified><ETag>%s</ETag>"
                       "<Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>"
                       % (escape(k), iso_date(o.last_modified), escape(o.etag, {'"': "&quot;"}),
                          len(o.body)))
        if truncated:
            nxt = base64.b64encode(objs[-1][0].encode()).decode()
            out.append("<NextContinuationToken>%s</NextContinuationToken>" % nxt)
        out.append("</ListBucketResult>")
        self.send(200, "".join(out).encode(), [("Content-Type", "application/xml"),
                                               ("Date", http_date(time.time()))])

    # ---- credentials endpoints (--metadata) ----

    def credentials(self):
        st = self.server.state
        with st.lock:
            st.fetches += 1
            n = st.fetches
        exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + st.args.cred_expiry))
        return {"AccessKeyId": "ASIADOUBLE%d" % n, "SecretAccessKey": "double-secret-%d" % n,
                "Token": "double-token-%d" % n, "Expiration": exp}

    def metadata(self, path):
        st = self.server.state
        if self.command == "PUT" and path == "/latest/api/token":
            if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return self.send(400)
            tok = "imds-token-%d" % len(st.imds_tokens)
            st.imds_tokens.add(tok)
            return self.send(200, tok.encode(), [("Content-Type", "text/plain")])
        if path.startswith("/latest/meta-data/iam/security-credentials/"):
            if self.headers.get("X-aws-ec2-metadata-token") not in st.imds_tokens:
                return self.send(401)
            role = path[len("/latest/meta-data/iam/security-credentials/"):]
            if role == "":
                return self.send(200, b"double-role\n", [("Content-Type", "text/plain")])
            if role != "double-role":
                return self.send(404)
            c = dict(self.credentials(), Code="Success", Type="AWS-HMAC",
                     LastUpdated=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            return self.send(200, json.dumps(c).encode(), [("Content-Type", "text/plain")])
        if self.command == "GET" and path.startswith("/v2/credentials/"):
            c = dict(self.credentials(), RoleArn="arn:aws:iam::000000000000:role/double")
            return self.send(200, json.dumps(c).encode(), [("Content-Type", "application/json")])
        if self.command == "GET" and path.startswith("/full-uri/"):
            if self.headers.get("Authorization") != st.args.ecs_token:
                return self.send(403, b'{"message":"bad token"}')
            return self.send(200, json.dumps(self.credentials()).encode(),
                             [("Content-Type", "application/json")])
        if path == "/garbage":
            return self.send(200, b"{not json", [("Content-Type", "application/json")])
        return self.send(404)

    # ---- test control ----

    def control(self, what, query, body):
        st = self.server.state
        reply = {}
        bucket = st.args.bucket[0] if st.args.bucket else None
        if what == "stats":
            with st.lock:
                reply = {"requests": dict(st.stats), "total": sum(st.stats.values()),
                         "statuses": dict(st.statuses), "fetches": st.fetches,
                         "dropped": st.dropped, "members": st.members,
                         "lists": st.lists, "kinds": dict(st.kinds)}
        elif what == "reset-stats":
            with st.lock:
                st.stats = {}
                st.members = 0
                st.lists = 0
                st.kinds = {}
                st.statuses = {}
                st.dropped = 0
        elif what == "fault":
            f = json.loads(body)
            f.setdefault("count", 1)
            with st.lock:
                st.faults.append(f)
        elif what == "raw":
            with st.lock:
                st.buckets[bucket][query["key"]] = Obj(body, "application/json")
        elif what == "object":
            with st.lock:
                o = st.buckets[bucket].get(query["key"])
            if o is None:
                return self.send(404)
            reply = {"body": o.body.decode(errors="replace"), "etag": o.etag,
                     "last_modified": o.last_modified}
        elif what == "age":
            with st.lock:
                o = st.buckets[bucket].get(query["key"])
                if o is None:
                    return self.send(404)
                o.last_modified -= int(query["seconds"])
        elif what == "keys":
            with st.lock:
                reply = {"keys": sorted(st.buckets[bucket])}
        else:
            return self.send(404)
        self.send(200, json.dumps(reply).encode(), [("Content-Type", "application/json")])


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128        # five replicas connecting at one instant, on a busy machine

    def handle_error(self, request, client_address):
        # A client that cancels a request drops its connection: not our failure.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser(description="S3 test double (see the header comment)")
    p.add_argument("--bucket", action="append", default=[])
    p.add_argument("--access-key", action="append", default=[],
                   help="KEYID or KEYID:SESSIONTOKEN accepted in Authorization")
    p.add_argument("--conflict-window-ms", type=float, default=0.0)
    p.add_argument("--metadata", action="store_true")
    p.add_argument("--cred-expiry", type=int, default=3600)
    p.add_argument("--ecs-token", default="double-ecs-token")
    p.add_argument("--list-max-keys", type=int, default=1000)
    p.add_argument("--tls", metavar="DIR")
    p.add_argument("--port", type=int, default=0, help="listen here (a restart on the same "
                   "port), not on an ephemeral one")
    args = p.parse_args()
    if not args.bucket:
        args.bucket = ["test-bucket"]
    if not args.access_key:
        args.access_key = ["AKIDDOUBLE"]
    httpd = Server(("127.0.0.1", args.port), Handler)
    httpd.state = State(args)
    if args.tls:
        if not shutil.which("openssl"):
            print("SKIP", flush=True)
            return 0
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", os.path.join(args.tls, "server.key"),
                        "-out", os.path.join(args.tls, "server.pem")],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(args.tls, "server.pem"),
                            os.path.join(args.tls, "server.key"))
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    print(httpd.server_address[1], flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
