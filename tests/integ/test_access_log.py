"""The access log: one JSON line per request from real clients (h2load's
multiplexed streams and HTTP/1.1 keep-alive), and none lost when logrotate
renames the file and sends SIGUSR1 mid-traffic."""

import http.client
import json
import os
import re
import signal
import subprocess
import unittest

from harness import IntegTest, wait_until


class AccessLog(IntegTest):
    def start_pair(self, keys=""):
        _, addr = self.start_backend()
        self.log_path = os.path.join(self.dir, "access.log")
        self.start_sluice({"demo": [addr]},
                          extra="access_log:\n  path: %s\n  flush_interval_ms: 100\n%s"
                                % (self.log_path, keys))

    def lines(self, path):
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f]  # every line must parse

    def stop_sluice(self):
        self.assertEqual(self.sluice.stop(), 0, self.sluice.output())

    def test_one_line_per_request(self):
        self.start_pair()
        res = subprocess.run(["h2load", "-n", "400", "-c", "4", "-m", "8", self.url("/bid")],
                             capture_output=True, timeout=60)
        self.assertIn(b"400 succeeded", res.stdout)
        res = subprocess.run(["curl", "-sS", "--http1.1", "-o", "/dev/null", "-d", "12345",
                              self.url("/echo"), self.url("/status/404")],
                             capture_output=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.stop_sluice()  # writes what the workers hold
        lines = self.lines(self.log_path)
        self.assertEqual(len(lines), 402)
        bids = [l for l in lines if l["path"] == "/bid"]
        self.assertEqual(len(bids), 400)
        self.assertTrue(all(l["status"] == 200 and l["protocol"] == "h2c" and
                            l["method"] == "GET" and l["backend"] == "demo" and
                            l["class"] == "default" and l["code"] == "--" and
                            l["bytes_out"] == 299 and l["upstream_us"] <= l["total_us"]
                            for l in bids))
        echo = next(l for l in lines if l["path"] == "/echo")
        self.assertEqual((echo["protocol"], echo["method"], echo["bytes_in"], echo["bytes_out"]),
                         ("http1", "POST", 5, 5))
        self.assertTrue(echo["server"].startswith("unix:"))
        self.assertEqual(next(l for l in lines if l["path"] == "/status/404")["status"], 404)
        self.assertTrue(all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", l["time"])
                            for l in lines))

    def test_nothing_lost_across_a_rename_and_sigusr1(self):
        self.start_pair()
        conn = http.client.HTTPConnection("127.0.0.1", self.sluice_port, timeout=10)
        self.addCleanup(conn.close)

        def requests(n):
            for _ in range(n):
                conn.request("GET", "/bid")
                res = conn.getresponse()
                res.read()
                self.assertEqual(res.status, 200)
        requests(100)
        wait_until(lambda: len(self.lines(self.log_path)) > 0, what="the first lines")
        rotated = self.log_path + ".1"
        os.rename(self.log_path, rotated)
        self.sluice.send_signal(signal.SIGUSR1)
        wait_until(lambda: os.path.exists(self.log_path), what="the log to be opened again")
        self.assertEqual(len(self.lines(rotated)), 100)  # written out at the reopen
        requests(150)
        self.stop_sluice()
        self.assertEqual(len(self.lines(self.log_path)), 150)


if __name__ == "__main__":
    unittest.main()
