#!/usr/bin/env python3
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""A small Kubernetes API server for conjflow-k8s's tests.

It speaks the real wire protocol for the four resources conjflow follows
(namespaces, pods, networking.k8s.io/v1 networkpolicies, nodes): discovery
(/api, /apis, /api/v1, /apis/networking.k8s.io/v1, /version), LIST with
pagination (limit, continue, metadata.resourceVersion,
remainingItemCount), GET of single objects, WATCH streams sent with
Transfer-Encoding: chunked (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
events, one JSON object per line), 410 Gone with a Status of reason Expired
for a resourceVersion older than the compacted window, bearer-token or
client-certificate authentication (401 Status otherwise) and TLS.  Tables
(Accept: ...;as=Table) are served for kubectl's default output.

Objects live in memory.  Every change bumps one global resourceVersion, as
etcd does, and is kept in a history that watches replay from; "compacting"
forgets the history before a point, so older resourceVersions get 410.

Tests drive it through a control interface under /test/ (no
authentication):
  POST /test/apply      body: an object or a List; creates or replaces
  POST /test/delete     body: {"resource","namespace","name"} or a list
  POST /test/generate   body: {"namespace", "count", "prefix"}: pods
  POST /test/drop       cut every open watch stream (mid-event)
  POST /test/compact    forget the history up to now (410 for older RVs)
  POST /test/stall      body: {"stall": true|false}: watches send nothing
  POST /test/split      body: {"split": true|false}: send events in pieces
  POST /test/mode       body: {"gone_http": bool}: an expired watch RV is
                        an HTTP 410 (else a 200 stream with an ERROR
                        event); {"compact_after_page": true}: compact once
                        the next LIST page with a continue token is sent
  GET  /test/stats      counters (lists, watches, connections) as JSON

Python 3 standard library only.  Usage:
  k8s-apiserver.py --dir DIR [--token TOKEN] [--port N] [--no-tls]
It writes DIR/port, and with TLS DIR/ca.crt, DIR/server.{crt,key}, a
client certificate DIR/client.{crt,key} signed by the same CA, and
DIR/kubeconfig (token auth) for clients.
"""

import argparse
import base64
import bisect
import datetime
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The resources served: name -> (group-version path prefix, kind,
# namespaced, apiVersion, short names).
RESOURCES = {
    "namespaces": ("/api/v1", "Namespace", False, "v1", ["ns"]),
    "pods": ("/api/v1", "Pod", True, "v1", ["po"]),
    "nodes": ("/api/v1", "Node", False, "v1", ["no"]),
    "networkpolicies": ("/apis/networking.k8s.io/v1", "NetworkPolicy", True,
                        "networking.k8s.io/v1", ["netpol"]),
}
KIND_TO_RESOURCE = {v[1]: k for k, v in RESOURCES.items()}


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def status_obj(code, reason, message):
    """A metav1.Status failure object."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason,
            "code": code}


class State:
    """The objects, the global resourceVersion and the event history."""

    def __init__(self, window):
        self.cond = threading.Condition()
        self.rv = 100                 # Last resourceVersion handed out.
        self.objects = {r: {} for r in RESOURCES}   # (ns, name) -> obj
        self.history = []             # (rv, resource, type, obj)
        self.compacted = 0            # A watch or continue token must be
                                      # at compacted - 1 or later (410).
        self.window = window          # Max history length (auto-compact).
        self.drop_gen = 0             # Bumped by /test/drop.
        self.stall = False            # Watches send nothing while set.
        self.split = False            # Send each event in small pieces.
        self.gone_http = False        # Expired watch RV: HTTP 410, not an
                                      # ERROR event in a 200 stream.
        self.compact_after_page = False  # Compact after the next page of
                                         # a paginated LIST.
        self.expire_continue = False  # The next continue token is expired.
        self.sorted_cache = {}        # Sorted keys of the last LIST.
        self.stats = {"lists": {r: 0 for r in RESOURCES},
                      "watches": {r: 0 for r in RESOURCES},
                      "gone": 0, "unauthorized": 0, "requests": 0}

    def _event(self, resource, etype, obj):
        self.history.append((self.rv, resource, etype, obj))
        if self.window and len(self.history) > self.window:
            drop = len(self.history) - self.window
            self.compacted = self.history[drop][0]
            del self.history[:drop]

    def apply(self, obj):
        """Creates or replaces 'obj'.  Returns the stored copy."""
        kind = obj.get("kind")
        resource = KIND_TO_RESOURCE.get(kind)
        if resource is None:
            raise ValueError("unknown kind %r" % kind)
        prefix, kind, namespaced, api_version, _ = RESOURCES[resource]
        obj = json.loads(json.dumps(obj))
        obj["apiVersion"] = api_version
        md = obj.setdefault("metadata", {})
        name = md.get("name")
        if not name:
            raise ValueError("metadata.name missing")
        ns = md.get("namespace", "default") if namespaced else None
        if namespaced:
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        if resource == "namespaces":
            md.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj.setdefault("status", {"phase": "Active"})
        with self.cond:
            old = self.objects[resource].get((ns, name))
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            if old:
                md["uid"] = old["metadata"]["uid"]
                md["creationTimestamp"] = old["metadata"]["creationTimestamp"]
            else:
                md["uid"] = str(uuid.uuid4())
                md["creationTimestamp"] = now_rfc3339()
            self.objects[resource][(ns, name)] = obj
            self._event(resource, "MODIFIED" if old else "ADDED", obj)
            self.cond.notify_all()
        return obj

    def delete(self, resource, ns, name):
        """Deletes an object (a namespace takes its pods and policies along).
        Returns True if it existed."""
        if resource not in RESOURCES:
            raise ValueError("unknown resource %r" % resource)
        with self.cond:
            if resource == "namespaces":
                for r in ("pods", "networkpolicies"):
                    for key in sorted(self.objects[r]):
                        if key[0] == name:
                            self._delete_locked(r, key)
                key = (None, name)
            elif RESOURCES[resource][2]:
                key = (ns or "default", name)
            else:
                key = (None, name)
            found = self._delete_locked(resource, key)
            self.cond.notify_all()
            return found

    def _delete_locked(self, resource, key):
        obj = self.objects[resource].pop(key, None)
        if obj is None:
            return False
        self.rv += 1
        obj = json.loads(json.dumps(obj))
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self._event(resource, "DELETED", obj)
        return True

    def compact(self):
        with self.cond:
            self.history = []
            self.compacted = self.rv + 1
            self.cond.notify_all()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "conjflow-test-apiserver/1"

    def log_message(self, format, *args):
        if self.server.verbose:
            sys.stderr.write("apiserver: " + (format % args) + "\n")

    # ---- Plumbing -------------------------------------------------------

    def send_json(self, code, obj, extra_headers=()):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_status(self, code, reason, message):
        self.send_json(code, status_obj(code, reason, message))

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def authenticated(self):
        if self.server.token is None:
            return True
        auth = self.headers.get("Authorization", "")
        if auth == "Bearer " + self.server.token:
            return True
        try:
            if self.connection.getpeercert():
                return True     # A client certificate signed by our CA.
        except (AttributeError, ValueError):
            pass
        return False

    # ---- Dispatch -------------------------------------------------------

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query,
                                            keep_blank_values=True))
        path = url.path.rstrip("/") or "/"
        state = self.server.state
        with state.cond:
            state.stats["requests"] += 1
        try:
            if path.startswith("/test/"):
                return self.control(method, path)
            if not self.authenticated():
                with state.cond:
                    state.stats["unauthorized"] += 1
                return self.send_status(401, "Unauthorized", "Unauthorized")
            if method != "GET":
                return self.send_status(405, "MethodNotAllowed",
                                        "the server does not allow this "
                                        "method on the requested resource")
            if path in ("/api", "/apis", "/api/v1", "/version",
                        "/apis/networking.k8s.io/v1"):
                return self.discovery(path)
            return self.resource_request(path, query)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    # ---- Discovery ------------------------------------------------------

    def discovery(self, path):
        if path == "/version":
            return self.send_json(200, {
                "major": "1", "minor": "28", "gitVersion": "v1.28.0",
                "platform": "linux/amd64"})
        if path == "/api":
            return self.send_json(200, {
                "kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{
                    "clientCIDR": "0.0.0.0/0",
                    "serverAddress": "127.0.0.1:%d" % self.server.port}]})
        if path == "/apis":
            gv = {"groupVersion": "networking.k8s.io/v1", "version": "v1"}
            return self.send_json(200, {
                "kind": "APIGroupList", "apiVersion": "v1",
                "groups": [{"name": "networking.k8s.io", "versions": [gv],
                            "preferredVersion": gv}]})
        prefix = path
        resources = []
        for name, (p, kind, namespaced, api_version, short) in sorted(
                RESOURCES.items()):
            if p != prefix:
                continue
            resources.append({
                "name": name, "singularName": kind.lower(),
                "namespaced": namespaced, "kind": kind,
                "verbs": ["get", "list", "watch"], "shortNames": short})
        gv = "v1" if prefix == "/api/v1" else "networking.k8s.io/v1"
        return self.send_json(200, {"kind": "APIResourceList",
                                    "apiVersion": "v1", "groupVersion": gv,
                                    "resources": resources})

    # ---- Resources ------------------------------------------------------

    def parse_resource_path(self, path):
        """Returns (resource, namespace or None, name or None), or None."""
        for prefix in ("/api/v1", "/apis/networking.k8s.io/v1"):
            if not path.startswith(prefix + "/"):
                continue
            parts = path[len(prefix) + 1:].split("/")
            ns = None
            if (len(parts) >= 3 and parts[0] == "namespaces"):
                ns = parts[1]
                parts = parts[2:]
            if not parts or parts[0] not in RESOURCES:
                return None
            resource = parts[0]
            if RESOURCES[resource][0] != prefix:
                return None
            if ns is not None and not RESOURCES[resource][2]:
                return None
            if len(parts) == 1:
                return resource, ns, None
            if len(parts) == 2:
                return resource, ns, parts[1]
        return None

    def resource_request(self, path, query):
        parsed = self.parse_resource_path(path)
        if parsed is None:
            return self.send_status(404, "NotFound",
                                    "the server could not find the "
                                    "requested resource")
        resource, ns, name = parsed
        state = self.server.state
        kind = RESOURCES[resource][1]
        if name is not None:
            with state.cond:
                key = (ns, name) if RESOURCES[resource][2] else (None, name)
                obj = state.objects[resource].get(key)
            if obj is None:
                return self.send_status(
                    404, "NotFound",
                    '%s "%s" not found' % (resource, name))
            if self.wants_table():
                return self.send_json(200, self.table(kind, [obj],
                                                      obj["metadata"]
                                                      ["resourceVersion"]))
            return self.send_json(200, obj)
        if query.get("watch") in ("1", "true"):
            return self.watch(resource, ns, query)
        return self.list(resource, ns, query)

    def wants_table(self):
        return "as=Table" in self.headers.get("Accept", "")

    def table(self, kind, items, rv):
        rows = []
        for obj in items:
            md = obj["metadata"]
            rows.append({
                "cells": [md["name"], md.get("creationTimestamp", "")],
                "object": {"kind": "PartialObjectMetadata",
                           "apiVersion": "meta.k8s.io/v1",
                           "metadata": md}})
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": rv},
                "columnDefinitions": [
                    {"name": "Name", "type": "string", "format": "name",
                     "description": "Name of the %s" % kind, "priority": 0},
                    {"name": "Created At", "type": "date", "format": "",
                     "description": "Creation timestamp", "priority": 0}],
                "rows": rows}

    def list(self, resource, ns, query):
        state = self.server.state
        limit = int(query.get("limit") or 0)
        cont = query.get("continue") or ""
        start_key = None
        with state.cond:
            state.stats["lists"][resource] += 1
            if cont:
                try:
                    token = json.loads(base64.urlsafe_b64decode(cont))
                    list_rv = int(token["rv"])
                    start_key = tuple(token["start"])
                except (ValueError, KeyError, TypeError):
                    return self.send_status(400, "BadRequest",
                                            "invalid continue token")
                if list_rv < state.compacted - 1 or state.expire_continue:
                    state.expire_continue = False
                    state.stats["gone"] += 1
                    return self.send_status(
                        410, "Expired",
                        "The provided continue parameter is too old to "
                        "display a consistent list result. You can start "
                        "a new list without the continue parameter.")
            else:
                list_rv = state.rv
            # Sorted keys, cached per (resource, namespace, RV): sorting
            # every object again for each page would make the server,
            # not the client, the bottleneck of a paginated LIST.
            cache_key = (resource, ns, state.rv)
            keys = state.sorted_cache.get(cache_key)
            if keys is None:
                keys = sorted(((k[0] or ""), k[1])
                              for k in state.objects[resource]
                              if ns is None or k[0] == ns)
                state.sorted_cache = {cache_key: keys}
            if start_key is not None:
                keys = keys[bisect.bisect_right(keys, start_key):]
            more = limit and len(keys) > limit
            page = keys[:limit] if limit else keys
            namespaced = RESOURCES[resource][2]
            items = [state.objects[resource][(k[0] if namespaced else None,
                                              k[1])] for k in page]
            items = json.loads(json.dumps(items))
        prefix, kind, namespaced, api_version, _ = RESOURCES[resource]
        md = {"resourceVersion": str(list_rv)}
        if more:
            with state.cond:
                if state.compact_after_page:
                    # As if the snapshot of this LIST were compacted away:
                    # its next continue request gets 410.
                    state.compact_after_page = False
                    state.expire_continue = True
            md["continue"] = base64.urlsafe_b64encode(json.dumps(
                {"rv": list_rv, "start": list(page[-1])}).encode()).decode()
            md["remainingItemCount"] = len(keys) - len(page)
        if self.wants_table():
            t = self.table(kind, items, str(list_rv))
            t["metadata"] = md
            return self.send_json(200, t)
        for item in items:
            item["apiVersion"] = api_version
            item["kind"] = kind
        return self.send_json(200, {"kind": kind + "List",
                                    "apiVersion": api_version,
                                    "metadata": md, "items": items})

    # ---- Watch ------------------------------------------------------------

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def send_event(self, etype, obj):
        line = json.dumps({"type": etype, "object": obj}).encode() + b"\n"
        if self.server.state.split and len(line) > 8:
            # Awkward boundaries: inside strings, between the braces.
            cuts = sorted({1, len(line) // 3, len(line) // 2, len(line) - 2})
            prev = 0
            for c in cuts + [len(line)]:
                self.write_chunk(line[prev:c])
                prev = c
        else:
            self.write_chunk(line)

    def watch(self, resource, ns, query):
        state = self.server.state
        prefix, kind, namespaced, api_version, _ = RESOURCES[resource]
        rv_param = query.get("resourceVersion", "")
        bookmarks = query.get("allowWatchBookmarks") in ("1", "true")
        timeout = float(query.get("timeoutSeconds") or 0) or None
        deadline = time.monotonic() + timeout if timeout else None
        with state.cond:
            state.stats["watches"][resource] += 1
            drop_gen = state.drop_gen
            expired = False
            if state.gone_http and rv_param not in ("", "0"):
                try:
                    expired = int(rv_param) < state.compacted - 1
                except ValueError:
                    expired = True
                if expired:
                    state.stats["gone"] += 1
        if expired:
            return self.send_status(
                410, "Expired", "too old resource version: %s (%d)" % (
                    rv_param, state.compacted))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def matches(res, obj):
            return res == resource and (
                ns is None or obj["metadata"].get("namespace") == ns)

        def typed(obj):
            obj = dict(obj)
            obj["apiVersion"] = api_version
            obj["kind"] = kind
            return obj

        pending = []
        with state.cond:
            if rv_param in ("", "0"):
                # No RV: the current state as ADDED events, then changes.
                for key in sorted(state.objects[resource],
                                  key=lambda k: (k[0] or "", k[1])):
                    obj = state.objects[resource][key]
                    if matches(resource, obj):
                        pending.append(("ADDED", typed(obj)))
                last = state.rv
            else:
                try:
                    last = int(rv_param)
                except ValueError:
                    last = -1
                if last < state.compacted - 1 or last < 0:
                    state.stats["gone"] += 1
                    pending = None
        if pending is None:
            self.send_event("ERROR", status_obj(
                410, "Expired", "too old resource version: %s (%d)" % (
                    rv_param, state.compacted)))
            self.write_chunk(b"")
            return
        for etype, obj in pending:
            self.send_event(etype, obj)
        interval = self.server.bookmark_interval
        next_bookmark = time.monotonic() + interval
        while True:
            with state.cond:
                while True:
                    if state.drop_gen != drop_gen:
                        break
                    if not state.stall:
                        events = [(rv, etype, obj)
                                  for rv, res, etype, obj in state.history
                                  if rv > last and matches(res, obj)]
                        if events:
                            break
                        if bookmarks and time.monotonic() >= next_bookmark:
                            break
                    now = time.monotonic()
                    if deadline and now >= deadline:
                        break
                    wait = next_bookmark - now if bookmarks else 1.0
                    if deadline:
                        wait = min(wait, deadline - now)
                    state.cond.wait(max(0.01, min(wait, 1.0)))
                dropped = state.drop_gen != drop_gen
                stalled = state.stall
                cur_rv = state.rv
                if not dropped and not stalled:
                    events = [(rv, etype, obj)
                              for rv, res, etype, obj in state.history
                              if rv > last and matches(res, obj)]
                    if (last < state.compacted - 1):
                        events = None
                else:
                    events = []
            if dropped:
                # Cut the connection in the middle of an event, without the
                # terminating chunk.
                line = json.dumps({"type": "ADDED",
                                   "object": {"kind": kind}}).encode()
                try:
                    self.wfile.write(b"%x\r\n%s" % (len(line),
                                                    line[:len(line) // 2]))
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self.close_connection = True
                return
            if events is None:
                self.send_event("ERROR", status_obj(
                    410, "Expired", "too old resource version: %d (%d)" % (
                        last, state.compacted)))
                self.write_chunk(b"")
                return
            for rv, etype, obj in events:
                self.send_event(etype, typed(obj))
                last = rv
            if (bookmarks and not stalled
                    and time.monotonic() >= next_bookmark):
                self.send_event("BOOKMARK", {
                    "kind": kind, "apiVersion": api_version,
                    "metadata": {"resourceVersion": str(max(cur_rv, last))}})
                last = max(cur_rv, last)
                next_bookmark = time.monotonic() + interval
            if deadline and time.monotonic() >= deadline:
                self.write_chunk(b"")
                return

    # ---- Control ------------------------------------------------------------

    def control(self, method, path):
        state = self.server.state
        if method == "GET" and path == "/test/stats":
            with state.cond:
                stats = json.loads(json.dumps(state.stats))
                stats["resourceVersion"] = state.rv
                stats["compacted"] = state.compacted
                stats["counts"] = {r: len(o)
                                   for r, o in state.objects.items()}
            return self.send_json(200, stats)
        if method != "POST":
            return self.send_status(405, "MethodNotAllowed", "POST only")
        try:
            body = self.read_body()
            arg = json.loads(body) if body.strip() else {}
        except ValueError as e:
            return self.send_status(400, "BadRequest", str(e))
        try:
            if path == "/test/apply":
                objs = arg.get("items") if arg.get("kind") == "List" \
                    else [arg]
                out = [state.apply(o) for o in objs]
                return self.send_json(200, {
                    "resourceVersion": out[-1]["metadata"]["resourceVersion"]
                    if out else str(state.rv)})
            if path == "/test/delete":
                refs = arg if isinstance(arg, list) else [arg]
                found = [state.delete(r["resource"], r.get("namespace"),
                                      r["name"]) for r in refs]
                return self.send_json(200, {"found": found,
                                            "resourceVersion": str(state.rv)})
            if path == "/test/generate":
                ns = arg.get("namespace", "default")
                prefix = arg.get("prefix", "pod")
                for i in range(int(arg.get("count", 1))):
                    state.apply({
                        "kind": "Pod",
                        "metadata": {"name": "%s-%d" % (prefix, i),
                                     "namespace": ns,
                                     "labels": {"app": prefix,
                                                "index": str(i)}},
                        "spec": {"nodeName": arg.get("node", "node-1"),
                                 "containers": [{
                                     "name": "c", "image": "busybox",
                                     "ports": [{"name": "http",
                                                "containerPort": 80}]}]},
                        "status": {"phase": "Running",
                                   "podIP": "10.%d.%d.%d" % (
                                       (i >> 16) & 255, (i >> 8) & 255,
                                       i & 255),
                                   "podIPs": [{"ip": "10.%d.%d.%d" % (
                                       (i >> 16) & 255, (i >> 8) & 255,
                                       i & 255)}]}})
                return self.send_json(200, {"resourceVersion": str(state.rv)})
            if path == "/test/drop":
                with state.cond:
                    state.drop_gen += 1
                    state.cond.notify_all()
                return self.send_json(200, {})
            if path == "/test/compact":
                state.compact()
                return self.send_json(200, {"compacted": state.compacted})
            if path == "/test/stall":
                with state.cond:
                    state.stall = bool(arg.get("stall", True))
                    state.cond.notify_all()
                return self.send_json(200, {})
            if path == "/test/mode":
                with state.cond:
                    if "gone_http" in arg:
                        state.gone_http = bool(arg["gone_http"])
                    if "compact_after_page" in arg:
                        state.compact_after_page = bool(
                            arg["compact_after_page"])
                return self.send_json(200, {})
            if path == "/test/split":
                with state.cond:
                    state.split = bool(arg.get("split", True))
                return self.send_json(200, {})
        except (ValueError, KeyError, TypeError) as e:
            return self.send_status(400, "BadRequest", str(e))
        return self.send_status(404, "NotFound", "no such control " + path)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, state, token, ssl_ctx, bookmark_interval,
                 verbose):
        super().__init__(addr, Handler)
        self.state = state
        self.token = token
        self.ssl_ctx = ssl_ctx
        self.port = self.server_address[1]
        self.bookmark_interval = bookmark_interval
        self.verbose = verbose

    def get_request(self):
        sock, addr = self.socket.accept()
        # Headers and body are separate writes: without this, Nagle's
        # algorithm and the client's delayed ACK add 40 ms to responses.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_ctx:
            # The handshake runs in the handler's thread (first read).
            sock = self.ssl_ctx.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1/localhost and a client
    certificate, all made with openssl."""
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=conjflow-test-ca", "-keyout", ca_key,
            "-out", ca_crt)
    for who, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"
                      "\nextendedKeyUsage=serverAuth"),
                     ("client", "extendedKeyUsage=clientAuth")):
        key = os.path.join(d, who + ".key")
        csr = os.path.join(d, who + ".csr")
        crt = os.path.join(d, who + ".crt")
        extfile = os.path.join(d, who + ".ext")
        with open(extfile, "w") as f:
            f.write(ext + "\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes",
                "-subj", "/CN=conjflow-test-" + who, "-keyout", key,
                "-out", csr)
        openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                "-CAcreateserial", "-days", "2", "-extfile", extfile,
                "-out", crt)


def b64file(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def write_kubeconfig(d, port, token, tls):
    scheme = "https" if tls else "http"
    cluster = "    server: %s://127.0.0.1:%d\n" % (scheme, port)
    if tls:
        cluster += "    certificate-authority-data: %s\n" % b64file(
            os.path.join(d, "ca.crt"))
    text = ("apiVersion: v1\nkind: Config\n"
            "clusters:\n- name: test\n  cluster:\n" + cluster +
            "users:\n- name: tester\n  user:\n"
            "    token: %s\n"
            "contexts:\n- name: test\n  context:\n"
            "    cluster: test\n    user: tester\n"
            "current-context: test\n") % (token or "none")
    tmp = os.path.join(d, "kubeconfig.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, os.path.join(d, "kubeconfig"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True,
                    help="directory for the port file, certificates and "
                         "kubeconfig")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default="conjflow-test-token")
    ap.add_argument("--no-tls", action="store_true")
    ap.add_argument("--window", type=int, default=0,
                    help="keep at most this many events (0: unlimited)")
    ap.add_argument("--bookmark-interval", type=float, default=1.0)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    ctx = None
    if not args.no_tls:
        if not os.path.exists(os.path.join(args.dir, "server.crt")):
            make_certs(args.dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(args.dir, "server.crt"),
                            os.path.join(args.dir, "server.key"))
        ctx.load_verify_locations(os.path.join(args.dir, "ca.crt"))
        ctx.verify_mode = ssl.CERT_OPTIONAL
    state = State(args.window)
    server = Server(("127.0.0.1", args.port), state, args.token or None,
                    ctx, args.bookmark_interval, args.verbose)
    write_kubeconfig(args.dir, server.port, args.token, ctx is not None)
    with open(os.path.join(args.dir, "port.tmp"), "w") as f:
        f.write("%d\n" % server.port)
    os.rename(os.path.join(args.dir, "port.tmp"),
              os.path.join(args.dir, "port"))
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
