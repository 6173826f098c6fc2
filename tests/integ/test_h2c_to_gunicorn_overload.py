"""A real overloaded backend: gunicorn with four sync workers and a fixed service
time. Critical requests at about 30% of its capacity and a bulk flood at about
four times it, through sluice at once: critical requests all get through, bulk
is shed with its configured answer, nothing hangs, and the counts add up."""

import re
import shutil
import signal
import subprocess
import unittest

from harness import IntegTest, wait_until
from test_h2c_shed import counts_of

WORKERS = 4
SERVICE_MS = 10
DURATION_S = 3
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

    def test_critical_gets_through_a_bulk_flood(self):
        _, addr = self.start_gunicorn(workers=WORKERS)
        self.start_sluice({"app": ([addr], {"max_inflight": WORKERS, "queue_size": 256})},
                          extra=CONFIG)
        # the socket accepts once the master has bound it, before workers boot
        warmups = []

        def workers_answer():
            warmups.append(self.get("/bid/work/1")[0])
            return warmups[-1] == 200
        wait_until(workers_answer, what="gunicorn's workers")
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


if __name__ == "__main__":
    unittest.main()
