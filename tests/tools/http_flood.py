#!/usr/bin/env python3
"""Load for kproxy's health servers, bounded in count and time (tests only; loopback or the test's
own namespaces).

  http_flood.py HOST PORT [--idle N] [--requests M] [--threads T] [--hold S] [--deadline S]

Opens N idle connections (they send nothing) and keeps them, then sends M "GET /healthz"
requests from T threads, each on a new connection, and prints one JSON line:
  {"idle_open": n, "requests_ok": k, "requests_failed": f, "seconds": s}
--hold S keeps the idle connections S seconds after the requests (then closes them all).
"""
import argparse
import json
import resource
import socket
import threading
import time


def request(host, port, timeout):
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.startswith(b"HTTP/1.1 200") or data.startswith(b"HTTP/1.1 503")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--idle", type=int, default=0)
    ap.add_argument("--requests", type=int, default=0)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--hold", type=float, default=0)
    ap.add_argument("--deadline", type=float, default=60)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, a.idle + 256)), hard))
    start = time.monotonic()
    idle = []
    for _ in range(a.idle):
        try:
            idle.append(socket.create_connection((a.host, a.port), timeout=2))
        except OSError:
            pass
    counts = {"ok": 0, "failed": 0}
    lock = threading.Lock()
    next_index = [0]

    def worker():
        while time.monotonic() - start < a.deadline:
            with lock:
                if next_index[0] >= a.requests:
                    return
                next_index[0] += 1
            try:
                good = request(a.host, a.port, 5)
            except OSError:
                good = False
            with lock:
                counts["ok" if good else "failed"] += 1

    threads = [threading.Thread(target=worker) for _ in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if a.hold:
        time.sleep(a.hold)
    for s in idle:
        s.close()
    print(json.dumps({"idle_open": len(idle), "requests_ok": counts["ok"], "requests_failed": counts["failed"],
                      "seconds": round(time.monotonic() - start, 2)}), flush=True)


if __name__ == "__main__":
    main()
