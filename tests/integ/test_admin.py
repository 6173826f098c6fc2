"""The admin listener: /stats (JSON) and /metrics (Prometheus text format,
checked by a strict parser) report what the clients did; it stays on loopback."""

import json
import math
import os
import socket
import re
import subprocess
import unittest
import urllib.error
import urllib.request

from harness import SLUICE, SLUICECTL, IntegTest, can_connect, free_port, wait_until
from test_h2_malformed import RawClient

CLASSES = """\
classes:
  - name: bid
  - name: bulk
default_class: bulk
rules:
  - path: /status/200
    class: bid
"""

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABELS = r'\{(?:[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")(?:,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\}'
SAMPLE = re.compile(r"^(%s)(%s)? (\S+)$" % (NAME, LABELS))


def parse_prometheus(text):
    """Strict text format 0.0.4: every sample's family has HELP then TYPE before
    it, values are floats, histograms have cumulative buckets ending at +Inf
    equal to _count. Returns {(name, labels): value}."""
    assert text.endswith("\n"), "the exposition ends with a newline"
    types, samples, helped = {}, {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert name in helped, "TYPE before HELP for " + name
            assert name not in types, "two TYPE lines for " + name
            assert kind in ("counter", "gauge", "histogram"), kind
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        family = family if types.get(family) == "histogram" else name
        assert family in types, "sample before its TYPE: " + line
        if types[family] == "counter":
            assert name.endswith("_total") and value >= 0, line
        assert (name, labels) not in samples, "duplicate sample " + line
        samples[(name, labels)] = value
    check_histograms(types, samples)
    return samples


def check_histograms(types, samples):
    for family in (f for f, kind in types.items() if kind == "histogram"):
        series = {}
        for (name, labels), value in samples.items():
            if name == family + "_bucket":
                le = re.search(r'le="([^"]+)"', labels).group(1)
                key = re.sub(r',?le="[^"]+"', "", labels)
                series.setdefault(key, []).append((math.inf if le == "+Inf" else float(le), value))
        assert series, "histogram %s has no buckets" % family
        for key, buckets in series.items():
            buckets.sort()
            counts = [count for _, count in buckets]
            assert counts == sorted(counts), "buckets not cumulative: %s%s" % (family, key)
            assert buckets[-1][0] == math.inf, "no +Inf bucket: %s%s" % (family, key)
            assert samples[(family + "_count", key)] == buckets[-1][1]
            assert (family + "_sum", key) in samples


class Admin(IntegTest):
    def fetch(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.admin_port, path),
                                    timeout=10) as res:
            return res.status, res.headers.get("Content-Type"), res.read().decode()

    def start_with_admin(self):
        self.admin_port = free_port()
        _, addr = self.start_backend()
        self.start_sluice({"demo": [addr]},
                          extra=CLASSES + "admin_address: 127.0.0.1:%d\n" % self.admin_port)

    def test_stats_and_metrics_report_the_traffic(self):
        self.start_with_admin()
        for _ in range(4):
            self.assertEqual(self.get("/status/200")[0], 200)
        for _ in range(3):
            self.assertEqual(self.get("/")[0], 200)
        status, ctype, body = self.fetch("/stats")
        self.assertEqual((status, ctype), (200, "application/json"))
        doc = json.loads(body)
        counts = {c["name"]: c for c in doc["backends"][0]["classes"]}
        self.assertEqual((counts["bid"]["received"], counts["bid"]["admitted"]), (4, 4))
        self.assertEqual((counts["bulk"]["received"], counts["bulk"]["admitted"]), (3, 3))
        self.assertEqual(counts["bid"]["responses"], {"1xx": 0, "2xx": 4, "3xx": 0, "4xx": 0,
                                                      "5xx": 0})
        self.assertGreater(doc["bytes_in"], 7 * 24)  # at least every client's preface
        self.assertGreater(doc["bytes_out"], 0)
        latency = {c["name"]: c for c in doc["classes"]}
        self.assertEqual((latency["bid"]["responses"], latency["bulk"]["responses"]), (4, 3))

        status, ctype, text = self.fetch("/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        samples = parse_prometheus(text)
        received = 'sluice_requests_received_total'
        self.assertEqual(samples[(received, '{backend="demo",class="bid"}')], 4)
        self.assertEqual(samples[(received, '{backend="demo",class="bulk"}')], 3)
        self.assertEqual(samples[("sluice_response_latency_seconds_count", '{class="bid"}')], 4)
        self.assertEqual(samples[("sluice_backend_response_latency_seconds_count",
                                  '{backend="demo"}')], 7)
        self.assertEqual(samples[("sluice_workers", "")], 1)
        self.assertEqual(samples[("sluice_responses_total",
                                  '{backend="demo",class="bulk",code="2xx"}')], 3)
        self.assertGreater(samples[("sluice_client_bytes_received_total", "")], 0)

    def test_connections_show_the_live_table(self):
        """A client holding a stream open appears with its peer, listener, streams
        and bytes; filters narrow the list; it is gone once closed."""
        self.start_with_admin()
        holder = RawClient(self.sluice_port)
        holder.start()
        holder.request(1, "GET", "/delay/3000")
        holder.request(3, "GET", "/delay/3000")

        def held():
            conns = json.loads(self.fetch("/connections?min_streams=2")[2])["connections"]
            return conns[0] if len(conns) == 1 else None
        wait_until(lambda: held() is not None, what="the holder's two streams")
        row = held()
        local_port = holder.sock.getsockname()[1]
        self.assertEqual(row["peer"], "127.0.0.1:%d" % local_port)
        self.assertEqual((row["protocol"], row["tls"], row["streams"]), ("h2c", None, 2))
        self.assertEqual(row["listener"], "127.0.0.1:%d" % self.sluice_port)
        self.assertGreater(row["bytes_in"], 24)  # the preface at least
        self.assertGreater(row["bytes_out"], 0)  # our SETTINGS
        listener = "127.0.0.1:%d" % self.sluice_port
        self.assertEqual(len(json.loads(self.fetch("/connections?listener=" + listener)[2])
                             ["connections"]), 1)
        self.assertEqual(json.loads(self.fetch("/connections?listener=nope")[2])["connections"],
                         [])
        self.assertEqual(json.loads(self.fetch("/connections?peer=10.9.")[2])["connections"], [])
        # sluicectl shows the same table from the segment
        res = subprocess.run([SLUICECTL, "connections", "--json", "-c",
                              os.path.join(self.dir, "sluice.yaml")], capture_output=True,
                             timeout=10)
        self.assertEqual(res.returncode, 1)  # no stats_path in this config: no segment file
        holder.close()
        wait_until(lambda: json.loads(self.fetch("/connections?peer=:%d" % local_port)[2])
                   ["connections"] == [], what="the closed connection to leave the table")

    def test_other_paths_and_methods(self):
        self.start_with_admin()
        with self.assertRaises(urllib.error.HTTPError) as caught:
            self.fetch("/nothing")
        self.assertEqual(caught.exception.code, 404)
        # any body is refused before it is read; without one, only GET is served
        for data, code in ((b"x", 413), (b"", 405)):
            req = urllib.request.Request("http://127.0.0.1:%d/stats" % self.admin_port,
                                         data=data, method="POST")
            with self.assertRaises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(req, timeout=10)
            self.assertEqual(caught.exception.code, code)

    def check_config(self, admin_lines):
        path = self.write_config("listeners:\n  - address: 127.0.0.1:%d\n"
                                 "backends:\n  - name: demo\n    servers: [127.0.0.1:9]\n"
                                 % free_port() + admin_lines, name="check.yaml")
        return subprocess.run([SLUICE, "-t", "-c", path], capture_output=True, timeout=10)

    def test_admin_stays_on_loopback_unless_told_with_a_token(self):
        res = self.check_config("admin_address: 0.0.0.0:%d\n" % free_port())
        self.assertEqual(res.returncode, 1)
        self.assertIn(b"is not a loopback address", res.stderr)
        self.assertIn(b"set admin_allow_remote: true and an admin_token", res.stderr)
        res = self.check_config("admin_address: 0.0.0.0:%d\nadmin_allow_remote: true\n"
                                % free_port())
        self.assertEqual(res.returncode, 1)
        self.assertIn(b"admin_allow_remote needs an admin_token", res.stderr)
        res = self.check_config('admin_token: "0123456789\\x41bcdef"\n')  # an escape
        self.assertEqual(res.returncode, 1)
        self.assertIn(b"admin_token must be written as it is", res.stderr)
        res = self.check_config("admin_token: short\n")
        self.assertEqual(res.returncode, 1)
        self.assertIn(b"admin_token must be at least 16 characters", res.stderr)
        res = self.check_config("admin_address: 0.0.0.0:%d\nadmin_allow_remote: true\n"
                                "admin_token: 0123456789abcdef\n" % free_port())
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_config_of_a_utf16_file_is_sent_as_loaded(self):
        """A UTF-16 file is full of NUL bytes: /config sends exactly its bytes."""
        self.admin_port = free_port()
        _, addr = self.start_backend()
        port = free_port()
        text = ("listeners:\n  - address: 127.0.0.1:%d\nbackends:\n  - name: demo\n"
                "    servers: [%s]\nadmin_address: 127.0.0.1:%d\n"
                % (port, addr, self.admin_port))
        raw = text.encode("utf-16")  # with its byte order mark
        path = os.path.join(self.dir, "utf16.yaml")
        with open(path, "wb") as f:
            f.write(raw)
        self.sluice = self.start("sluice", [SLUICE, "-c", path])
        wait_until(lambda: can_connect("127.0.0.1:%d" % self.admin_port) or
                   not self.sluice.is_running(), what="sluice")
        self.assertTrue(self.sluice.is_running(), self.sluice.output())
        with urllib.request.urlopen("http://127.0.0.1:%d/config" % self.admin_port,
                                    timeout=10) as res:
            self.assertEqual(res.read(), raw)

    def raw(self, request):
        """Sends request bytes to the admin port; returns the status line's code,
        or None when the listener reset the connection before answering (it may,
        while a refused request is still arriving)."""
        with socket.create_connection(("127.0.0.1", self.admin_port), timeout=10) as s:
            answer = b""
            try:
                s.sendall(request)
                while b"\r\n" not in answer:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    answer += chunk
            except (BrokenPipeError, ConnectionResetError):
                return None
        return int(answer.split(b" ", 2)[1])

    def test_requests_for_other_hosts_are_refused(self):
        """DNS rebinding: a page on another site cannot read the admin answers."""
        self.start_with_admin()
        for host, code in (("evil.example:%d", 421), ("127.0.0.2:%d", 421),
                           ("localhost:%d", 200), ("127.0.0.1:%d", 200)):
            req = b"GET /config HTTP/1.1\r\nHost: " + (host % self.admin_port).encode() + \
                b"\r\nConnection: close\r\n\r\n"
            self.assertEqual(self.raw(req), code, host)
        self.assertEqual(self.raw(b"GET /stats HTTP/1.1\r\nConnection: close\r\n\r\n"), 421)

    def test_bodies_and_large_heads_are_refused_unread(self):
        self.start_with_admin()
        host = b"Host: 127.0.0.1:%d\r\n" % self.admin_port
        # a body is refused from its Content-Length: the 10 MB are never sent
        self.assertEqual(self.raw(b"POST /stats HTTP/1.1\r\n" + host +
                                  b"Content-Length: 10000000\r\n\r\n"), 413)
        status = self.raw(b"GET / HTTP/1.1\r\n" + host + b"X-Big: " + b"a" * 20000 +
                          b"\r\n\r\n")
        self.assertTrue(status is None or status >= 400, status)  # refused either way
        self.assertEqual(self.fetch("/stats")[0], 200)

    def test_token_guards_every_path_and_config_hides_it(self):
        token = "s3cret-token-0123456789"
        self.admin_port = free_port()
        _, addr = self.start_backend()
        self.start_sluice({"demo": [addr]},
                          extra="admin_address: 127.0.0.1:%d\nadmin_token: \"%s\"\n"
                          % (self.admin_port, token))
        for path in ("/", "/stats", "/metrics", "/connections", "/config"):
            with self.assertRaises(urllib.error.HTTPError) as caught:
                self.fetch(path)
            self.assertEqual(caught.exception.code, 401, path)
        req = urllib.request.Request("http://127.0.0.1:%d/config" % self.admin_port,
                                     headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=10) as res:
            text = res.read().decode()
        self.assertIn("admin_token:", text)
        self.assertIn("<redacted>", text)
        self.assertNotIn(token, text)
        self.assertIn("listeners:", text)
        with self.assertRaises(urllib.error.HTTPError) as caught:  # a wrong token
            self.fetch("/stats?token=" + token[:-1] + "X")
        self.assertEqual(caught.exception.code, 401)
        status, _, body = self.fetch("/stats?token=" + token)  # the browser's way
        self.assertEqual(status, 200)
        self.assertIn("backends", json.loads(body))


if __name__ == "__main__":
    unittest.main()
