#!/usr/bin/env python3
"""A test Kubernetes API server that speaks the real list/watch protocol, for kproxy's tests and
benchmarks (not a fake in the unit-test sense: kproxy talks to it over real HTTP(S)).

Served in JSON, and in Kubernetes' protobuf when the Accept header prefers
application/vnd.kubernetes.protobuf and --proto-py names the build's generated Python messages
(gen/python, from watch/proto/k8s.proto); --json-only acts as a server without protobuf (it
answers JSON to "protobuf, json" and 406 to protobuf alone). Protobuf bodies are "k8s\0" + a
runtime.Unknown envelope; watches are length-prefixed WatchEvent frames. /requests records which
content type each request was served ("served").
  GET /api, /apis/discovery.k8s.io/v1 (404 with --no-endpointslices), /apis/networking.k8s.io/v1
      (without servicecidrs with --no-servicecidrs), /version
  GET /api/v1/{services,endpoints,nodes}, /apis/discovery.k8s.io/v1/endpointslices,
      /apis/networking.k8s.io/v1/servicecidrs
      list: {"kind":"ServiceList","metadata":{"resourceVersion","continue"},"items":[...]}, items
      without kind/apiVersion, sorted by namespace/name; limit/continue paging from a snapshot;
      labelSelector (k, !k, k=v, k!=v) and fieldSelector (metadata.name, metadata.namespace);
      gzip when asked.
      watch=true: a chunked stream of {"type","object"} lines from resourceVersion (an older,
      compacted one gets an ERROR event with a 410 Expired Status), BOOKMARK events every
      --bookmark-interval seconds with allowWatchBookmarks, DELETED/ADDED when a change moves an
      object out of/into the selector, ends cleanly after timeoutSeconds.
      sendInitialEvents=true (with --watch-list; 422 otherwise, as a server without WatchList):
      ADDED for what exists, a BOOKMARK annotated k8s.io/initial-events-end, then the watch.
  Authentication: bearer token (--token, or --token-file re-read per request) and/or client
  certificates (--client-ca); 401 Status otherwise. HTTPS with --cert/--key.

Control (plain HTTP on 127.0.0.1, --control-port-file), for tests:
  POST /apply            body: an object or a List; fills uid, resourceVersion, creationTimestamp;
                         ?stamp=1 sets endpoints.kubernetes.io/last-change-trigger-time to now
  POST /delete?kind=K&namespace=N&name=X
  POST /expire[?drop=1]  compacts history: resuming from any older version gets 410
  POST /drop             cuts every open watch connection (no clean end)
  POST /hang, /unhang    stop answering: open watches go silent (not even ending at their
                         timeout), new requests wait
  POST /garbage          each kind's watch (open now, or the next) gets a malformed line, a wrong-typed and an unknown event,
                         and an object nested 85,000 levels deep
  POST /churn?rate=R&seconds=S   flips the ready condition of the EndpointSlices' first endpoint,
                         round robin, R times a second for S seconds (stamped with trigger times);
                         GET /state counts them in "churned"
  POST /hostile?mode=M[&kind=K][&count=N&bytes=B]   misbehave (mode empty: behave again), for
                         kproxy's hostile-input tests (K: Service, EndpointSlice or Node; default Service):
           echo-auth     every API request gets a 401 whose message echoes its Authorization header
           gzip-list     lists of K answer a gzip body that inflates to 512 MiB
           gzip-watch    watches of K answer a gzip stream of one 512 MiB line
           big-list      lists of Services also hold N headless Services with a B-byte annotation
  GET  /requests         every request: method, path, query, auth, header names; POST /clear-requests
  GET  /events           the Events (events.k8s.io/v1) the proxy POSTed, as received
  GET  /state            resourceVersion, objects per kind, open watches per kind
--state FILE persists objects and the version counter, so a killed server restarts where it was.
"""

import argparse
import base64
import bisect
import datetime
import gzip
import json
import os
import socket
import ssl
import sys
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

RESOURCES = {
    "/api/v1/services": ("Service", "v1"),
    "/api/v1/endpoints": ("Endpoints", "v1"),
    "/apis/discovery.k8s.io/v1/endpointslices": ("EndpointSlice", "discovery.k8s.io/v1"),
    "/api/v1/nodes": ("Node", "v1"),
    "/apis/networking.k8s.io/v1/servicecidrs": ("ServiceCIDR", "networking.k8s.io/v1"),
}
API_VERSION = {kind: api for kind, api in RESOURCES.values()}
CLUSTER_SCOPED = {"Node", "ServiceCIDR"}


def now_rfc3339(nanos=False):
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if nanos else t.strftime("%Y-%m-%dT%H:%M:%SZ")


_BOMBS = {}


def gzip_bomb(head, filler, mib, tail=b""):
    """gzip of head + mib MiB of `filler` + tail (about 1000:1), made once per shape."""
    key = (head, filler, mib, tail)
    if key not in _BOMBS:
        c = zlib.compressobj(9, zlib.DEFLATED, 31)
        block = filler * (1 << 20)
        out = [c.compress(head)] + [c.compress(block) for _ in range(mib)] + [c.compress(tail), c.flush()]
        _BOMBS[key] = b"".join(out)
    return _BOMBS[key]


PROTOBUF = "application/vnd.kubernetes.protobuf"
k8s_pb2 = None  # the generated messages, once --proto-py is loaded


def rfc3339_seconds(text):
    return int(datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
               .replace(tzinfo=datetime.timezone.utc).timestamp())


def fill_proto(msg, obj):
    """JSON object -> message by field name (the .proto's names are the JSON's). Members the .proto
    does not declare are left out; a value of the wrong type leaves its field out (the decoder then
    reports it missing, as it would report the wrong type)."""
    if not isinstance(obj, dict):
        return
    for f in msg.DESCRIPTOR.fields:
        v = obj.get(f.name)
        if v is None:
            continue
        try:
            if f.message_type is not None and f.message_type.GetOptions().map_entry:
                m = getattr(msg, f.name)
                for k, x in v.items():
                    if isinstance(x, str):
                        m[k] = x
            elif f.label == f.LABEL_REPEATED:
                lst = getattr(msg, f.name)
                for x in v:
                    if f.message_type is not None:
                        fill_value(lst.add(), x)
                    else:
                        lst.append(x)
            elif f.message_type is not None:
                fill_value(getattr(msg, f.name), v)
            else:
                if isinstance(v, bool) != (f.type == f.TYPE_BOOL):
                    raise TypeError(f.name)
                setattr(msg, f.name, v)
        except (TypeError, ValueError, AttributeError):
            msg.ClearField(f.name)


def fill_value(msg, v):
    name = msg.DESCRIPTOR.name
    if name == "Time":
        msg.seconds = rfc3339_seconds(v)
    elif name == "IntOrString":
        if isinstance(v, bool):
            raise TypeError("bool")
        if isinstance(v, int):
            msg.type, msg.intVal = 0, v
        else:
            msg.type, msg.strVal = 1, str(v)
    else:
        fill_proto(msg, v)


def proto_body(kind, api, obj):
    """The "k8s\0" + runtime.Unknown body of an object or list of `kind`."""
    msg = getattr(k8s_pb2, kind)()
    fill_proto(msg, obj)
    env = k8s_pb2.Unknown()
    env.typeMeta.apiVersion, env.typeMeta.kind = api, kind
    env.raw = msg.SerializeToString()
    return b"k8s\x00" + env.SerializeToString()


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def parse_label_selector(text):
    reqs = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        if part.startswith("!"):
            reqs.append(("!", part[1:], None))
        elif "!=" in part:
            k, v = part.split("!=", 1)
            reqs.append(("!=", k, v))
        elif "==" in part:
            k, v = part.split("==", 1)
            reqs.append(("=", k, v))
        elif "=" in part:
            k, v = part.split("=", 1)
            reqs.append(("=", k, v))
        else:
            reqs.append(("exists", part, None))
    return reqs


def parse_field_selector(text):
    out = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        k, _, v = part.partition("=")
        out.append((k.lstrip("="), v.lstrip("=")))
    return out


def matches(obj, labels_req, fields_req):
    md = obj.get("metadata", {})
    labels = md.get("labels") or {}
    for op, k, v in labels_req:
        if op == "!" and k in labels:
            return False
        if op == "exists" and k not in labels:
            return False
        if op == "=" and labels.get(k) != v:
            return False
        if op == "!=" and labels.get(k) == v:
            return False
    for k, v in fields_req:
        if k == "metadata.name" and md.get("name") != v:
            return False
        if k == "metadata.namespace" and md.get("namespace", "") != v:
            return False
    return True


class Store:
    def __init__(self, state_file):
        self.cv = threading.Condition()
        self.state_file = state_file
        self.rv = 1
        self.objects = {}      # (kind, namespace, name) -> object in full API form
        self.history = []      # (rv, kind, type, object, previous object or None)
        self.compacted = 0     # a watch from a version below this gets 410 Expired
        self.generation = 0    # bumped by /drop: older streams are cut
        self.garbage = 0       # bumped by /garbage
        self.events = []       # Events POSTed by the proxy (GET /events on the control port)
        self.garbage_seen = {} # kind -> the /garbage count its watches delivered (one watch each)
        self.hang = False
        self.hostile = {}      # /hostile: {"mode": ..., "kind": ..., "count": ..., "bytes": ...}
        self.churned = 0       # changes made by /churn
        self.snapshots = {}    # continue token id -> (rv, items)
        self.requests = []
        self.watchers = {}     # kind -> open watch count
        self.saved_rv = 0
        if state_file and os.path.exists(state_file):
            with open(state_file) as f:
                saved = json.load(f)
            self.rv = saved["resourceVersion"]
            for o in saved["objects"]:
                self.objects[self.key(o)] = o
            # A restarted server has no history: resuming from the current version works, from
            # an older one gets 410, as with a fresh watch cache.
            self.compacted = self.rv

    @staticmethod
    def key(o):
        md = o["metadata"]
        return (o["kind"], md.get("namespace", ""), md["name"])

    def persist(self):
        """Writes the state file. Called with the lock held; the slow part runs without it, so that
        watches are not held up by a large write (a later call may overtake: the newest wins)."""
        if not self.state_file:
            return
        snapshot = {"resourceVersion": self.rv, "objects": list(self.objects.values())}
        self.cv.release()
        try:
            text = json.dumps(snapshot)
        finally:
            self.cv.acquire()
        if snapshot["resourceVersion"] < self.saved_rv:
            return
        self.saved_rv = snapshot["resourceVersion"]
        tmp = "%s.%d.tmp" % (self.state_file, threading.get_ident())
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.state_file)

    def apply(self, obj, stamp=False, persist=True):
        kind = obj.get("kind")
        if kind not in API_VERSION:
            raise ValueError("unknown kind %r" % kind)
        obj = json.loads(json.dumps(obj))
        obj["apiVersion"] = API_VERSION[kind]
        md = obj.setdefault("metadata", {})
        if kind not in CLUSTER_SCOPED:
            md.setdefault("namespace", "default")
        if stamp:
            md.setdefault("annotations", {})["endpoints.kubernetes.io/last-change-trigger-time"] = now_rfc3339(True)
        with self.cv:
            k = self.key(obj)
            prev = self.objects.get(k)
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            md["uid"] = prev["metadata"]["uid"] if prev else str(uuid.uuid4())
            md["creationTimestamp"] = prev["metadata"]["creationTimestamp"] if prev else now_rfc3339()
            self.objects[k] = obj
            self.history.append((self.rv, kind, "MODIFIED" if prev else "ADDED", obj, prev))
            if persist:
                self.persist()
            self.cv.notify_all()
            return self.rv

    def churn(self, rate, seconds):
        """Endpoint changes at `rate` per second, in 10 ms batches, for `seconds` (a thread)."""
        with self.cv:
            keys = sorted(k for k in self.objects if k[0] == "EndpointSlice")
        if not keys:
            return
        start = time.monotonic()
        done = 0
        while time.monotonic() - start < seconds:
            due = int((time.monotonic() - start) * rate)
            while done < due:
                with self.cv:
                    obj = json.loads(json.dumps(self.objects[keys[done % len(keys)]]))
                eps = obj.get("endpoints") or []
                if eps:
                    cond = eps[0].setdefault("conditions", {})
                    cond["ready"] = not cond.get("ready", True)
                    cond["serving"] = cond["ready"]
                self.apply(obj, stamp=True, persist=False)
                done += 1
                with self.cv:
                    self.churned += 1
            time.sleep(0.01)
        with self.cv:
            self.persist()

    def delete(self, kind, namespace, name):
        with self.cv:
            prev = self.objects.pop((kind, namespace if kind not in CLUSTER_SCOPED else "", name), None)
            if prev is None:
                return None
            self.rv += 1
            gone = json.loads(json.dumps(prev))
            gone["metadata"]["resourceVersion"] = str(self.rv)
            self.history.append((self.rv, kind, "DELETED", gone, prev))
            self.persist()
            self.cv.notify_all()
            return self.rv

    def expire(self, drop):
        with self.cv:
            # Like etcd compaction: watching from the current version still works, from any
            # older one gets 410.
            self.compacted = self.rv
            self.history = []
            self.snapshots = {}
            if drop:
                self.generation += 1
            self.cv.notify_all()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kproxy-test-apiserver"

    def log_message(self, fmt, *args):  # quiet: tests read /requests instead
        pass

    def setup(self):
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
            self.request.settimeout(None)

    # --- helpers
    def wire(self):
        """The content type this request gets: the first of its Accept list this server speaks."""
        for part in self.headers.get("Accept", "").split(","):
            t = part.split(";")[0].strip()
            if t == PROTOBUF and k8s_pb2 is not None and not self.server.opts.json_only:
                return "protobuf"
            if t in ("application/json", "*/*", "application/*", ""):
                return "json"
        return "none"

    def send_json(self, code, body, gzip_ok=False, kind=None):
        """`body` in the request's content type (protobuf when negotiated and `kind` or the body's
        own kind names a message kproxy's .proto has)."""
        kind = kind or (body.get("kind") if isinstance(body, dict) else None)
        if self.wire() == "protobuf" and kind and hasattr(k8s_pb2, kind):
            data, ctype = proto_body(kind, body.get("apiVersion", "v1"), body), PROTOBUF
        else:
            data, ctype = json.dumps(body, separators=(",", ":")).encode(), "application/json"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        if gzip_ok and len(data) > 128:
            data = gzip.compress(data, compresslevel=1)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authenticate(self):
        srv = self.server
        cert = isinstance(self.request, ssl.SSLSocket) and self.request.getpeercert()
        if cert:
            return "cert"
        token = srv.opts.token
        if srv.opts.token_file:
            with open(srv.opts.token_file) as f:
                token = f.read().strip()
        if not token and not srv.opts.client_ca:
            return "none"
        got = self.headers.get("Authorization", "")
        if token and got == "Bearer " + token:
            return "token"
        return None

    # --- the API
    def do_POST(self):
        """Events (events.k8s.io/v1): authenticated, checked for the fields kube-proxy sets, kept."""
        store = self.server.store
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1 << 20)) if length else b""
        auth = self.authenticate()
        with store.cv:
            store.requests.append({"method": "POST", "path": url.path, "query": {}, "auth": auth or "rejected",
                                   "contentType": self.headers.get("Content-Type", ""),
                                   "headers": list(self.headers.keys())})
        if auth is None:
            return self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        parts = url.path.strip("/").split("/")
        if len(parts) != 6 or parts[:4] != ["apis", "events.k8s.io", "v1", "namespaces"] or parts[5] != "events":
            return self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
        try:
            ev = json.loads(body)
            missing = [f for f in ("eventTime", "reportingController", "reportingInstance", "action", "reason",
                                   "regarding", "type") if not ev.get(f)]
            if ev.get("kind") != "Event" or ev.get("apiVersion") != "events.k8s.io/v1" or missing or \
                    ev.get("metadata", {}).get("namespace") != parts[4]:
                return self.send_json(422, status(422, "Invalid", "Event is invalid: %s" % (missing or "kind/namespace")))
        except (ValueError, AttributeError):
            return self.send_json(400, status(400, "BadRequest", "not JSON"))
        with store.cv:
            store.events.append(ev)
        return self.send_json(201, ev)

    def do_GET(self):
        store = self.server.store
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        with store.cv:
            while store.hang:
                store.cv.wait(0.5)
        auth = self.authenticate()
        with store.cv:
            store.requests.append({"method": "GET", "path": url.path, "query": q, "auth": auth or "rejected",
                                   "served": self.wire(), "accept": self.headers.get("Accept", ""),
                                   "acceptEncoding": self.headers.get("Accept-Encoding", ""),
                                   "headers": list(self.headers.keys())})
            hostile = dict(store.hostile)
        if hostile.get("mode") == "echo-auth":
            return self.send_json(401, status(401, "Unauthorized", "Unauthorized: you sent Authorization: " +
                                              self.headers.get("Authorization", "(none)")))
        if auth is None:
            return self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        if self.wire() == "none":
            return self.send_json(406, status(406, "NotAcceptable", "only the following media types are accepted: "
                                              "application/json"))
        if url.path == "/version":
            return self.send_json(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0-kproxy-test"})
        if url.path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"]})
        if url.path == "/apis/discovery.k8s.io/v1":
            if self.server.opts.no_endpointslices:
                return self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
            return self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "discovery.k8s.io/v1",
                                        "resources": [{"name": "endpointslices", "namespaced": True,
                                                       "kind": "EndpointSlice", "verbs": ["list", "watch"]}]})
        if url.path == "/apis/networking.k8s.io/v1":
            resources = [] if self.server.opts.no_servicecidrs else [
                {"name": "servicecidrs", "namespaced": False, "kind": "ServiceCIDR", "verbs": ["list", "watch"]}]
            return self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "networking.k8s.io/v1",
                                        "resources": resources})
        res = RESOURCES.get(url.path)
        if res is None or (res[0] == "EndpointSlice" and self.server.opts.no_endpointslices) or \
                (res[0] == "ServiceCIDR" and self.server.opts.no_servicecidrs):
            return self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
        kind, api = res
        labels = parse_label_selector(q.get("labelSelector"))
        fields = parse_field_selector(q.get("fieldSelector"))
        watching = q.get("watch") in ("true", "1")
        if hostile.get("kind", "Service") == kind and hostile.get("mode") in ("gzip-list", "gzip-watch"):
            if hostile["mode"] == "gzip-list" and not watching:
                return self.send_bomb(gzip_bomb(b'{"kind":"%sList","items":[' % kind.encode(), b" ", 512, b"]}"))
            if hostile["mode"] == "gzip-watch" and watching:
                return self.send_bomb(gzip_bomb(b'{"type":"ADDED","object":{"metadata":{"name":"', b"a", 512), chunked=True)
        if watching:
            return self.watch(kind, api, q, labels, fields)
        return self.list(kind, api, q, labels, fields, hostile)

    def send_bomb(self, data, chunked=False):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Encoding", "gzip")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            if not chunked:
                self.wfile.write(data)
                return
            for i in range(0, len(data), 65536):
                self.chunk(data[i:i + 65536])
            self.chunk(b"")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    def list(self, kind, api, q, labels, fields, hostile=None):
        store = self.server.store
        limit = int(q.get("limit") or 0)
        cont = q.get("continue")
        with store.cv:
            if cont:
                try:
                    token = json.loads(base64.urlsafe_b64decode(cont.encode()))
                    rv, items = store.snapshots[token["id"]]
                    start = token["start"]
                except (ValueError, KeyError, TypeError):
                    return self.send_json(410, status(410, "Expired", "The provided continue parameter is too old "
                                                      "to display a consistent list result. You can start a new "
                                                      "list without the continue parameter."))
            else:
                rv = store.rv
                items = [o for k, o in sorted(store.objects.items()) if k[0] == kind and matches(o, labels, fields)]
                if hostile and hostile.get("mode") == "big-list" and kind == "Service":
                    blob = "x" * int(hostile.get("bytes", 1 << 20))
                    items = items + [{"metadata": {"name": "big-%d" % i, "namespace": "big", "resourceVersion": str(rv),
                                                   "annotations": {"kubectl.kubernetes.io/last-applied-configuration": blob}},
                                      "spec": {"clusterIP": "None", "ports": [{"name": "p", "port": 80}]}}
                                     for i in range(int(hostile.get("count", 300)))]
                start = 0
            page = items[start:start + limit] if limit > 0 else items[start:]
            md = {"resourceVersion": str(rv)}
            if limit > 0 and start + limit < len(items):
                tid = str(uuid.uuid4())
                store.snapshots[tid] = (rv, items)
                md["continue"] = base64.urlsafe_b64encode(json.dumps({"id": tid, "start": start + limit}).encode()).decode()
                md["remainingItemCount"] = len(items) - start - limit
        out = []
        for o in page:
            o = dict(o)
            o.pop("kind", None)
            o.pop("apiVersion", None)
            out.append(o)
        gzip_ok = "gzip" in self.headers.get("Accept-Encoding", "")
        self.send_json(200, {"kind": kind + "List", "apiVersion": api, "metadata": md, "items": out}, gzip_ok)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def event(self, typ, obj):
        if self.watch_wire == "protobuf":
            kind = obj.get("kind") if isinstance(obj, dict) else None
            ev = k8s_pb2.WatchEvent()
            ev.type = typ
            if kind and hasattr(k8s_pb2, kind):
                ev.object.raw = proto_body(kind, obj.get("apiVersion", "v1"), obj)
            else:  # what protobuf cannot say (a string as the object): an object of a kind nobody reads
                env = k8s_pb2.Unknown()
                env.typeMeta.apiVersion, env.typeMeta.kind = "v1", "Pod"
                ev.object.raw = b"k8s\x00" + env.SerializeToString()
            data = ev.SerializeToString()
            self.chunk(len(data).to_bytes(4, "big") + data)
            return
        self.chunk(json.dumps({"type": typ, "object": obj}, separators=(",", ":")).encode() + b"\n")

    def watch(self, kind, api, q, labels, fields):
        store = self.server.store
        opts = self.server.opts
        timeout = int(q.get("timeoutSeconds") or 1800)
        bookmarks = q.get("allowWatchBookmarks") == "true"
        from_rv = q.get("resourceVersion") or ""
        initial_events = q.get("sendInitialEvents") == "true"
        if initial_events and not opts.watch_list:
            # As a server without the WatchList feature answers.
            return self.send_json(422, status(422, "Invalid", "sendInitialEvents is forbidden for watch unless the "
                                                             "WatchList feature gate is enabled"))
        if initial_events and (q.get("resourceVersionMatch") != "NotOlderThan" or not bookmarks):
            return self.send_json(422, status(422, "Invalid", "sendInitialEvents requires resourceVersionMatch=NotOlderThan "
                                                             "and allowWatchBookmarks=true"))
        self.watch_wire = self.wire()
        self.send_response(200)
        self.send_header("Content-Type", PROTOBUF + ";stream=watch" if self.watch_wire == "protobuf" else "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with store.cv:
            generation = store.generation
            store.watchers[kind] = store.watchers.get(kind, 0) + 1
            if from_rv not in ("", "0") and int(from_rv) < store.compacted:
                expired = (int(from_rv), store.compacted)
            else:
                expired = None
                if from_rv in ("", "0"):  # synthetic ADDED for what exists, then follow
                    initial = [o for k, o in sorted(store.objects.items()) if k[0] == kind and matches(o, labels, fields)]
                    last = store.rv
                else:
                    initial, last = [], int(from_rv)
        try:
            if expired:
                self.event("ERROR", status(410, "Expired", "too old resource version: %d (%d)" % expired))
                self.chunk(b"")
                return
            for o in initial:
                self.event("ADDED", o)
            if initial_events:
                self.event("BOOKMARK", {"kind": kind, "apiVersion": api, "metadata": {
                    "resourceVersion": str(last), "annotations": {"k8s.io/initial-events-end": "true"}}})
            deadline = time.monotonic() + timeout
            next_bookmark = time.monotonic() + opts.bookmark_interval
            while True:
                out = []
                cut = False
                with store.cv:
                    store.cv.wait(min(0.2, max(0.0, deadline - time.monotonic())))
                    if store.generation != generation:
                        cut = True
                    elif not store.hang:
                        first = bisect.bisect_right(store.history, last, key=lambda h: h[0])
                        for rv, k, typ, obj, prev in store.history[first:]:
                            if k != kind:
                                continue
                            now_in = matches(obj, labels, fields)
                            was_in = prev is not None and matches(prev, labels, fields)
                            if typ == "DELETED":
                                if was_in:
                                    out.append(("DELETED", obj))
                            elif now_in and was_in:
                                out.append(("MODIFIED", obj))
                            elif now_in:
                                out.append(("ADDED", obj))
                            elif was_in:
                                out.append(("DELETED", obj))
                        last = store.rv
                        # Once per kind, on the watch open now or the next one: a watch being
                        # renewed when /garbage is posted does not miss it.
                        if store.garbage_seen.get(kind, 0) != store.garbage:
                            store.garbage_seen[kind] = store.garbage
                            deep = b"[" * 85000 + b"]" * 85000
                            if self.watch_wire == "protobuf":  # protobuf has no nesting to abuse
                                junk = b"\x0a\x05ADD"
                                out += [("RAW", len(junk).to_bytes(4, "big") + junk),
                                        ("ADDED", "a string, not an object"), ("SURPRISE", {"metadata": {"name": "x"}})]
                            else:
                                out += [("RAW", b"}{this is not json\n"), ("ADDED", "a string, not an object"),
                                        ("SURPRISE", {"metadata": {"name": "x"}}),
                                        ("RAW", b'{"type":"ADDED","object":{"metadata":{"name":"deep","namespace":"t",'
                                                b'"uid":"d"},"spec":{"ports":' + deep + b'}}}\n')]
                        if bookmarks and opts.bookmark_interval > 0 and time.monotonic() >= next_bookmark:
                            out.append(("BOOKMARK", {"kind": kind, "apiVersion": api,
                                                     "metadata": {"resourceVersion": str(store.rv)}}))
                            next_bookmark = time.monotonic() + opts.bookmark_interval
                if cut:
                    self.close_connection = True
                    self.request.shutdown(socket.SHUT_RDWR)
                    return
                for typ, obj in out:
                    if typ == "RAW":
                        self.chunk(obj)
                    else:
                        self.event(typ, obj)
                if time.monotonic() >= deadline and not store.hang:  # a hung server does not even end it
                    self.chunk(b"")
                    return
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            with store.cv:
                store.watchers[kind] -= 1


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        store = self.server.store
        url = urlparse(self.path)
        with store.cv:
            if url.path == "/requests":
                return self.reply(200, store.requests)
            if url.path == "/events":
                return self.reply(200, store.events)
            if url.path == "/state":
                kinds = {}
                for k in store.objects:
                    kinds[k[0]] = kinds.get(k[0], 0) + 1
                return self.reply(200, {"resourceVersion": store.rv, "objects": kinds, "watchers": store.watchers,
                                        "churned": store.churned})
        self.reply(404, {"error": "no such control"})

    def do_POST(self):
        store = self.server.store
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            if url.path == "/apply":
                doc = json.loads(body)
                items = doc["items"] if doc.get("kind") == "List" else [doc]
                rv = 0
                for item in items:
                    rv = store.apply(item, stamp=q.get("stamp") == "1", persist=False)
                with store.cv:
                    store.persist()
                return self.reply(200, {"resourceVersion": rv})
            if url.path == "/delete":
                rv = store.delete(q["kind"], q.get("namespace", "default"), q["name"])
                return self.reply(200 if rv else 404, {"resourceVersion": rv})
            if url.path == "/churn":
                threading.Thread(target=store.churn, args=(float(q.get("rate", 50)), float(q.get("seconds", 10))),
                                 daemon=True).start()
                return self.reply(200, {})
            if url.path == "/expire":
                store.expire(q.get("drop") == "1")
                return self.reply(200, {})
            with store.cv:
                if url.path == "/drop":
                    store.generation += 1
                elif url.path == "/hang":
                    store.hang = True
                elif url.path == "/unhang":
                    store.hang = False
                elif url.path == "/garbage":
                    store.garbage += 1
                elif url.path == "/clear-requests":
                    store.requests = []
                elif url.path == "/hostile":
                    store.hostile = dict(q) if q.get("mode") else {}
                else:
                    return self.reply(404, {"error": "no such control"})
                store.cv.notify_all()
            return self.reply(200, {})
        except (ValueError, KeyError) as e:
            return self.reply(400, {"error": str(e)})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, store, opts, ctx=None):
        self.store, self.opts, self.ctx = store, opts, ctx
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ctx:
            sock = self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, OSError)):
            super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--control-port-file", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--client-ca", help="accept client certificates signed by this CA")
    p.add_argument("--token")
    p.add_argument("--token-file", help="re-read on every request (token rotation)")
    p.add_argument("--state", help="persist objects here across restarts")
    p.add_argument("--bookmark-interval", type=float, default=0)
    p.add_argument("--no-endpointslices", action="store_true", help="act as a cluster without that API")
    p.add_argument("--watch-list", action="store_true",
                   help="serve streaming lists (sendInitialEvents=true), as a server with the WatchList feature")
    p.add_argument("--no-servicecidrs", action="store_true", help="act as a cluster without networking.k8s.io/v1 ServiceCIDRs")
    p.add_argument("--proto-py", help="directory of the generated watch/proto/k8s_pb2.py: serve protobuf too")
    p.add_argument("--json-only", action="store_true", help="act as a server without protobuf")
    opts = p.parse_args()
    if opts.proto_py:
        global k8s_pb2
        sys.path.insert(0, opts.proto_py)
        from watch.proto import k8s_pb2 as module
        k8s_pb2 = module

    store = Store(opts.state)
    ctx = None
    if opts.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(opts.cert, opts.key)
        if opts.client_ca:
            ctx.load_verify_locations(opts.client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
    api = Server((opts.address, opts.port), Handler, store, opts, ctx)
    control = Server(("127.0.0.1", 0), ControlHandler, store, opts)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    for path, port in ((opts.port_file, api.server_address[1]), (opts.control_port_file, control.server_address[1])):
        if path:
            with open(path + ".tmp", "w") as f:
                f.write("%d\n" % port)
            os.replace(path + ".tmp", path)
    try:
        api.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
