"""A real overloaded backend: gunicorn with four sync workers and a fixed service
time. Critical requests at about 30% of its capacity and a bulk flood at about
four times it, through sluice at once: critical requests all get through, bulk
is shed with its configured answer, nothing hangs, and the counts add up. With
the adaptive limiter and no capacity number, the limit settles at the worker
count and the flood's excess is answered on arrival."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest
import urllib.request

from harness import IntegTest, free_port, is_asan_build, wait_until
from test_h2c_shed import counts_of

WORKERS = 4
SERVICE_MS = 10
DURATION_S = 3
# the adaptive limiter's run: a second or so to settle, then LATE_S of figures,
# long enough that a slow spell of the host (a cut, and a second or more to climb
# back) cannot move their median
ADAPTIVE_S = 8
LATE_S = 4
PROBE_REQUESTS = 400

CONFIG = """\
classes:
  - name: critical
    sheddable: false
    reserve_percent: 25
  - name: bulk
    max_queue_ms: 50
    shed:
      status: 503
      headers: {Retry-After: "1"}
default_class: bulk
rules:
  - path_prefix: /bid
    class: critical
"""

# as an operator writes it: only the classes, every other key at its default
DEFAULTS_CONFIG = """\
classes:
  - name: critical
    sheddable: false
  - name: bulk
    deadline_ms: 1000
default_class: bulk
rules:
  - path_prefix: /bid
    class: critical
"""


def h2load_figures(output):
    """(started, done, 2xx, 5xx, errored + timed out) from h2load's summary. A
    timed run (-D) stops with some requests started and not done."""
    req = re.search(r"requests: \d+ total, (\d+) started, (\d+) done, \d+ succeeded, \d+ failed, "
                    r"(\d+) errored, (\d+) timeout", output)
    codes = re.search(r"status codes: (\d+) 2xx, \d+ 3xx, \d+ 4xx, (\d+) 5xx", output)
    assert req and codes, output
    return (int(req.group(1)), int(req.group(2)), int(codes.group(1)), int(codes.group(2)),
            int(req.group(3)) + int(req.group(4)))


@unittest.skipUnless(shutil.which("h2load") and shutil.which("gunicorn"),
                     "h2load (nghttp2-client) and gunicorn are needed")
class H2cToGunicornOverload(IntegTest):
    def h2load(self, path, clients, streams, *args):
        cmd = ["h2load", "-c", str(clients), "-m", str(streams)] + list(args) + [self.url(path)]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def finish(self, proc):
        out, _ = proc.communicate(timeout=60)
        out = out.decode(errors="replace")
        self.assertEqual(proc.returncode, 0, out)
        return h2load_figures(out)

    def measure_capacity(self):
        """Requests per second the backend completes when kept busy: one request
        in flight per worker, so that no queue stands in sluice (where adaptive
        LIFO would let the oldest requests expire)."""
        res = subprocess.run(["h2load", "-c", str(WORKERS), "-m", "1", "-n", str(PROBE_REQUESTS),
                              self.url("/bid/work/%d" % SERVICE_MS)],
                             capture_output=True, timeout=60)
        out = res.stdout.decode(errors="replace")
        _, done, ok, _, _ = h2load_figures(out)
        self.assertEqual((done, ok), (PROBE_REQUESTS, PROBE_REQUESTS),
                         out + self.sluice.output())
        return float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out).group(1))

    def wait_for_workers(self):
        """The socket accepts once the master has bound it, before workers boot:
        returns the statuses of the requests it took."""
        warmups = []

        def workers_answer():
            warmups.append(self.get("/bid/work/1")[0])
            return warmups[-1] == 200
        wait_until(workers_answer, what="gunicorn's workers")
        return warmups

    def test_critical_gets_through_a_bulk_flood(self):
        _, addr = self.start_gunicorn(workers=WORKERS)
        self.start_sluice({"app": ([addr], {"max_inflight": WORKERS, "queue_size": 256})},
                          extra=CONFIG)
        warmups = self.wait_for_workers()
        capacity = self.measure_capacity()
        # rates per client, so that the totals are 0.3x and 4x capacity
        critical = self.h2load("/bid/work/%d" % SERVICE_MS, 2, 1, "-D", str(DURATION_S),
                               "--rps", "%.1f" % (0.3 * capacity / 2))
        bulk = self.h2load("/track/work/%d" % SERVICE_MS, 8, 16, "-D", str(DURATION_S),
                           "--rps", "%.1f" % (4 * capacity / 8))
        c_started, c_done, c_ok, c_5xx, c_err = self.finish(critical)
        b_started, b_done, b_ok, b_5xx, b_err = self.finish(bulk)
        self.assertGreater(c_done, 0.3 * capacity * DURATION_S / 2, "critical load ran")
        # h2load counts a status when the response head arrives: a stream cut off
        # by the end of the timed run may have one without being done
        self.assertEqual((c_5xx, c_err), (0, 0), "every critical request got 2xx")
        self.assertTrue(c_done <= c_ok <= c_started, (c_done, c_ok, c_started))
        self.assertEqual(b_err, 0, "no bulk request hung or broke")
        self.assertTrue(b_done <= b_ok + b_5xx <= b_started, (b_done, b_ok, b_5xx, b_started))
        self.assertGreater(b_5xx, b_done / 2, "most of the flood is shed")
        self.assertGreater(b_ok, 0, "bulk still gets the capacity critical leaves")

        self.sluice.send_signal(signal.SIGTERM)
        self.assertEqual(self.sluice.wait(), 0, self.sluice.output())
        counts = counts_of(self.sluice.output())
        c, b = counts[("app", "critical")], counts[("app", "bulk")]
        # a request started as a timed run ends may not have reached sluice;
        # the warm-up and the capacity probe were critical too
        probed = c["received"] - len(warmups) - PROBE_REQUESTS
        self.assertTrue(c_done <= probed <= c_started, (c, c_done, c_started))
        self.assertTrue(b_done <= b["received"] <= b_started, (b, b_done, b_started))
        for cls in (c, b):
            shed = sum(v for k, v in cls.items() if k.startswith("shed_"))
            self.assertEqual(cls["admitted"] + shed + cls["cancelled"], cls["received"],
                             "%s\n%s" % (cls, self.sluice.output()[-3000:]))
            self.assertEqual(cls["shed_overload"] + cls["shed_evicted"], 0, cls)
        self.assertEqual(c["admitted"] + c["cancelled"], c["received"], "no critical shed")
        # requests cut off by the end of the run were admitted or shed, not done
        cut = b_started - b_done
        self.assertTrue(b_ok <= b["admitted"] <= b_ok + cut, (b, b_ok, cut))
        shed = sum(b[k] for k in ("shed_queue_full", "shed_queue_timeout", "shed_deadline",
                                  "shed_backlog"))
        self.assertTrue(b_5xx <= shed <= b_5xx + cut, (b, b_5xx, cut))

    def test_the_adaptive_limit_settles_at_the_worker_count_and_the_excess_is_shed_at_once(self):
        _, addr = self.start_gunicorn(workers=WORKERS)
        admin = free_port()
        self.start_sluice({"app": ([addr], {"limiter": "adaptive"})},
                          extra=DEFAULTS_CONFIG + "admin_address: 127.0.0.1:%d\n" % admin)
        self.wait_for_workers()
        capacity = WORKERS * 1000 / SERVICE_MS  # nominal: nothing here is told it
        logs = {cls: os.path.join(self.dir, cls + ".tsv") for cls in ("critical", "bulk")}
        critical = self.h2load("/bid/work/%d" % SERVICE_MS, 2, 1, "-D", str(ADAPTIVE_S),
                               "--rps", "%.1f" % (0.3 * capacity / 2),
                               "--log-file", logs["critical"])
        bulk = self.h2load("/track/work/%d" % SERVICE_MS, 8, 16, "-D", str(ADAPTIVE_S),
                           "--rps", "%.1f" % (4 * capacity / 8), "--log-file", logs["bulk"])
        # the limiter's figures, ten a second while the flood runs
        samples, started = [], time.monotonic()
        while critical.poll() is None:
            with urllib.request.urlopen("http://127.0.0.1:%d/stats" % admin, timeout=5) as r:
                b = json.load(r)["backends"][0]
            samples.append((time.monotonic() - started, b))
            time.sleep(0.1)
        _, c_done, c_ok, c_5xx, c_err = self.finish(critical)
        _, b_done, b_ok, b_5xx, b_err = self.finish(bulk)
        self.assertEqual((c_5xx, c_err, b_err), (0, 0, 0))
        self.assertGreater(b_5xx, b_done / 2, "most of the flood is shed")
        # over the flood's last LATE_S seconds, the limit (outside probes) sits at the
        # knee, the worker count, and the no-load latency is about the service
        # time (the first probe may also have seen the quick warm-up requests).
        # A window slow by chance (a busy CI machine) cuts the limit below the
        # knee for a window or two, so the median may be one short of it; a trial
        # above the knee that passes by chance has shown a knee of 6 (2 samples of
        # 19 in one CI run), while one of 7 would mean such trials no longer fail.
        # Under ASan the worker itself, shedding the flood, adds enough latency
        # to pull the limit lower still, so only the plain build checks these.
        late = [b for t, b in samples if t > ADAPTIVE_S - LATE_S and not b["probing"]]
        self.assertGreater(len(late), 5, samples)
        if not is_asan_build():
            limits = sorted(b["limit"] for b in late)
            self.assertIn(limits[len(limits) // 2], range(WORKERS - 1, WORKERS + 2), limits)
            self.assertIn(max(b["knee"] for b in late), range(WORKERS, WORKERS + 3), late)
        self.assertTrue(0.8 * SERVICE_MS <= late[-1]["no_load_ms"] < 1.5 * SERVICE_MS, late[-1])
        # shed answers come on arrival, not after waiting a turn
        with open(logs["bulk"]) as f:
            shed_ms = sorted(int(line.split("\t")[2]) / 1000 for line in f
                             if not line.split("\t")[1].startswith("2"))
        self.assertGreater(len(shed_ms), 100)
        self.assertLess(shed_ms[int(0.99 * len(shed_ms))], 20, "p99 of a shed answer in ms")


if __name__ == "__main__":
    unittest.main()
