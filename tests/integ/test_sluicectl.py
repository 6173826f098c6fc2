"""sluicectl reads the stats segment a running sluice writes: its counts are
what the clients sent, and its gauges follow the backend."""

import contextlib
import json
import os
import shutil
import subprocess
import unittest

from harness import SLUICECTL, IntegTest, children, wait_until
from test_h2_malformed import RawClient

CLASSES = """\
classes:
  - name: bid
    shed:
      status: 204
  - name: bulk
default_class: bulk
rules:
  - path: /status/204
    class: bid
"""


# bulk may queue for seconds: a standing queue that the backlog rule keeps
QUEUEING_CLASSES = """\
classes:
  - name: bulk
    max_queue_ms: 10000
    max_backlog_ms: 10000
default_class: bulk
"""


class Sluicectl(IntegTest):
    def start_with_stats(self, max_inflight=1, queue_size=0, classes=CLASSES):
        self.segment = os.path.join(self.dir, "sluice.stats")
        backend, addr = self.start_backend(args=["--verbose"])
        self.start_sluice({"demo": ([addr], {"max_inflight": max_inflight,
                                             "queue_size": queue_size})},
                          extra=classes + "stats_path: %s\n" % self.segment)
        return backend

    def ctl(self, *args):
        return subprocess.run([SLUICECTL] + list(args), capture_output=True, timeout=10)

    def stats(self):
        res = self.ctl("stats", "--json", "-s", self.segment)
        self.assertEqual(res.returncode, 0, res.stderr)
        doc = json.loads(res.stdout)
        backend = doc["backends"][0]
        return doc, backend, {c["name"]: c for c in backend["classes"]}

    def test_counts_are_what_the_clients_sent(self):
        backend = self.start_with_stats()
        for _ in range(5):
            self.assertEqual(self.get("/")[0], 200)
        self.assertEqual(self.get("/delay/200")[0], 200)  # the slowest response
        holder = RawClient(self.sluice_port)
        holder.start()
        holder.request(1, "GET", "/delay/2000")
        wait_until(lambda: "/delay/2000 waiting" in backend.output(), what="the held request")
        for _ in range(3):  # the one slot is taken and nothing may queue
            self.assertEqual(self.get("/status/204")[0], 204)
            self.assertEqual(self.get("/")[0], 503)
        # gauges are published every 50 ms
        wait_until(lambda: self.stats()[1]["inflight"] == 1, what="the in-flight gauge")
        doc, gauges, classes = self.stats()
        self.assertEqual((doc["workers"], gauges["name"], gauges["limit"]), (1, "demo", 1))
        self.assertEqual(doc["streams_open"], 1)
        self.assertEqual(classes["bulk"]["received"], 6 + 1 + 3)
        self.assertEqual(classes["bulk"]["admitted"], 6 + 1)
        self.assertEqual(classes["bulk"]["shed"]["queue_full"], 3)
        self.assertEqual(classes["bid"]["received"], 3)
        self.assertEqual(classes["bid"]["admitted"], 0)
        self.assertEqual(classes["bid"]["shed"]["queue_full"], 3)
        holder.close()
        wait_until(lambda: self.stats()[1]["inflight"] == 0, what="the slot to free")
        # latency of the proxied responses only: the reset holder has none
        doc, gauges, _ = self.stats()
        latency = {c["name"]: c for c in doc["classes"]}
        self.assertEqual((latency["bulk"]["responses"], gauges["responses"]), (6, 6))
        self.assertEqual((latency["bid"]["responses"], latency["bid"]["p99_ms"]), (0, None))
        # the p99 of six is the slowest, reported as its bucket's upper bound (<= 12.5% above)
        self.assertTrue(200 <= latency["bulk"]["p99_ms"] < 200 * 1.125 + 50, latency)
        self.assertLess(latency["bulk"]["p50_ms"], 200)
        # each shed request answered at the door, in well under the slowest response
        for name in ("bulk", "bid"):
            self.assertEqual(latency[name]["shed_answers"], 3, latency)
            self.assertLess(latency[name]["shed_p99_ms"], 100, latency)
        # the same figures, as tables, through the config file
        res = self.ctl("stats", "-c", os.path.join(self.dir, "sluice.yaml"))
        self.assertEqual(res.returncode, 0, res.stderr)
        rows = [line.split() for line in res.stdout.decode().splitlines()]
        self.assertIn(["demo", "bulk", "10", "7", "3", "3", "0", "0", "0", "0", "0", "0"], rows)
        self.assertIn(["demo", "bid", "3", "0", "3", "3", "0", "0", "0", "0", "0", "0"], rows)
        shed_table = res.stdout.decode().split("end of a shed request's answer")[1]
        shed_rows = {row[0]: row for row in (line.split() for line in shed_table.splitlines())
                     if row}
        self.assertEqual(shed_rows["bulk"][1], "3", shed_table)
        self.assertEqual(shed_rows["bid"][1], "3", shed_table)

    @unittest.skipUnless(shutil.which("tmux") and shutil.which("h2load"),
                         "tmux and h2load (nghttp2-client) are needed")
    def test_top_shows_live_figures_and_quits_on_q(self):
        """sluicectl top in a tmux pane: per-second rates of the traffic running
        now, the shed share and its reason, the backend gauges."""
        self.start_with_stats(max_inflight=1)
        # a steady shed flood of bulk (one slot, no queue) under a paced load
        flood = subprocess.Popen(["h2load", "-c", "2", "-m", "4", "-D", "20", "--rps", "100",
                                  self.url("/delay/20")], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            with self.top_in_tmux() as pane:
                wait_until(lambda: "queue_full" in pane(), timeout=15,
                           what="top to show the shed flood")
                screen = pane()
                row = next(line.split() for line in screen.splitlines()
                           if line.startswith("bulk"))
                # 2 clients x 100 req/s offered, one 20 ms slot: most are shed
                self.assertTrue(100 <= float(row[1]) <= 300, screen)
                self.assertTrue(50 <= float(row[3].rstrip("%")) < 100, screen)
                # shed at the door: answered in less than the slot's 20 ms
                header = next(line.split() for line in screen.splitlines()
                              if line.startswith("CLASS"))
                self.assertEqual(header[8:10], ["shed", "p99"], header)
                self.assertLess(float(row[6]), 20, screen)
                self.assertIn("demo", screen)
                self.assertIn("BUSIEST CONNECTIONS", screen)
                self.assertIn("127.0.0.1:", screen.split("BUSIEST CONNECTIONS")[1])
                subprocess.run(["tmux", "send-keys", "-t", self.session, "q"], check=True,
                               timeout=10)
                wait_until(lambda: subprocess.run(["tmux", "has-session", "-t", self.session],
                                                  capture_output=True).returncode != 0,
                           what="top to quit on q")
        finally:
            flood.kill()
            flood.wait()

    @unittest.skipUnless(shutil.which("tmux"), "tmux is needed")
    def test_top_shows_the_standing_queue_and_what_it_will_take_to_drain(self):
        backend = self.start_with_stats(max_inflight=1, queue_size=8, classes=QUEUEING_CLASSES)
        service_ms, queued = 200, 3
        self.assertEqual(self.get("/delay/%d" % service_ms)[0], 200)  # the service time seen
        holder = RawClient(self.sluice_port)
        holder.start()
        holder.request(1, "GET", "/delay/6000")  # the one slot
        wait_until(lambda: "/delay/6000 waiting" in backend.output(), what="the held request")
        for i in range(queued):
            holder.request(3 + 2 * i, "GET", "/delay/1")
        wait_until(lambda: self.stats()[1]["queued"] == queued, what="the queue gauge")
        _, _, classes = self.stats()
        # each queued entry waits about one service time of the one slot
        low, high = queued * service_ms * 0.8, queued * service_ms * 1.5
        self.assertEqual(classes["bulk"]["queued"], queued)
        self.assertTrue(low <= classes["bulk"]["backlog_ms"] <= high, classes["bulk"])
        with self.top_in_tmux() as pane:
            wait_until(lambda: "bulk" in pane(), what="top's class rows")
            lines = pane().splitlines()  # one screen: the header and the row agree
            row = next(line.split() for line in lines if line.startswith("bulk"))
            header = next(line for line in lines if line.startswith("CLASS"))
            self.assertTrue(header.rstrip().endswith("queued backlog ms"), header)
            self.assertEqual(int(row[-2]), queued, row)
            self.assertTrue(low <= float(row[-1]) <= high, row)
        holder.close()

    @contextlib.contextmanager
    def top_in_tmux(self):
        """sluicectl top in a detached tmux pane; yields a reader of its screen."""
        self.session = "sluicectl-top-%d" % os.getpid()
        subprocess.run(["tmux", "new-session", "-d", "-s", self.session, "-x", "120", "-y", "30",
                        "%s top -s %s" % (SLUICECTL, self.segment)], check=True, timeout=10)
        try:
            yield lambda: subprocess.run(["tmux", "capture-pane", "-p", "-t", self.session],
                                         capture_output=True,
                                         timeout=10).stdout.decode(errors="replace")
        finally:
            subprocess.run(["tmux", "kill-session", "-t", self.session], capture_output=True)

    def test_connections_table(self):
        backend = self.start_with_stats(max_inflight=4)
        holder = RawClient(self.sluice_port)
        holder.start()
        holder.request(1, "GET", "/delay/3000")
        wait_until(lambda: "/delay/3000 waiting" in backend.output(), what="the held request")
        port = holder.sock.getsockname()[1]
        res = self.ctl("connections", "--json", "-s", self.segment)
        self.assertEqual(res.returncode, 0, res.stderr)
        conns = [c for c in json.loads(res.stdout)["connections"]
                 if c["peer"] == "127.0.0.1:%d" % port]
        self.assertEqual(len(conns), 1, res.stdout)
        self.assertEqual((conns[0]["streams"], conns[0]["worker"]), (1, 0))
        res = self.ctl("connections", "-s", self.segment)
        self.assertEqual(res.returncode, 0, res.stderr)
        rows = [line.split() for line in res.stdout.decode().splitlines()]
        self.assertEqual(rows[0][:3], ["worker", "id", "peer"])
        mine = [r for r in rows if "127.0.0.1:%d" % port in r]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0][4:6], ["h2c", "1"])  # protocol, streams
        holder.close()

    def test_a_restarted_worker_leaves_no_ghost_rows(self):
        backend = self.start_with_stats(max_inflight=4)
        holder = RawClient(self.sluice_port)
        holder.start()
        holder.request(1, "GET", "/delay/5000")
        wait_until(lambda: "/delay/5000 waiting" in backend.output(), what="the held request")

        def rows():
            res = self.ctl("connections", "--json", "-s", self.segment)
            return json.loads(res.stdout)["connections"]
        self.assertEqual(len(rows()), 1)
        worker = children(self.sluice.pid)[0]
        os.kill(worker, 9)
        wait_until(lambda: "restarting" in self.sluice.output(), what="the restart")
        wait_until(lambda: self.stats()[0]["per_worker"][0]["pid"] != worker, timeout=5,
                   what="the new worker")
        self.assertEqual(rows(), [])
        holder.close()

    def test_clear_errors(self):
        _, addr = self.start_backend()
        self.start_sluice({"demo": [addr]})
        res = self.ctl("stats", "-c", os.path.join(self.dir, "sluice.yaml"))
        self.assertEqual(res.returncode, 1)
        self.assertIn(b"sets no stats_path", res.stderr)
        res = self.ctl("stats", "-s", os.path.join(self.dir, "sluice.yaml"))
        self.assertEqual(res.returncode, 1)
        self.assertIn(b"is not a sluice stats segment", res.stderr)
        res = self.ctl("stats", "-s", os.path.join(self.dir, "missing"))
        self.assertEqual(res.returncode, 1)
        self.assertIn(b"No such file", res.stderr)
        self.assertEqual(self.ctl("stats").returncode, 2)  # neither -c nor -s: usage
        res = self.ctl("check", "-c", os.path.join(self.dir, "sluice.yaml"))
        self.assertEqual((res.returncode, res.stdout), (0, b"configuration ok\n"))
        broken = self.write_config("listeners: [\n", name="broken.yaml")
        res = self.ctl("check", "-c", broken)
        self.assertEqual(res.returncode, 1)
        self.assertIn(b"broken.yaml:", res.stderr)
        self.assertEqual(self.ctl("frobnicate", "-s", "x").returncode, 2)


if __name__ == "__main__":
    unittest.main()
