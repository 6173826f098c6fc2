"""Priority classes and shedding, h2c clients to the C demo backend: every shed
reason gives its class's configured answer, a higher class pushes a lower one out
of a full queue, and budgets reach the backend."""

import json
import os
import re
import shutil
import signal
import struct
import subprocess
import time
import unittest

from harness import TIMER_SLACK, IntegTest, backend_seen, wait_until
from test_h2_malformed import DATA, END_STREAM, RST_STREAM, RawClient, frame

REFUSED_STREAM = 7

CLASSES = """\
classes:
  - name: critical
    sheddable: false
    reserve_percent: 20
    shed:
      status: 204
  - name: bulk
    max_queue_ms: %(bulk_queue_ms)d
    max_backlog_ms: %(bulk_backlog_ms)d
    shed:
      status: 503
      headers: {Retry-After: "1"}
      body: "busy\\n"
  - name: refused
    shed:
      refuse_stream: true
default_class: bulk
rules:
  - path_prefix: /status/
    class: critical
  - path: /refuse
    class: refused
decision_header: true
"""


def counts_of(log):
    """The exit counts as {(backend, class): {key: int}}."""
    counts = {}
    for line in log.splitlines():
        m = re.search(r"counts backend=(\S+) class=(\S+) (.*)", line)
        if m:
            counts[(m.group(1), m.group(2))] = {
                k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(3))}
    return counts


class H2cShed(IntegTest):
    def start_gated(self, max_inflight=1, queue_size=0, bulk_queue_ms=1000, bulk_backlog_ms=1000,
                    extra=""):
        """sluice in front of a verbose demo backend that takes max_inflight
        requests at a time; returns the backend process."""
        backend, addr = self.start_backend(args=["--verbose"])
        self.start_sluice({"demo": ([addr], {"max_inflight": max_inflight,
                                             "queue_size": queue_size})},
                          extra=CLASSES % {"bulk_queue_ms": bulk_queue_ms,
                                           "bulk_backlog_ms": bulk_backlog_ms} + extra)
        return backend

    def hold_slot(self, backend, path="/delay/400"):
        """Takes the backend's one slot with a slow request; returns its client."""
        c = RawClient(self.sluice_port)
        c.start()
        c.request(1, "GET", path)
        wait_until(lambda: path + " waiting" in backend.output(), what="the held request")
        return c

    def stop_and_count(self):
        self.sluice.send_signal(signal.SIGTERM)
        self.assertEqual(self.sluice.wait(), 0, self.sluice.output())
        return counts_of(self.sluice.output())

    def test_shed_answers_are_the_classes_own(self):
        backend = self.start_gated()
        holder = self.hold_slot(backend)
        status, headers, body = self.get("/status/200")
        self.assertEqual((status, body), (204, b""))
        self.assertEqual(headers["x-sluice-decision"], "class=critical; shed=queue_full")
        self.assertNotIn("content-length", headers)
        status, headers, body = self.get("/track")
        self.assertEqual((status, body), (503, b"busy\n"))
        self.assertEqual(headers["retry-after"], "1")
        self.assertEqual(headers["content-length"], "5")
        self.assertEqual(headers["x-sluice-decision"], "class=bulk; shed=queue_full")
        self.assertIsNotNone(holder.wait_for(DATA, 1))
        holder.close()
        # the slot is free again: admitted and answered by the backend
        status, headers, body = self.get("/status/200")
        self.assertEqual((status, headers["x-sluice-decision"]), (200, "class=critical"))
        counts = self.stop_and_count()
        self.assertEqual(counts[("demo", "critical")],
                         {"received": 2, "admitted": 1, "shed_queue_full": 1,
                          "shed_queue_timeout": 0, "shed_deadline": 0, "shed_overload": 0,
                          "shed_evicted": 0, "shed_backlog": 0, "cancelled": 0})
        self.assertEqual(counts[("demo", "bulk")]["received"], 2)  # the holder and /track
        self.assertEqual(counts[("demo", "bulk")]["shed_queue_full"], 1)

    def test_refuse_stream_answers_with_rst_stream(self):
        backend = self.start_gated()
        holder = self.hold_slot(backend)
        c = RawClient(self.sluice_port)
        c.start()
        c.request(1, "POST", "/refuse", end_stream=False)  # its body is never read
        f = c.wait_for(RST_STREAM, 1)
        self.assertIsNotNone(f)
        self.assertEqual(struct.unpack(">I", f[3])[0], REFUSED_STREAM)
        c.close()
        holder.close()
        self.assertNotIn("/refuse", backend.output())

    def test_queued_request_is_shed_after_its_max_queue_time(self):
        backend = self.start_gated(queue_size=8, bulk_queue_ms=150)
        holder = self.hold_slot(backend, "/delay/1000")
        started = time.monotonic()
        status, headers, _ = self.get("/track")
        elapsed = time.monotonic() - started
        self.assertEqual((status, headers["x-sluice-decision"]),
                         (503, "class=bulk; shed=queue_timeout"))
        self.assertGreaterEqual(elapsed, 0.15 - TIMER_SLACK)
        self.assertLess(elapsed, 0.9)  # not held until the slot freed
        holder.close()

    def test_a_request_that_would_wait_past_its_backlog_is_shed_at_once(self):
        """Once a request has taken 300 ms, a bulk request queued behind the next
        one would wait about that long: more than its class's 100 ms backlog,
        so it is answered on arrival. Critical, never shed at the door, queues."""
        backend = self.start_gated(queue_size=8, bulk_backlog_ms=100)
        holder = self.hold_slot(backend, "/delay/300")
        started = time.monotonic()
        self.assertIsNotNone(holder.wait_for(DATA, 1))
        holder.close()
        self.assertGreater(time.monotonic() - started, 0.2)
        holder = self.hold_slot(backend, "/delay/301")
        started = time.monotonic()
        status, headers, body = self.get("/track")
        elapsed = time.monotonic() - started
        self.assertEqual((status, body), (503, b"busy\n"))
        self.assertEqual(headers["x-sluice-decision"], "class=bulk; shed=backlog")
        self.assertLess(elapsed, 0.2, "answered before the slot freed")
        status, headers, _ = self.get("/status/200")
        self.assertEqual((status, headers["x-sluice-decision"]), (200, "class=critical"))
        holder.close()
        counts = self.stop_and_count()
        self.assertEqual(counts[("demo", "bulk")]["shed_backlog"], 1)
        self.assertEqual(counts[("demo", "critical")]["admitted"], 1)

    def test_queued_request_goes_when_the_slot_frees_with_its_body(self):
        backend = self.start_gated(queue_size=8)
        holder = self.hold_slot(backend, "/delay/300")
        started = time.monotonic()
        payload = bytes(range(256)) * 64  # sent while the request waits in the queue
        path = os.path.join(self.dir, "payload")
        with open(path, "wb") as f:
            f.write(payload)
        status, headers, body = self.get("/echo", "--data-binary", "@" + path)
        self.assertEqual((status, headers["x-sluice-decision"]), (200, "class=bulk"))
        self.assertEqual(body, payload)
        self.assertGreater(time.monotonic() - started, 0.2, "it waited for the slot")
        holder = self.hold_slot(backend, "/delay/301")
        # and without a content-length: chunked upstream, the body intact
        c = RawClient(self.sluice_port)
        c.start()
        c.request(1, "POST", "/echo", end_stream=False)
        c.send(frame(DATA, 0, 1, b"hello ") + frame(DATA, END_STREAM, 1, b"world"))
        self.assertEqual(c.read_body(1), b"hello world")
        c.close()
        holder.close()

    def test_local_errors_carry_no_class(self):
        """A request answered before the rules ran (here 431 for its header size)
        has no class to report."""
        self.start_gated(extra="max_request_header_bytes: 1024\n")
        status, headers, _ = self.get("/status/200", "-H", "x-big: " + "a" * 2000)
        self.assertEqual(status, 431)
        self.assertNotIn("x-sluice-decision", headers)
        self.assertEqual(self.get("/status/200")[1]["x-sluice-decision"], "class=critical")

    @unittest.skipUnless(shutil.which("nghttp"), "nghttp (nghttp2-client) is not installed")
    def test_critical_evicts_the_newest_bulk_from_a_full_queue(self):
        """One connection, requests processed in the order sent: the first takes
        the slot, two bulk fill the queue of two, the critical one pushes out the
        newest bulk and goes before the older one."""
        self.start_gated(queue_size=2)
        har = os.path.join(self.dir, "out.har")
        paths = ["/delay/300", "/headers?older", "/headers?newer", "/status/200"]
        res = subprocess.run(["nghttp", "-n", "--no-dep", "--har=" + har] +
                             [self.url(p) for p in paths], capture_output=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        with open(har) as f:
            entries = json.load(f)["log"]["entries"]
        seen = {}
        for e in entries:
            path = e["request"]["url"].split("127.0.0.1:%d" % self.sluice_port)[1]
            headers = {h["name"]: h["value"] for h in e["response"]["headers"]}
            seen[path] = (e["response"]["status"], headers.get("x-sluice-decision"),
                          e["startedDateTime"], e["time"])
        self.assertEqual(seen["/headers?newer"][:2], (503, "class=bulk; shed=evicted"))
        self.assertEqual(seen["/status/200"][:2], (200, "class=critical"))
        self.assertEqual(seen["/headers?older"][:2], (200, "class=bulk"))
        counts = self.stop_and_count()
        self.assertEqual(counts[("demo", "bulk")]["shed_evicted"], 1)

    def test_budget_is_forwarded_and_a_spent_budget_is_shed(self):
        backend, addr = self.start_backend()
        extra = ("classes:\n  - name: bid\n    deadline_ms: 500\n"
                 "budget_header: x-request-timeout-ms\n"
                 "forward_budget_header: x-request-timeout-ms\n")
        self.start_sluice({"demo": [addr]}, extra=extra)
        status, _, body = self.get("/headers", "-H", "x-request-timeout-ms: 80")
        self.assertEqual(status, 200)
        _, _, seen, _ = backend_seen(body)
        budgets = seen["x-request-timeout-ms"]
        self.assertEqual(len(budgets), 1, "the client's own value is replaced")
        self.assertTrue(0 <= int(budgets[0]) <= 80, budgets)
        # no header: the class's deadline
        _, _, seen, _ = backend_seen(self.get("/headers")[2])
        self.assertTrue(400 <= int(seen["x-request-timeout-ms"][0]) <= 500, seen)
        # a budget already spent is shed at the door, never sent
        status, _, _ = self.get("/headers?spent", "-H", "x-request-timeout-ms: 0")
        self.assertEqual(status, 503)
        self.assertNotIn("/headers?spent", backend.output())

    def test_overload_sheds_the_lowest_class_at_the_door(self):
        """max_streams 2: with two slow requests open sluice counts as
        overloaded and raises its level one step at a time: refused (the lowest
        sheddable class), then bulk are shed at the door while critical still
        goes through; calm brings the level back down."""
        backend = self.start_gated(max_inflight=8, queue_size=8,
                                   extra="overload:\n  max_streams: 2\n  step_ms: 20\n")
        holder = RawClient(self.sluice_port)
        holder.start()
        holder.request(1, "GET", "/delay/1500")
        holder.request(3, "GET", "/delay/1500")
        wait_until(lambda: self.get("/headers")[0] == 503, what="the overload level to rise")
        status, headers, _ = self.get("/headers")
        self.assertEqual((status, headers["x-sluice-decision"]), (503, "class=bulk; shed=overload"))
        status, headers, _ = self.get("/status/200")
        self.assertEqual((status, headers["x-sluice-decision"]), (200, "class=critical"))
        holder.close()  # both streams end: the signal cools
        wait_until(lambda: self.get("/headers")[0] == 200, what="the overload level to fall")
        self.assertIn("overload level 1 -> 2", self.sluice.output())
        self.assertIn("overload level 2 -> 1", self.sluice.output())


if __name__ == "__main__":
    unittest.main()
