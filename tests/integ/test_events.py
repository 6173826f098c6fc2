"""The event sink against a real statsd (Etsy's, from npm, installed by
tools/install-deps.sh): known requests per class show up as exactly those
totals; with statsd gone traffic flows and events_dropped rises; restarted, it
gets figures again. Then DogStatsD lines over a Unix datagram socket, read by a
receiver in the test."""

import json
import os
import re
import socket
import subprocess
import threading
import unittest
import urllib.request

from harness import IntegTest, free_port, wait_until

STATSD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "node",
                      "node_modules", "statsd", "stats.js")

CLASSES = """\
classes:
  - name: bid
  - name: bulk
default_class: bulk
rules:
  - path_prefix: /bid
    class: bid
"""


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Statsd:
    """Etsy's statsd on loopback, with no backend and a flush far away, so that
    its management port shows every counter, timer and gauge received."""

    def __init__(self, test, udp_port, mgmt_port):
        self.udp_port, self.mgmt_port = udp_port, mgmt_port
        config = os.path.join(test.dir, "statsd-%d.js" % udp_port)
        with open(config, "w") as f:
            f.write('{ port: %d, mgmt_port: %d, address: "127.0.0.1", mgmt_address: "127.0.0.1",'
                    ' backends: [], flushInterval: 3600000 }\n' % (udp_port, mgmt_port))
        test.assertTrue(os.path.exists(STATSD), "statsd is missing: run tools/install-deps.sh")
        self.proc = test.start("statsd-%d" % udp_port, ["node", STATSD, config])
        wait_until(self.is_ready, timeout=20, what="statsd")

    def is_ready(self):
        """A probe line sent over UDP has arrived: both ports are up."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"probe:1|c", ("127.0.0.1", self.udp_port))
        try:
            return "probe" in self.ask("counters")
        except OSError:
            return False

    def ask(self, command):
        with socket.create_connection(("127.0.0.1", self.mgmt_port), timeout=5) as s:
            s.sendall(command.encode() + b"\n")
            data = b""
            while not data.rstrip().endswith(b"END"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data.decode()

    def figures(self, command):
        """The management answer as {name: value}: numbers, or lists of numbers."""
        text = self.ask(command)
        out = {}
        for name, value in re.findall(r"'([^']+)': (\[[^\]]*\]|[-0-9.e]+)", text):
            out[name] = (json.loads(value) if value.startswith("[") else float(value))
        return out

    def stop(self):
        self.proc.stop()


class Events(IntegTest):
    def stats(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/stats" % self.admin_port,
                                    timeout=10) as res:
            return json.loads(res.read())

    def start_pair(self, events):
        _, addr = self.start_backend()
        self.admin_port = free_port()
        self.start_sluice({"demo": ([addr], {"max_inflight": 40})},
                          extra="admin_address: 127.0.0.1:%d\nevents:\n%s" % (self.admin_port,
                                                                               events),
                          rules=CLASSES)

    def send(self, path, times):
        for _ in range(times):
            self.assertEqual(self.get(path)[0], int(path.rsplit("/", 1)[1])
                             if path.startswith("/status/") else 200)

    def test_statsd_sees_exact_totals_and_delivery_resumes(self):
        udp, mgmt = free_udp_port(), free_port()
        statsd = Statsd(self, udp, mgmt)
        self.start_pair("  address: udp:127.0.0.1:%d\n  flush_interval_ms: 100\n" % udp)
        self.send("/bid", 7)
        self.send("/status/503", 3)
        self.send("/status/404", 2)
        expected = {
            "sluice.requests.bid.demo.2xx": 7.0,
            "sluice.requests.bulk.demo.5xx": 3.0,
            "sluice.requests.bulk.demo.4xx": 2.0,
        }

        def counters_arrived():
            got = statsd.figures("counters")
            return all(got.get(k) == v for k, v in expected.items())
        wait_until(counters_arrived, what="the counters in statsd")
        timers = statsd.figures("timers")
        self.assertEqual(len(timers["sluice.latency.bid.demo"]), 7)
        self.assertEqual(len(timers["sluice.latency.bulk.demo"]), 5)
        gauges = statsd.figures("gauges")
        self.assertEqual(gauges["sluice.backend.demo.limit"], 40.0)
        self.assertEqual(gauges["sluice.worker.0.overload_level"], 0.0)
        counters = statsd.figures("counters")
        self.assertEqual({k: counters[k] for k in expected}, expected)  # no more than sent
        self.assertEqual(self.stats()["events_dropped"], 0)

        statsd.stop()
        self.send("/bid", 3)  # traffic does not notice
        wait_until(lambda: self.stats()["events_dropped"] > 0, what="events_dropped to rise")

        statsd = Statsd(self, udp, mgmt)
        # the first datagram after the restart may be the one the socket's pending
        # refusal (an ICMP error of the downtime) is reported on, and dropped: keep
        # the traffic going until figures arrive again

        def delivered():
            self.send("/bid", 1)
            return statsd.figures("counters").get("sluice.requests.bid.demo.2xx", 0) >= 1
        wait_until(delivered, what="delivery to resume")

    def test_dogstatsd_over_a_unix_socket(self):
        path = os.path.join(self.dir, "dogstatsd.sock")
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.bind(path)
        receiver.settimeout(0.2)
        lines, sizes, stop = [], [], threading.Event()

        def receive():
            while not stop.is_set():
                try:
                    datagram = receiver.recv(65536)
                except socket.timeout:
                    continue
                sizes.append(len(datagram))
                lines.extend(datagram.decode().split("\n"))
        thread = threading.Thread(target=receive, daemon=True)
        thread.start()
        self.addCleanup(receiver.close)
        self.addCleanup(thread.join)
        self.addCleanup(stop.set)
        self.start_pair("  address: unix:%s\n  dogstatsd: true\n  flush_interval_ms: 100\n"
                        "  max_packet_bytes: 1000\n  tags: {env: test}\n" % path)
        self.send("/bid", 6)
        self.send("/status/503", 2)

        def total(name, tags):
            n = 0
            for line in list(lines):
                m = re.fullmatch(r"%s:(\d+)\|c\|#(.*)" % re.escape(name), line)
                if m and m.group(2) == tags:
                    n += int(m.group(1))
            return n
        bid_tags = "class:bid,backend:demo,status:2xx,env:test"
        wait_until(lambda: total("sluice.requests", bid_tags) == 6 and
                   total("sluice.requests", "class:bulk,backend:demo,status:5xx,env:test") == 2,
                   what="the DogStatsD counters")
        self.assertLessEqual(max(sizes), 1000)
        latencies = [l for l in list(lines) if l.startswith("sluice.latency:")]
        self.assertEqual(len(latencies), 8)
        for line in latencies:
            self.assertRegex(line, r"^sluice\.latency:[0-9.]+\|d\|#class:(bid|bulk),"
                                   r"backend:demo,env:test$")
        self.assertTrue(any(re.fullmatch(r"sluice\.worker\.connections:\d+\|g\|#worker:0,env:test",
                                         l) for l in list(lines)))


if __name__ == "__main__":
    unittest.main()
