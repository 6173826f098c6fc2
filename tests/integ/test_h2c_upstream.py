"""An h2c backend (the demo backend with --h2c): streams multiplexed on few
connections within the backend's SETTINGS, GOAWAY mid-load losing nothing, a reset
stream failing only itself, a refused one retried, and class urgency upstream."""

import re
import signal
import subprocess
import unittest

from harness import IntegTest, backend_seen, pattern_bytes, wait_until
from test_h2_malformed import RST_STREAM, RawClient, frame

CANCEL = 8

BID_REQUEST = "../../../shared/data/openrtb-bid-request.json"


def accepts(backend):
    """Connections that carried a stream (the harness's readiness probe carries none)."""
    return len(set(re.findall(r"conn (\d+) #", backend.output())))


def most_open(backend):
    """The most streams the backend saw open at once on one connection."""
    counts = [int(n) for n in re.findall(r"\(open (\d+)\)", backend.output())]
    return max(counts) if counts else 0


def answered(backend, path):
    return len(re.findall(r": [A-Z]+ %s -> " % re.escape(path), backend.output()))


class H2cUpstream(IntegTest):
    def start_pair(self, backend_args=(), opts=None, extra="", rules=""):
        self.backend, addr = self.start_backend(args=["--h2c", "--verbose"] + list(backend_args))
        spec = dict({"protocol": "h2c"}, **(opts or {}))
        self.start_sluice({"demo": ([addr], spec)}, extra=extra, rules=rules)

    def test_many_streams_share_one_connection(self):
        self.start_pair()
        total, ok, ok_2xx = self.h2load("-n", "640", "-c", "2", "-m", "32",
                                        self.url("/delay/5"))
        self.assertEqual((ok, ok_2xx), (total, total))
        self.assertEqual(accepts(self.backend), 1, self.backend.output()[-2000:])
        # 64 concurrent client streams, each held 5 ms by the backend
        self.assertGreater(most_open(self.backend), 16)

    def test_bodies_both_ways_from_h1_and_h2_clients(self):
        self.start_pair()
        body = pattern_bytes(300000)
        for proto in ("--http2-prior-knowledge", "--http1.1"):
            res = subprocess.run(["curl", "-sS", proto, "--data-binary", "@-", self.url("/echo")],
                                 input=body, capture_output=True, timeout=30)
            self.assertEqual(res.returncode, 0, res.stderr.decode())
            self.assertEqual(res.stdout, body)
        res = subprocess.run(["curl", "-sS", "--http1.1", self.url("/bytes/3000000")],
                             capture_output=True, timeout=30)
        self.assertEqual(res.stdout, pattern_bytes(3000000))
        self.assertEqual(accepts(self.backend), 1)

    def test_tcp_backend_and_a_slow_reader(self):
        self.backend, addr = self.start_backend(tcp=True, args=["--h2c", "--verbose"])
        self.start_sluice({"demo": ([addr], {"protocol": "h2c"})},
                          extra="response_buffer_bytes: 16384\n")
        # the client reads at 2 MB/s: sluice stops crediting the backend's stream
        res = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "--limit-rate", "2M",
                              self.url("/bytes/2000000")], capture_output=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.assertEqual(res.stdout, pattern_bytes(2000000))
        self.assertEqual(self.get("/bid")[0], 200)
        self.assertEqual(accepts(self.backend), 1)

    def test_forwarded_fields_and_class_urgency(self):
        rules = ("classes:\n"
                 "  - name: critical\n"
                 "  - name: bulk\n"
                 "default_class: bulk\n"
                 "rules:\n"
                 "  - method: POST\n"
                 "    class: critical\n")
        self.start_pair(rules=rules)
        seen = {}
        for method in ("POST", "GET"):
            # HTTP/1.1, where a Connection field may list hop-by-hop names
            res = subprocess.run(["curl", "-sS", "--http1.1", "-X", method, "-H", "priority: u=7",
                                  "-H", "Cookie: a=1", "-H", "Connection: x-hop", "-H", "x-hop: 1",
                                  self.url("/headers")], capture_output=True, timeout=30)
            self.assertEqual(res.returncode, 0, res.stderr.decode())
            _, path, fields, _ = backend_seen(res.stdout)
            self.assertEqual(path, "/headers")
            seen[method] = fields
        self.assertEqual(seen["POST"]["priority"], ["u=0"])  # the client's u=7 is replaced
        self.assertEqual(seen["GET"]["priority"], ["u=1"])
        self.assertEqual(seen["GET"]["x-forwarded-for"], ["127.0.0.1"])
        self.assertEqual(seen["GET"]["cookie"], ["a=1"])
        self.assertNotIn("x-hop", seen["GET"])
        self.assertNotIn("connection", seen["GET"])

    def test_streams_stay_within_the_backends_settings(self):
        self.start_pair(backend_args=["--max-streams", "4"], opts={"max_connections": 8})
        self.assertEqual(self.get("/bid")[0], 200)  # the server's SETTINGS are known now
        total, ok, ok_2xx = self.h2load("-n", "96", "-c", "1", "-m", "32",
                                        self.url("/delay/20"))
        self.assertEqual((ok, ok_2xx), (total, total))
        self.assertLessEqual(most_open(self.backend), 4)
        # 32 at once, 4 per connection
        self.assertEqual(accepts(self.backend), 8)

    def test_backend_goaway_mid_load_loses_nothing(self):
        self.start_pair(backend_args=["--goaway-after", "50"])
        total, ok, ok_2xx = self.h2load("-n", "3000", "-c", "8", "-m", "16", "-d", BID_REQUEST,
                                        self.url("/echo"))
        self.assertEqual((ok, ok_2xx), (total, total))
        # no connection carried more than 50, and the budget was learned
        self.assertGreaterEqual(accepts(self.backend), 3000 // 50)
        self.assertIn("closes each connection after 50 streams", self.sluice.output())

    def test_reset_stream_fails_only_itself(self):
        self.start_pair()
        slow = subprocess.Popen(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null",
                                 "-w", "%{http_code}", self.url("/delay/400")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_until(lambda: "/delay/400 waiting" in self.backend.output(), what="the slow request")
        status, _, _ = self.get("/rst")
        self.assertEqual(status, 502)
        out, err = slow.communicate(timeout=10)
        self.assertEqual(out, b"200", err.decode())
        self.assertEqual(accepts(self.backend), 1)
        self.assertEqual(self.get("/bid")[0], 200)
        self.assertEqual(accepts(self.backend), 1)

    def test_response_head_over_max_response_header_bytes(self):
        self.start_pair(extra="max_response_header_bytes: 4096\n")
        self.assertEqual(self.get("/big-header/3000")[0], 200)
        self.assertEqual(self.get("/big-header/5000")[0], 502)
        self.assertIn("over max_response_header_bytes (4096)", self.sluice.output())
        self.assertEqual(answered(self.backend, "/big-header/5000"), 1)  # not retried
        self.assertEqual(self.get("/bid")[0], 200)
        self.assertEqual(accepts(self.backend), 1)  # the connection carried on

    def test_interim_responses(self):
        self.start_pair()
        status, _, body = self.get("/interim/103")
        self.assertEqual(status, 200)
        self.assertIn(b"hello from the sluice demo backend", body)
        self.assertEqual(self.get("/interim/102")[0], 502)
        self.assertIn("interim response 102", self.sluice.output())
        self.assertEqual(self.get("/bid")[0], 200)

    def test_refused_stream_is_retried_then_502(self):
        self.start_pair()
        self.assertEqual(self.get("/refuse")[0], 502)
        # the first attempt and three retries (docs/config.md, backend protocol)
        self.assertEqual(answered(self.backend, "/refuse"), 4)
        self.assertEqual(self.get("/bid")[0], 200)

    def test_client_reset_keeps_the_backend_connection(self):
        self.start_pair()
        c = RawClient(self.sluice_port)
        c.start()
        c.request(1, "GET", "/hang")
        wait_until(lambda: "/hang waiting" in self.backend.output(), what="the held request")
        c.send(frame(RST_STREAM, 0, 1, CANCEL.to_bytes(4, "big")))
        c.close()
        for _ in range(3):
            self.assertEqual(self.get("/bid")[0], 200)
        self.assertEqual(accepts(self.backend), 1)

    def test_silent_stream_times_out_alone(self):
        self.start_pair(opts={"response_timeout_ms": 300})
        hang = subprocess.Popen(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null",
                                 "-w", "%{http_code}", self.url("/hang")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_until(lambda: "/hang waiting" in self.backend.output(), what="the held request")
        self.assertEqual(self.get("/bid")[0], 200)
        out, err = hang.communicate(timeout=10)
        self.assertEqual(out, b"504", err.decode())
        self.assertEqual(self.get("/bid")[0], 200)
        self.assertEqual(accepts(self.backend), 1)

    def test_sigterm_lets_streams_in_flight_finish(self):
        self.start_pair()
        clients = [subprocess.Popen(["curl", "-sS", "--http2-prior-knowledge", "-o", "-",
                                     "-w", "\n%{http_code}", self.url("/delay/800")],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                   for _ in range(5)]
        wait_until(lambda: self.backend.output().count("/delay/800 waiting") >= 5,
                   what="the backend to receive 5 requests")
        self.assertEqual(accepts(self.backend), 1)
        self.sluice.send_signal(signal.SIGTERM)
        for out, err in [c.communicate(timeout=30) for c in clients]:
            self.assertTrue(out.endswith(b"\n200"), out + err)
        self.assertEqual(self.sluice.wait(30), 0, self.sluice.output())

    def test_backend_gone_gives_502_and_recovers(self):
        self.start_pair()
        self.assertEqual(self.get("/bid")[0], 200)
        hang = subprocess.Popen(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null",
                                 "-w", "%{http_code}", self.url("/hang")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_until(lambda: "/hang waiting" in self.backend.output(), what="the held request")
        self.backend.stop()
        out, err = hang.communicate(timeout=10)
        self.assertEqual(out, b"502", err.decode())
        self.assertEqual(self.get("/bid")[0], 502)


if __name__ == "__main__":
    unittest.main()
