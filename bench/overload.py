#!/usr/bin/env python3
"""bench/overload.py: critical traffic through a saturated backend, sluice
against HAProxy and nginx configured as well as a user can, in one run.

The backend is gunicorn with OVERLOAD_WORKERS sync workers on a Unix socket,
each request taking OVERLOAD_SERVICE_MS (tests/integ/apps/wsgi_app.py,
/.../work/MS), so its capacity C is known; it is measured first, straight at
the socket. Then, for each peer in turn:
  1. unloaded: bid requests (/bid/...) alone at 0.3 C, for the baseline p99;
  2. loaded: the same bids plus a /track flood at 4 C, for OVERLOAD_DURATION_S.
h2load writes one line per request (--log-file); from those the report gives,
per class, the success rate (2xx), p50/p99/p99.9 latency of successes, the
share shed (any other answer) and the p99 time to a shed answer, plus goodput:
the 2xx answers per second of both classes as a share of C. Rates are over
the requests answered; "cut off" counts those still in flight when h2load's
timed run ended.

Peers (bench/peers/overload-*.in):
  sluice-static    classes and rules, max_inflight = the worker count
  sluice-reserve   the same, with a quarter of that limit reserved for bids
  sluice-adaptive  the same as sluice-static with the adaptive limiter and no
                   capacity number
  haproxy          priority classes, server maxconn = workers, timeout queue 100ms
  nginx            upstream max_conns = workers, limit_req on /track at 0.7 C
Each proxy runs alone, pinned to OVERLOAD_PROXY_CPU; h2load and gunicorn share
OVERLOAD_LOAD_CPU. The host's speed drifts, so all of it runs OVERLOAD_ROUNDS
times, the peers in an order that rotates from round to round, and the report
gives medians (and the bid p99's spread).

Last, the cost of a shed: sluice's CPU time per request (utime + stime from
/proc) for SHED_COST_REQUESTS requests all proxied to the C demo backend, then
all shed (queue_full: the backend's one slot is held by a slow request).
See bench/README.md.

Usage, from the repo root after building:  bench/overload.py
Environment (all optional): BUILD_DIR (build), OVERLOAD_PEERS (all five),
OVERLOAD_ROUNDS (3), OVERLOAD_DURATION_S (10), OVERLOAD_BASELINE_S (8),
OVERLOAD_SERVICE_MS (5),
OVERLOAD_WORKERS (4), OVERLOAD_PROXY_CPU (1), OVERLOAD_LOAD_CPU (0),
OVERLOAD_RESULTS_DIR (bench/results), BENCH_INSTALL (1: apt-get missing
packages when root).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
BUILD = os.path.abspath(os.environ.get("BUILD_DIR", os.path.join(REPO, "build")))
PEERS = os.environ.get("OVERLOAD_PEERS",
                       "sluice-static sluice-reserve sluice-adaptive haproxy nginx").split()
ROUNDS = int(os.environ.get("OVERLOAD_ROUNDS", "3"))
DURATION_S = int(os.environ.get("OVERLOAD_DURATION_S", "10"))
BASELINE_S = int(os.environ.get("OVERLOAD_BASELINE_S", "8"))
SERVICE_MS = int(os.environ.get("OVERLOAD_SERVICE_MS", "5"))
WORKERS = int(os.environ.get("OVERLOAD_WORKERS", "4"))
PROXY_CPU = os.environ.get("OVERLOAD_PROXY_CPU", "1")
LOAD_CPU = os.environ.get("OVERLOAD_LOAD_CPU", "0")
RESULTS = os.environ.get("OVERLOAD_RESULTS_DIR", os.path.join(BENCH, "results"))
sys.path.insert(0, os.path.join(REPO, "tests", "integ"))
from harness import children  # noqa: E402
CRITICAL_SHARE, BULK_SHARE = 0.3, 4.0
CRITICAL_CLIENTS, BULK_CLIENTS = 4, 16
SHED_COST_REQUESTS = int(os.environ.get("OVERLOAD_SHED_COST_REQUESTS", "100000"))
SHED_COST_CONFIG = """\
log_level: warn
listeners:
  - address: 127.0.0.1:%(port)d
backends:
  - name: demo
    servers: [unix:%(sock)s]
    max_inflight: %(max_inflight)d
    queue_size: 0
"""
PACKAGES = {"h2load": "nghttp2-client", "gunicorn": "gunicorn", "haproxy": "haproxy",
            "nginx": "nginx", "taskset": "util-linux"}


def log(msg):
    print("[overload] " + msg, file=sys.stderr, flush=True)


def find_bin(name):
    return shutil.which(name) or next((os.path.join(d, name) for d in ("/usr/sbin", "/sbin")
                                       if os.access(os.path.join(d, name), os.X_OK)), None)


def ensure_packages():
    missing = [pkg for name, pkg in PACKAGES.items() if find_bin(name) is None]
    if not missing:
        return
    if os.environ.get("BENCH_INSTALL", "1") == "0" or os.geteuid() != 0:
        sys.exit("missing packages: %s (install them, or run as root)" % " ".join(missing))
    log("installing " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # keep the packages from starting their system services on their own ports
    policy = "/usr/sbin/policy-rc.d"
    made_policy = not os.path.exists(policy)
    if made_policy:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing,
                       env=env, check=True, stdout=sys.stderr)
    finally:
        if made_policy:
            os.unlink(policy)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(addr, proc, what):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("%s exited with %d" % (what, proc.returncode))
        family = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        with socket.socket(family) as s:
            if s.connect_ex(addr) == 0:
                return
        time.sleep(0.05)
    sys.exit("%s did not start" % what)


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def spawn(args, cpu, logpath):
    out = open(logpath, "ab")
    return subprocess.Popen(["taskset", "-c", cpu] + args, stdout=out, stderr=out,
                            start_new_session=True)


class Run:
    def __init__(self, tmp):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "app.sock")
        self.procs = []

    def start_backend(self):
        args = [find_bin("gunicorn"), "--chdir", os.path.join(REPO, "tests/integ/apps"),
                "--bind", "unix:" + self.sock, "--workers", str(WORKERS),
                "--log-level", "warning", "wsgi_app:app"]
        proc = spawn(args, LOAD_CPU, os.path.join(self.tmp, "gunicorn.log"))
        self.procs.append(proc)
        wait_for(self.sock, proc, "gunicorn")

    def h2load(self, url, clients, streams, *args, unix=False):
        cmd = ["taskset", "-c", LOAD_CPU, find_bin("h2load"), "-c", str(clients),
               "-m", str(streams)] + list(args)
        if unix:
            cmd += ["--h1", "-B", "unix:" + self.sock]
        return subprocess.Popen(cmd + [url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def capacity(self):
        """Requests/s the backend completes, measured straight at its socket."""
        n = max(500, 300 * WORKERS)
        proc = self.h2load("http://localhost/bid/work/%d" % SERVICE_MS, 2 * WORKERS, 1,
                           "-n", str(n), unix=True)
        out = proc.communicate(timeout=300)[0].decode(errors="replace")
        m = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out)
        if proc.returncode != 0 or m is None or "%d 2xx" % n not in out:
            sys.exit("capacity probe failed:\n" + out)
        return float(m.group(1))

    def start_peer(self, peer, capacity):
        port = free_port()
        values = {"PORT": str(port), "SOCK": self.sock, "RUNDIR": self.tmp,
                  "WORKERS": str(WORKERS), "BULK_RATE": str(int(capacity * (1 - CRITICAL_SHARE))),
                  "IF_ROOT": "" if os.geteuid() == 0 else "# "}
        kind = "sluice" if peer.startswith("sluice") else peer
        template = {"sluice": ".yaml.in", "haproxy": ".cfg.in", "nginx": ".conf.in"}[kind]
        with open(os.path.join(BENCH, "peers", "overload-" + peer + template)) as f:
            text = f.read()
        for key, value in values.items():
            text = text.replace("@%s@" % key, value)
        conf = os.path.join(self.tmp, peer + template[:-3])
        with open(conf, "w") as f:
            f.write(text)
        args = {"sluice": [os.path.join(BUILD, "proxy/sluice"), "-c", conf],
                "haproxy": [find_bin("haproxy"), "-db", "-f", conf],
                "nginx": [find_bin("nginx"), "-p", self.tmp, "-c", conf, "-g", "daemon off;"]}
        proc = spawn(args[kind], PROXY_CPU, os.path.join(self.tmp, peer + ".log"))
        wait_for(("127.0.0.1", port), proc, peer)
        return proc, port

    def load(self, port, capacity, seconds, with_bulk, tag):
        """Runs the bids (and the flood); returns {class: (log file, h2load output)}."""
        base = "http://127.0.0.1:%d" % port
        loads = {"critical": ("/bid/work/%d" % SERVICE_MS, CRITICAL_CLIENTS, 1,
                              CRITICAL_SHARE * capacity / CRITICAL_CLIENTS)}
        if with_bulk:
            loads["bulk"] = ("/track/work/%d" % SERVICE_MS, BULK_CLIENTS, 16,
                             BULK_SHARE * capacity / BULK_CLIENTS)
        procs = {}
        for cls, (path, clients, streams, rps) in loads.items():
            logfile = os.path.join(self.tmp, "%s-%s.tsv" % (tag, cls))
            procs[cls] = (logfile, self.h2load(base + path, clients, streams, "-D", str(seconds),
                                               "--rps", "%.2f" % rps, "--log-file", logfile))
        results = {}
        for cls, (logfile, proc) in procs.items():
            out = proc.communicate(timeout=seconds + 120)[0].decode(errors="replace")
            if proc.returncode != 0:
                sys.exit("h2load failed for %s:\n%s" % (tag, out))
            results[cls] = (logfile, out)
        return results


def cpu_seconds(pid):
    """utime + stime of pid and of its live children (sluice's workers: the
    master itself does next to nothing)."""
    total = 0
    for p in [pid] + children(pid):
        with open("/proc/%d/stat" % p) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def hold_the_slot(base):
    """A slow request that holds the backend's one slot, started (again, if a
    probe took the slot first and it was shed) until sluice sheds the probes."""
    deadline = time.monotonic() + 10
    holder = None
    while time.monotonic() < deadline:
        if holder is None or holder.poll() is not None:
            holder = subprocess.Popen(["curl", "-s", "--http2-prior-knowledge",
                                       base + "/delay/60000"], stdout=subprocess.DEVNULL)
        res = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                              "--http2-prior-knowledge", base + "/"], capture_output=True)
        if res.stdout == b"503" and holder.poll() is None:
            return holder
        time.sleep(0.05)
    sys.exit("sluice never started shedding")


def shed_cost(tmp):
    """sluice's CPU µs per request, (proxied, shed), on the C demo backend."""
    sock = os.path.join(tmp, "demo.sock")
    backend = spawn([os.path.join(BUILD, "tools/sluice-demo-backend"), "--listen",
                     "unix:" + sock, "--quiet"], LOAD_CPU, os.path.join(tmp, "demo.log"))
    figures_us = []
    try:
        wait_for(sock, backend, "sluice-demo-backend")
        for max_inflight in (256, 1):
            port = free_port()
            conf = os.path.join(tmp, "shed-cost-%d.yaml" % max_inflight)
            with open(conf, "w") as f:
                f.write(SHED_COST_CONFIG % {"port": port, "sock": sock,
                                            "max_inflight": max_inflight})
            proc = spawn([os.path.join(BUILD, "proxy/sluice"), "-c", conf], PROXY_CPU,
                         os.path.join(tmp, "shed-cost.log"))
            try:
                wait_for(("127.0.0.1", port), proc, "sluice")
                base = "http://127.0.0.1:%d" % port
                # with one slot, held, everything else is shed
                holder = hold_the_slot(base) if max_inflight == 1 else None
                before = cpu_seconds(proc.pid)
                h2 = subprocess.run(["taskset", "-c", LOAD_CPU, find_bin("h2load"), "-c", "16",
                                     "-m", "16", "-n", str(SHED_COST_REQUESTS), base + "/"],
                                    capture_output=True, timeout=600)
                spent = cpu_seconds(proc.pid) - before
                out = h2.stdout.decode(errors="replace")
                want = "%d 5xx" % SHED_COST_REQUESTS if holder else "%d 2xx" % SHED_COST_REQUESTS
                if want not in out:
                    sys.exit("shed-cost run did not get %s:\n%s" % (want, out))
                figures_us.append(spent * 1e6 / SHED_COST_REQUESTS)
                if holder:
                    holder.kill()
                    holder.wait()
            finally:
                stop(proc)
    finally:
        stop(backend)
    return tuple(figures_us)


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def figures(logfile, out, seconds):
    """Per-class figures from h2load's per-request log (start µs, status, µs)."""
    ok, shed = [], []
    with open(logfile) as f:
        for line in f:
            _, status, micros = line.split("\t")[:3]
            (ok if 200 <= int(status) < 300 else shed).append(int(micros) / 1000)
    started = int(re.search(r"(\d+) started", out).group(1))
    answered = len(ok) + len(shed)
    # a timed run stops with requests in flight: those are not counted as failures
    return {"sent": answered, "ok": len(ok), "shed": len(shed),
            "unanswered": max(0, started - answered),
            "success": len(ok) / answered if answered else float("nan"),
            "p50": percentile(ok, 50), "p99": percentile(ok, 99), "p999": percentile(ok, 99.9),
            "shed_p99": percentile(shed, 99), "ok_per_s": len(ok) / seconds}


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def summarize(capacity, rounds):
    """One row of medians over the rounds from [(base, crit, bulk), ...]."""
    def med(fn):
        return median([fn(base, crit, bulk) for base, crit, bulk in rounds])
    return {
        "success": med(lambda b, c, k: c["success"]),
        "p50": med(lambda b, c, k: c["p50"]),
        "p99": med(lambda b, c, k: c["p99"]),
        "p99_spread": (min(c["p99"] for _, c, _ in rounds), max(c["p99"] for _, c, _ in rounds)),
        "p999": med(lambda b, c, k: c["p999"]),
        "base_p99": med(lambda b, c, k: b["p99"]),
        "bulk_success": med(lambda b, c, k: k["success"]),
        "bulk_shed": med(lambda b, c, k: k["shed"] / max(1, k["sent"])),
        "shed_p99": med(lambda b, c, k: max(c["shed_p99"], k["shed_p99"]) if c["shed"]
                        else k["shed_p99"]),
        "cut": med(lambda b, c, k: c["unanswered"] + k["unanswered"]),
        "goodput": med(lambda b, c, k: (c["ok_per_s"] + k["ok_per_s"]) / capacity),
    }


def report(capacity, rows):
    lines = ["# bench/overload.py", "",
             "Backend: gunicorn, %d sync workers, %d ms per request; capacity C = %.0f req/s "
             "(measured). Load: bids at %.1f C, a /track flood at %.1f C, %d s; baseline: bids "
             "alone, %d s." % (WORKERS, SERVICE_MS, capacity, CRITICAL_SHARE, BULK_SHARE,
                               DURATION_S, BASELINE_S), "",
             "Medians over %d rounds, peers in rotated order; bid p99 also as min-max." % ROUNDS,
             "",
             "| peer | bid success | bid p50 ms | bid p99 ms | bid p99 min-max | bid p99.9 ms "
             "| unloaded bid p99 ms | bid p99 / unloaded | track success | track shed "
             "| shed answer p99 ms | cut off | goodput / C |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for peer, r in rows:
        lines.append("| %s | %.2f%% | %.1f | %.1f | %.1f-%.1f | %.1f | %.1f | %.2fx | %.1f%% | "
                     "%.1f%% | %.1f | %d | %.0f%% |"
                     % (peer, 100 * r["success"], r["p50"], r["p99"], r["p99_spread"][0],
                        r["p99_spread"][1], r["p999"], r["base_p99"], r["p99"] / r["base_p99"],
                        100 * r["bulk_success"], 100 * r["bulk_shed"], r["shed_p99"], r["cut"],
                        100 * r["goodput"]))
    return "\n".join(lines) + "\n"


def main():
    ensure_packages()
    if not os.access(os.path.join(BUILD, "proxy/sluice"), os.X_OK):
        sys.exit("build sluice first (tools/build.sh), or set BUILD_DIR")
    tmp = tempfile.mkdtemp(prefix="sluice-overload-")
    run = Run(tmp)
    try:
        run.start_backend()
        capacity = run.capacity()
        log("backend capacity %.0f req/s" % capacity)
        rounds = {peer: [] for peer in PEERS}
        for r in range(ROUNDS):
            # rotated, so that no peer always runs first, last, or after the same one
            for peer in PEERS[r % len(PEERS):] + PEERS[:r % len(PEERS)]:
                proc, port = run.start_peer(peer, capacity)
                tag = "%s-r%d" % (peer, r)
                try:
                    run.load(port, capacity, 1, False, tag + "-warmup")
                    base = run.load(port, capacity, BASELINE_S, False, tag + "-base")
                    loaded = run.load(port, capacity, DURATION_S, True, tag)
                finally:
                    stop(proc)
                rounds[peer].append((figures(*base["critical"], BASELINE_S),
                                     figures(*loaded["critical"], DURATION_S),
                                     figures(*loaded["bulk"], DURATION_S)))
                log("round %d: %s done" % (r + 1, peer))
        text = report(capacity, [(peer, summarize(capacity, rounds[peer])) for peer in PEERS])
        print(text, flush=True)
        os.makedirs(RESULTS, exist_ok=True)
        path = os.path.join(RESULTS, "overload-%s.md" % time.strftime("%Y%m%d-%H%M%S"))
        with open(path, "w") as f:
            f.write(text)
        proxied_us, shed_us = shed_cost(tmp)
        text = ("\nCost of a shed: sluice spends %.1f µs of CPU per shed request against "
                "%.1f µs per proxied one (%.0f%%), over %d requests each (h2load -c 16 -m 16, "
                "the C demo backend).\n" % (shed_us, proxied_us, 100 * shed_us / proxied_us,
                                             SHED_COST_REQUESTS))
        print(text)
        with open(path, "a") as f:
            f.write(text)
    finally:
        for proc in run.procs:
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
