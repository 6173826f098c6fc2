#!/usr/bin/env python3
"""bench/attacks.py: a good client's latency while one abuser after another
attacks sluice over HTTP/2, against the same client unattacked, in one run.

sluice (one worker, pinned to ATTACK_PROXY_CPU, its defaults) proxies to the C
demo backend on a Unix socket. The good client is h2load, 4 connections at
ATTACK_RPS requests a second in all, for ATTACK_SECONDS, writing one line per
request (--log-file). Each scenario runs it once per round (ATTACK_ROUNDS);
meanwhile the attack runs in a loop: an abuser connects, floods until sluice
cuts it off, and the next one connects (tests/integ/test_h2_attacks.py's
Abuser and frames). The report gives, per scenario, medians over the rounds:
the good client's answered share and p50/p99 (and the p99 as a ratio to the
same round's unattacked run, with its min-max), how many abusers were cut off, the median
time from an abuser's first byte to its close, the GOAWAY codes seen, and the
worker's peak RSS (VmHWM) at the end of the scenario, and the worker's CPU
share while the good client ran (utime + stime over the wall time): a worker
well below 100% is not what slows the good client down.

The attackers (threads of this script), h2load and the demo backend share
ATTACK_LOAD_CPU, away from sluice's core; on a 2-core machine part of an
attacked p99 is then the load generator's own contention, not sluice's.

Usage, from the repo root after building:  bench/attacks.py
Environment (all optional): BUILD_DIR (build), ATTACK_SECONDS (5),
ATTACK_RPS (1000), ATTACK_ROUNDS (3), ATTACK_PROXY_CPU (1), ATTACK_LOAD_CPU (0),
ATTACK_ONLY (the scenarios to run, by their names in the table, comma-separated,
"slowloris" for the last; the unattacked run always runs)."""

import heapq
import os
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integ"))
sys.path.insert(0, HERE)

from harness import children  # noqa: E402
from overload import cpu_seconds, free_port, percentile, spawn, stop, wait_for  # noqa: E402
from test_h2_attacks import Abuser, request_block  # noqa: E402
from test_h2_malformed import (CONTINUATION, DATA, END_HEADERS, END_STREAM, GOAWAY,  # noqa: E402
                               HEADERS, PING, PREFACE, RST_STREAM, SETTINGS, WINDOW_UPDATE,
                               frame, hpack_int, literal)

BUILD = os.path.abspath(os.environ.get("BUILD_DIR", os.path.join(REPO, "build")))
SECONDS = int(os.environ.get("ATTACK_SECONDS", "5"))
RPS = int(os.environ.get("ATTACK_RPS", "1000"))
PROXY_CPU = os.environ.get("ATTACK_PROXY_CPU", "1")
LOAD_CPU = os.environ.get("ATTACK_LOAD_CPU", "0")
ROUNDS = int(os.environ.get("ATTACK_ROUNDS", "3"))
ONLY = [n.strip() for n in os.environ.get("ATTACK_ONLY", "").split(",") if n.strip()]
PRIORITY = 2


def rapid_reset():
    for i in range(100000):
        stream = 2 * i + 1
        yield frame(HEADERS, END_HEADERS | END_STREAM, stream, request_block())
        yield frame(RST_STREAM, 0, stream, struct.pack(">I", 8))


def empty_data():
    yield frame(HEADERS, END_HEADERS, 1, request_block("POST", "/hang"))
    for _ in range(100000):
        yield frame(DATA, 0, 1)


def continuation():
    yield frame(HEADERS, 0, 1, request_block())
    for i in range(100000):
        yield frame(CONTINUATION, 0, 1, literal("x-c%d" % i, "v"))


def hpack_bomb():
    insert = b"\x40" + hpack_int(5, 7, 0) + b"x-big" + hpack_int(4000, 7, 0) + b"v" * 4000
    yield frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block() + insert)
    for i in range(1, 200):
        yield frame(HEADERS, END_HEADERS | END_STREAM, 2 * i + 1, request_block() + b"\xbe" * 16000)


def stream_id_exhaustion():
    last = 2**31 - 1
    yield frame(HEADERS, END_HEADERS | END_STREAM, last, request_block())
    for _ in range(100000):
        yield frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block())


FLOODS = {
    "rapid reset": rapid_reset,
    "PING flood": lambda: (frame(PING, 0, 0, b"%08d" % i) for i in range(100000)),
    "SETTINGS flood": lambda: (frame(SETTINGS, 0, 0) for _ in range(100000)),
    "WINDOW_UPDATE flood": lambda: (frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1))
                                    for _ in range(100000)),
    "PRIORITY flood": lambda: (frame(PRIORITY, 0, 2 * i + 1, struct.pack(">IB", 0, 15))
                               for i in range(100000)),
    "empty DATA flood": empty_data,
    "CONTINUATION flood": continuation,
    "HPACK bomb": hpack_bomb,
    "stream-id exhaustion": stream_id_exhaustion,
}


class Attack:
    """Abusers one after another until stopped."""

    def __init__(self, port, make_frames):
        # built once: the attacker's own CPU is spent on sending, not framing
        self.port, self.payload = port, b"".join(make_frames())
        self.cut_off, self.took, self.codes = 0, [], {}
        self.running = True
        self.thread = threading.Thread(target=self.loop)
        self.thread.start()

    def loop(self):
        while self.running:
            started = time.monotonic()
            abuser = Abuser(self.port)
            abuser.flood([self.payload], batch=1)
            if abuser.closed_at is not None:
                self.cut_off += 1
                self.took.append(abuser.closed_at - started)
            code = abuser.goaway_code()
            self.codes[code] = self.codes.get(code, 0) + 1

    def stop(self):
        self.running = False
        self.thread.join()


class Slowloris:
    """500 connections whose HTTP/1.1 heads come a byte a second."""

    def __init__(self, port):
        import socket
        self.socks = []
        for _ in range(500):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            s.setblocking(False)
            self.socks.append(s)
        self.opened = time.monotonic()
        self.closed = {}
        self.running = True
        self.thread = threading.Thread(target=self.loop)
        self.thread.start()

    def loop(self):
        poller = select.poll()
        by_fd = {}
        for i, s in enumerate(self.socks):
            poller.register(s, select.POLLIN)
            by_fd[s.fileno()] = i
        # a byte a second each, the 500 evenly spread over the second (one every
        # 2 ms), as independent slow clients would send: bursts of them would
        # measure the load generator's core more than sluice
        due = [(1 + i / len(self.socks), i) for i in range(len(self.socks))]
        while self.running:
            wait_ms = (due[0][0] - (time.monotonic() - self.opened)) * 1000 if due else 50
            for fd, _ in poller.poll(min(50, max(0, wait_ms))):
                i = by_fd[fd]
                try:
                    is_closed = self.socks[i].recv(4096) == b""
                except OSError:
                    is_closed = True
                if is_closed:
                    self.closed[i] = time.monotonic() - self.opened
                    poller.unregister(fd)
            tick = time.monotonic() - self.opened
            while due and due[0][0] <= tick:
                at, i = heapq.heappop(due)
                if i in self.closed:
                    continue
                try:
                    self.socks[i].send(b"x")
                    heapq.heappush(due, (at + 1, i))
                except OSError:
                    self.closed[i] = tick
                    poller.unregister(self.socks[i].fileno())

    def stop(self):
        self.running = False
        self.thread.join()
        for s in self.socks:
            s.close()


def good_client(port, tmp, tag):
    logfile = os.path.join(tmp, tag.replace(" ", "_") + ".log")
    clients = 4
    res = subprocess.run(["taskset", "-c", LOAD_CPU, "h2load", "-c", str(clients), "-m", "1",
                          "--rps", str(RPS // clients), "-D", "%d" % SECONDS, "--log-file",
                          logfile, "http://127.0.0.1:%d/" % port],
                         capture_output=True, timeout=SECONDS + 60)
    if not os.path.exists(logfile):
        sys.exit("h2load wrote no log:\n" + (res.stdout + res.stderr).decode(errors="replace"))
    ok, other = [], 0
    with open(logfile) as f:
        for line in f:
            _, status, micros = line.split("\t")[:3]
            if 200 <= int(status) < 300:
                ok.append(int(micros) / 1000)
            else:
                other += 1
    return {"ok": len(ok), "other": other, "p50": percentile(ok, 50), "p99": percentile(ok, 99),
            "h2load": res.stdout.decode(errors="replace")}


def peak_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def measured(port, tmp, tag, worker):
    """The good client's figures, with the worker's CPU share meanwhile."""
    cpu, wall = cpu_seconds(worker), time.monotonic()
    fig = good_client(port, tmp, tag)
    fig["worker_cpu"] = (cpu_seconds(worker) - cpu) / (time.monotonic() - wall)
    return fig


def run_floods(port, tmp, worker, r):
    """One round: {scenario: (figures, cut off, time to the close, GOAWAY codes,
    peak RSS KiB)}, the unattacked run under "none"."""
    rows = {"none": (measured(port, tmp, "unattacked-%d" % r, worker), "", "", "",
                     peak_rss_kib(worker))}
    for name, make in FLOODS.items():
        if ONLY and name not in ONLY:
            continue
        attack = Attack(port, make)
        fig = measured(port, tmp, "%s-%d" % (name, r), worker)
        attack.stop()
        took = "%.0f ms" % (statistics.median(attack.took) * 1000) if attack.took else "-"
        codes = ", ".join("%s x%d" % ("none" if c is None else "0x%x" % c, n)
                          for c, n in sorted(attack.codes.items(), key=str))
        rows[name] = (fig, str(attack.cut_off), took, codes, peak_rss_kib(worker))
    if ONLY and "slowloris" not in ONLY:
        return rows
    loris = Slowloris(port)
    fig = measured(port, tmp, "slowloris-%d" % r, worker)
    deadline = time.monotonic() + 15
    while len(loris.closed) < 500 and time.monotonic() < deadline:
        time.sleep(0.2)
    loris.stop()
    took = "%.1f s (max %.1f s)" % (statistics.median(loris.closed.values()),
                                     max(loris.closed.values())) if loris.closed else "-"
    rows["slowloris x500"] = (fig, "%d of 500" % len(loris.closed), took, "408",
                              peak_rss_kib(worker))
    return rows


def report(rounds):
    """Medians over the rounds; the p99 ratio is taken within each round, against
    that round's unattacked run. Counts, times and codes are the last round's."""
    print("good client: h2load -c 4 -m 1, %d req/s for %.0f s; sluice defaults, one worker; "
          "medians of %d rounds" % (RPS, SECONDS, len(rounds)))
    print("| attack | good ok | good other | p50 ms | p99 ms | p99 vs none (min-max) "
          "| abusers cut off | to the close | GOAWAY codes | worker peak RSS | worker CPU |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for name in rounds[-1]:
        figs = [r[name][0] for r in rounds]
        ratios = [r[name][0]["p99"] / r["none"][0]["p99"] for r in rounds]
        _, cut, took, codes, _ = rounds[-1][name]
        rss = max(r[name][4] for r in rounds)

        def med(key):
            return statistics.median(f[key] for f in figs)
        print("| %s | %d | %d | %.2f | %.2f | %.2fx (%.2f-%.2f) | %s | %s | %s | %.1f MiB | %.0f%% |"
              % (name, med("ok"), med("other"), med("p50"), med("p99"),
                 statistics.median(ratios), min(ratios), max(ratios), cut, took, codes,
                 rss / 1024, 100 * med("worker_cpu")))


def main():
    unknown = sorted(set(ONLY) - set(FLOODS) - {"slowloris"})
    if unknown:
        sys.exit("ATTACK_ONLY: no scenario %s; there are: %s, slowloris"
                 % (", ".join(unknown), ", ".join(FLOODS)))
    # the attackers are this script's threads: keep them off sluice's core
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    tmp = tempfile.mkdtemp(prefix="sluice-attacks-")
    sock = os.path.join(tmp, "backend.sock")
    backend = spawn([os.path.join(BUILD, "tools", "sluice-demo-backend"), "--listen",
                     "unix:" + sock, "--quiet"], LOAD_CPU, os.path.join(tmp, "backend.log"))
    wait_for(sock, backend, "the demo backend")
    port = free_port()
    cfg = os.path.join(tmp, "sluice.yaml")
    with open(cfg, "w") as f:
        f.write("log_level: warn\nworkers: 1\nlisteners:\n  - address: 127.0.0.1:%d\n"
                "backends:\n  - name: demo\n    servers: [unix:%s]\n" % (port, sock))
    sluice = spawn([os.path.join(BUILD, "proxy", "sluice"), "-c", cfg], PROXY_CPU,
                   os.path.join(tmp, "sluice.log"))
    rounds = []
    try:
        wait_for(("127.0.0.1", port), sluice, "sluice")
        worker = None
        while not worker:  # the master binds the listener before it forks the worker
            worker = children(sluice.pid)
            time.sleep(0.05)
        worker = worker[0]
        good_client(port, tmp, "warm-up")
        for r in range(ROUNDS):
            rounds.append(run_floods(port, tmp, worker, r))
    finally:
        stop(sluice)
        stop(backend)
    report(rounds)


if __name__ == "__main__":
    main()
