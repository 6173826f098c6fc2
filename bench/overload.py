#!/usr/bin/env python3
"""bench/overload.py: critical traffic through a saturated backend, sluice
against HAProxy and nginx configured as well as a user can, in one run.

The backend is gunicorn with OVERLOAD_WORKERS sync workers on a Unix socket,
each request taking OVERLOAD_SERVICE_MS (tests/integ/apps/wsgi_app.py,
/.../work/MS), so its capacity C is known; it is measured first, straight at
the socket. Then, for each peer in turn:
  1. unloaded: bid requests (/bid/...) alone at 0.3 C, for the baseline p99;
  2. loaded, for each overload factor F in OVERLOAD_FACTORS (4 and 8): the
     same bids plus a /track flood at F x C for OVERLOAD_DURATION_S; the bids
     go on for RECOVERY_S more, to see how soon after the flood they are back.
     For sluice, /stats is read every 100 ms during the flood: the share of
     the time its limit was above the worker count (outside probes), which
     puts a request in gunicorn's own queue where a bid waits behind it, and
     the share it spent probing at min_inflight; and its own p99 of the
     flood's shed answers, from /metrics before and after (arrival to the end
     of the answer: the rest of what h2load measures is the client's side and
     the loopback; the buckets double, so it is an upper bound);
  3. slowdown (OVERLOAD_SLOWDOWN=1): bids and a 4 C flood, and halfway through
     the backend's service time doubles (wsgi_app.py's WSGI_WORK_SCALE_FILE).
     For sluice the limit is read from /stats every 100 ms, to see how soon
     it settles at its new value.
h2load writes one line per request (--log-file); from those the report gives,
per class, the success rate (2xx), p50/p99/p99.9 latency of successes, the
share shed (any other answer) and the p99 time to a shed answer, plus goodput:
the 2xx answers per second of both classes as a share of C. Rates are over
the requests answered; "cut off" counts those still in flight when h2load's
timed run ended.

Peers (bench/peers/overload-*.in), the sluice ones as an operator writes
them: bids critical (never shed at the door, 204 when shed), /track bulk with
a 1 s deadline, every other key at its default:
  sluice-static            max_inflight = the worker count
  sluice-reserve           the same, a quarter of the limit reserved for bids
  sluice-adaptive          the adaptive limiter, no capacity number
  sluice-adaptive-reserve  the same, a quarter of the limit reserved for bids
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
Environment (all optional): BUILD_DIR (build), OVERLOAD_PEERS (all six),
OVERLOAD_ROUNDS (3), OVERLOAD_DURATION_S (10), OVERLOAD_BASELINE_S (8),
OVERLOAD_FACTORS ("4 8"), OVERLOAD_SLOWDOWN (1), OVERLOAD_SERVICE_MS (5),
OVERLOAD_WORKERS (4), OVERLOAD_PROXY_CPU (1), OVERLOAD_LOAD_CPU (0),
OVERLOAD_RESULTS_DIR (bench/results), OVERLOAD_SHED_COST_REQUESTS (100000;
0 skips the cost of a shed), BENCH_INSTALL (1: apt-get missing packages when
root).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
BUILD = os.path.abspath(os.environ.get("BUILD_DIR", os.path.join(REPO, "build")))
PEERS = os.environ.get("OVERLOAD_PEERS", "sluice-static sluice-reserve sluice-adaptive "
                       "sluice-adaptive-reserve haproxy nginx").split()
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
FACTORS = [float(f) for f in os.environ.get("OVERLOAD_FACTORS", "4 8").split()]
SLOWDOWN = os.environ.get("OVERLOAD_SLOWDOWN", "1") == "1"
RECOVERY_S = 2
CRITICAL_SHARE = 0.3
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


def spawn(args, cpu, logpath, env=None):
    out = open(logpath, "ab")
    return subprocess.Popen(["taskset", "-c", cpu] + args, stdout=out, stderr=out,
                            start_new_session=True, env=env)


class Run:
    def __init__(self, tmp):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "app.sock")
        self.scale_file = os.path.join(tmp, "work-scale")
        self.set_work_scale(1)
        self.procs = []

    def set_work_scale(self, scale):
        """The backend's service time from its next request on: scale x SERVICE_MS."""
        with open(self.scale_file + ".new", "w") as f:
            f.write("%g\n" % scale)
        os.replace(self.scale_file + ".new", self.scale_file)

    def start_backend(self):
        args = [find_bin("gunicorn"), "--chdir", os.path.join(REPO, "tests/integ/apps"),
                "--bind", "unix:" + self.sock, "--workers", str(WORKERS),
                "--log-level", "warning", "wsgi_app:app"]
        proc = spawn(args, LOAD_CPU, os.path.join(self.tmp, "gunicorn.log"),
                     env=dict(os.environ, WSGI_WORK_SCALE_FILE=self.scale_file))
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
        """Returns (process, port, admin port or None)."""
        port, admin = free_port(), free_port()
        values = {"PORT": str(port), "ADMIN": str(admin), "SOCK": self.sock, "RUNDIR": self.tmp,
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
        return proc, port, admin if kind == "sluice" else None

    def load(self, port, capacity, seconds, bulk_share, tag, after_s=0):
        """Runs the bids (and a flood of bulk_share x C, unless 0), the bids for
        after_s more; returns {class: (log file, h2load output)}."""
        base = "http://127.0.0.1:%d" % port
        loads = {"critical": ("/bid/work/%d" % SERVICE_MS, CRITICAL_CLIENTS, 1,
                              CRITICAL_SHARE * capacity / CRITICAL_CLIENTS, seconds + after_s)}
        if bulk_share:
            loads["bulk"] = ("/track/work/%d" % SERVICE_MS, BULK_CLIENTS, 16,
                             bulk_share * capacity / BULK_CLIENTS, seconds)
        procs = {}
        for cls, (path, clients, streams, rps, run_s) in loads.items():
            logfile = os.path.join(self.tmp, "%s-%s.tsv" % (tag, cls))
            procs[cls] = (logfile, self.h2load(base + path, clients, streams, "-D", str(run_s),
                                               "--rps", "%.2f" % rps, "--log-file", logfile))
        results = {}
        for cls, (logfile, proc) in procs.items():
            out = proc.communicate(timeout=seconds + after_s + 120)[0].decode(errors="replace")
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


def read_log(logfile):
    """h2load's per-request log: [(start s since the epoch, status, ms)]."""
    rows = []
    with open(logfile) as f:
        for line in f:
            start_us, status, micros = line.split("\t")[:3]
            rows.append((int(start_us) / 1e6, int(status), int(micros) / 1000))
    return rows


def figures(rows, seconds, started=None):
    """Per-class figures from log rows; started: h2load's count of requests
    started, when rows are its whole run (for the "cut off" count)."""
    ok = [ms for _, status, ms in rows if 200 <= status < 300]
    shed = [ms for _, status, ms in rows if not 200 <= status < 300]
    answered = len(ok) + len(shed)
    # a timed run stops with requests in flight: those are not counted as failures
    return {"sent": answered, "ok": len(ok), "shed": len(shed),
            "unanswered": max(0, started - answered) if started is not None else 0,
            "success": len(ok) / answered if answered else float("nan"),
            "p50": percentile(ok, 50), "p99": percentile(ok, 99), "p999": percentile(ok, 99.9),
            "shed_p99": percentile(shed, 99), "ok_per_s": len(ok) / seconds}


def started_count(out):
    return int(re.search(r"(\d+) started", out).group(1))


def run_figures(result, seconds):
    logfile, out = result
    return figures(read_log(logfile), seconds, started_count(out))


def loaded_figures(results, seconds):
    """(bids during the flood, bulk, bids in each second after the flood)."""
    crit = read_log(results["critical"][0])
    bulk = read_log(results["bulk"][0])
    flood_end = max(start for start, _, _ in bulk)
    during = figures([r for r in crit if r[0] <= flood_end], seconds)
    after = [figures([r for r in crit if flood_end + i < r[0] <= flood_end + i + 1], 1)
             for i in range(RECOVERY_S)]
    return during, run_figures(results["bulk"], seconds), after


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def summarize(capacity, rounds, sluice_figures):
    """One row of medians over the rounds from [(base, crit, bulk, after), ...]
    and sluice's own figures of each round: (the limiter's time shares, its
    shed answers' p99), None where not sluice."""
    def med(fn):
        return median([fn(*r) for r in rounds])
    shares = [x for x, _ in sluice_figures if x is not None]
    own = [x for _, x in sluice_figures if x is not None]
    return {
        "own_shed_p99": median(own) if own else None,
        "above": median([x[0] for x in shares]) if shares else None,
        "probing": median([x[1] for x in shares]) if shares else None,
        "success": med(lambda b, c, k, a: c["success"]),
        "p50": med(lambda b, c, k, a: c["p50"]),
        "p99": med(lambda b, c, k, a: c["p99"]),
        "p99_spread": (min(r[1]["p99"] for r in rounds), max(r[1]["p99"] for r in rounds)),
        "p999": med(lambda b, c, k, a: c["p999"]),
        "base_p99": med(lambda b, c, k, a: b["p99"]),
        "bulk_success": med(lambda b, c, k, a: k["success"]),
        "bulk_shed": med(lambda b, c, k, a: k["shed"] / max(1, k["sent"])),
        "shed_p99": med(lambda b, c, k, a: max(c["shed_p99"], k["shed_p99"]) if c["shed"]
                        else k["shed_p99"]),
        "cut": med(lambda b, c, k, a: k["unanswered"]),
        "goodput": med(lambda b, c, k, a: (c["ok_per_s"] + k["ok_per_s"]) / capacity),
        "after": [med(lambda b, c, k, a, i=i: a[i]["p99"] / b["p99"]) for i in range(RECOVERY_S)],
    }


def report_load(capacity, factor, rows):
    lines = ["## Flood at %g C" % factor, "",
             "| peer | bid success | bid p50 ms | bid p99 ms | bid p99 min-max | bid p99.9 ms "
             "| unloaded bid p99 ms | bid p99 / unloaded | track success | track shed "
             "| shed answer p99 ms | sluice's own, at most | cut off | goodput / C "
             "| bid p99 / unloaded, "
             + ", ".join("%d-%d s" % (i, i + 1) for i in range(RECOVERY_S)) + " after "
             "| limit above %d / probing |" % WORKERS,
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for peer, r in rows:
        lines.append("| %s | %.2f%% | %.1f | %.1f | %.1f-%.1f | %.1f | %.1f | %.2fx | %.1f%% | "
                     "%.1f%% | %.1f | %s | %d | %.0f%% | %s | %s |"
                     % (peer, 100 * r["success"], r["p50"], r["p99"], r["p99_spread"][0],
                        r["p99_spread"][1], r["p999"], r["base_p99"], r["p99"] / r["base_p99"],
                        100 * r["bulk_success"], 100 * r["bulk_shed"], r["shed_p99"],
                        "-" if r["own_shed_p99"] is None else "%.3g" % r["own_shed_p99"], r["cut"],
                        100 * r["goodput"], ", ".join("%.2fx" % x for x in r["after"]),
                        "-" if r["above"] is None
                        else "%.1f%% / %.1f%%" % (100 * r["above"], 100 * r["probing"])))
    return "\n".join(lines) + "\n"


def read_shed_buckets(admin):
    """sluice's histogram of the bulk class's shed answers, from /metrics:
    {bucket upper bound in ms: cumulative count}, or None."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin, timeout=1) as r:
            text = r.read().decode()
    except OSError:
        return None
    buckets = {}
    for m in re.finditer(r'^sluice_shed_answer_latency_seconds_bucket\{class="bulk",'
                         r'le="([^"]+)"\} (\d+)$', text, re.M):
        le = float("inf") if m.group(1) == "+Inf" else float(m.group(1)) * 1000
        buckets[le] = int(m.group(2))
    return buckets or None


def bucket_p99(before, after):
    """The p99 of what a cumulative histogram gained between two reads, as
    the upper bound of its bucket, or None."""
    if not before or not after:
        return None
    gained = sorted((le, after[le] - before.get(le, 0)) for le in after)
    total = gained[-1][1]
    if total == 0:
        return None
    return next(le for le, n in gained if n >= 0.99 * total)


def read_limiter(admin):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/stats" % admin, timeout=1) as r:
            b = json.load(r)["backends"][0]
        return b["limit"], b["probing"]
    except (OSError, ValueError, KeyError, IndexError):
        return None


class SluiceWatch:
    """sluice's limit and whether it probes, read from /stats every 100 ms
    while a load runs: samples are (seconds since start, limit, probing); and
    its shed answers' histogram at the start and the end. With no admin port
    (a peer other than sluice) there are none."""

    def __init__(self, admin):
        self.admin, self.samples = admin, []
        self.shed_buckets = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.poll)

    def poll(self):
        t0 = time.monotonic()
        while not self.done.wait(0.1):
            got = read_limiter(self.admin)
            if got:
                self.samples.append((time.monotonic() - t0,) + got)

    def __enter__(self):
        if self.admin:
            self.shed_buckets.append(read_shed_buckets(self.admin))
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        if self.admin:
            self.thread.join()
            self.shed_buckets.append(read_shed_buckets(self.admin))

    def own_shed_p99(self):
        """sluice's own p99 of the load's shed answers (arrival to the end of
        the answer), as a bucket bound in ms, or None."""
        return bucket_p99(*self.shed_buckets) if len(self.shed_buckets) == 2 else None

    def shares(self, until_s):
        """(share of the time until until_s above the worker count, share
        probing), or None without samples."""
        during = [(lim, probing) for t, lim, probing in self.samples if t <= until_s]
        if not during:
            return None
        return (sum(1 for lim, probing in during if lim > WORKERS and not probing) / len(during),
                sum(1 for _, probing in during if probing) / len(during))


def slowdown(run, port, admin, capacity, tag):
    """Bids and a 4 C flood; at half time the service time doubles. Returns
    the figures of each half and, for sluice, the seconds from the slowdown
    until the limit is where it ends (within 1 of its median over the last
    quarter) for good, with that limit and the one before."""
    half = DURATION_S / 2
    timer = threading.Timer(half, run.set_work_scale, (2,))
    timer.start()
    try:
        with SluiceWatch(admin) as poller:
            results = run.load(port, capacity, DURATION_S, 4, tag)
    finally:
        timer.cancel()
        run.set_work_scale(1)
    samples = [(t, lim) for t, lim, _ in poller.samples]
    crit = read_log(results["critical"][0])
    bulk = read_log(results["bulk"][0])
    t0 = min(r[0] for r in crit + bulk)
    halves = []
    for lo, hi in ((0, half), (half, DURATION_S)):
        c = figures([r for r in crit if lo < r[0] - t0 <= hi], half)
        k = figures([r for r in bulk if lo < r[0] - t0 <= hi], half)
        halves.append((c, k))
    settle = before = after = None
    if samples:
        before = median([lim for t, lim in samples if half / 2 < t <= half])
        after = median([lim for t, lim in samples if t > DURATION_S * 0.75])
        off = [t for t, lim in samples if t > half and abs(lim - after) > 1]
        settle = (off[-1] - half) if off else 0.0
    return halves, settle, before, after


def report_slowdown(capacity, rows):
    lines = ["## The backend slows down", "",
             "Bids and a 4 C flood for %d s; at %g s the service time doubles (capacity "
             "C/2 from then on). Medians over the rounds; the limit's settling time is the "
             "time from the slowdown until the limit stays within 1 of where it ends."
             % (DURATION_S, DURATION_S / 2), "",
             "| peer | goodput / C before | goodput / (C/2) after | bid p99 ms before "
             "| bid p99 ms after | bid success after | limit before → after | limit settled after |",
             "|---|---|---|---|---|---|---|---|"]
    for peer, rounds in rows:
        def med(fn):
            return median([fn(r) for r in rounds])
        good = [med(lambda r, i=i: (r[0][i][0]["ok_per_s"] + r[0][i][1]["ok_per_s"]))
                for i in range(2)]
        settle = [r[1] for r in rounds if r[1] is not None]
        limits = "-"
        if settle:
            limits = "%g → %g" % (med(lambda r: r[2]), med(lambda r: r[3]))
        lines.append("| %s | %.0f%% | %.0f%% | %.1f | %.1f | %.2f%% | %s | %s |"
                     % (peer, 100 * good[0] / capacity, 100 * good[1] / (capacity / 2),
                        med(lambda r: r[0][0][0]["p99"]), med(lambda r: r[0][1][0]["p99"]),
                        100 * med(lambda r: r[0][1][0]["success"]), limits,
                        "%.1f s" % median(settle) if settle else "-"))
    return "\n".join(lines) + "\n"


def run_peer(run, peer, capacity, r):
    """One round of one peer: (base, {factor: loaded figures}, slowdown or None)."""
    proc, port, admin = run.start_peer(peer, capacity)
    tag = "%s-r%d" % (peer, r)
    try:
        run.load(port, capacity, 1, 0, tag + "-warmup")
        base = run_figures(run.load(port, capacity, BASELINE_S, 0, tag + "-base")["critical"],
                           BASELINE_S)
        loaded = {}
        for factor in FACTORS:
            with SluiceWatch(admin) as poller:
                results = run.load(port, capacity, DURATION_S, factor, "%s-%g" % (tag, factor),
                                   after_s=RECOVERY_S)
            loaded[factor] = loaded_figures(results, DURATION_S) + (poller.shares(DURATION_S),
                                                                    poller.own_shed_p99())
        slow = slowdown(run, port, admin, capacity, tag + "-slow") if SLOWDOWN else None
    finally:
        stop(proc)
    return base, loaded, slow


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
        loaded = {factor: {peer: [] for peer in PEERS} for factor in FACTORS}
        sluice_figures = {factor: {peer: [] for peer in PEERS} for factor in FACTORS}
        slowed = {peer: [] for peer in PEERS}
        for r in range(ROUNDS):
            # rotated, so that no peer always runs first, last, or after the same one
            for peer in PEERS[r % len(PEERS):] + PEERS[:r % len(PEERS)]:
                base, by_factor, slow = run_peer(run, peer, capacity, r)
                for factor, (crit, bulk, after, limiter, own) in by_factor.items():
                    loaded[factor][peer].append((base, crit, bulk, after))
                    sluice_figures[factor][peer].append((limiter, own))
                if slow:
                    slowed[peer].append(slow)
                log("round %d: %s done" % (r + 1, peer))
        text = ["# bench/overload.py", "",
                "Backend: gunicorn, %d sync workers, %d ms per request; capacity C = %.0f "
                "req/s (measured). Load: bids at %.1f C, a /track flood at F x C for %d s, bids "
                "%d s more; baseline: bids alone, %d s. Medians over %d rounds, peers in "
                "rotated order; bid p99 also as min-max."
                % (WORKERS, SERVICE_MS, capacity, CRITICAL_SHARE, DURATION_S, RECOVERY_S,
                   BASELINE_S, ROUNDS), ""]
        for factor in FACTORS:
            text.append(report_load(capacity, factor, [
                (peer, summarize(capacity, loaded[factor][peer], sluice_figures[factor][peer]))
                for peer in PEERS]))
        if SLOWDOWN:
            text.append(report_slowdown(capacity, [(p, slowed[p]) for p in PEERS]))
        text = "\n".join(text)
        print(text, flush=True)
        os.makedirs(RESULTS, exist_ok=True)
        path = os.path.join(RESULTS, "overload-%s.md" % time.strftime("%Y%m%d-%H%M%S"))
        with open(path, "w") as f:
            f.write(text)
        if SHED_COST_REQUESTS == 0:
            return
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
