"""Limits on the h2c → HTTP/1.1 path: each one is hit, and sluice stays bounded."""

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import unittest
import urllib.request

from harness import TIMER_SLACK, IntegTest, children, free_port, wait_until
from test_h2_malformed import (ACK, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PING,
                               PREFACE, RST_STREAM, SETTINGS, WINDOW_UPDATE, RawClient,
                               frame, literal)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


class H2cToH1Limits(IntegTest):
    def test_a_class_body_limit_is_413_over_both_protocols(self):
        backend, addr = self.start_backend(args=["--verbose"])
        admin = free_port()
        extra = ("classes:\n  - name: any\n  - name: small\n    max_body_bytes: 1024\n"
                 "default_class: any\nadmin_address: 127.0.0.1:%d\nworkers: 1\n" % admin)
        rules = "rules:\n  - path_prefix: /bid\n    class: small\n"
        self.start_sluice({"demo": [addr]}, extra=extra, rules=rules)
        big = os.path.join(self.dir, "big")
        with open(big, "wb") as f:
            f.write(b"b" * 2000)

        def post(path, *args, body="@" + big):
            res = self.curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary",
                            body, *args, self.url(path))
            return res.stdout.decode()
        # h2 with content-length: answered at the head, the body never sent (a raw
        # client: curl 7.88 takes the RST_STREAM NO_ERROR that follows for a failure)
        c = RawClient(self.sluice_port)
        c.start()
        c.request(1, "POST", "/bid", end_stream=False, headers=[("content-length", "2000")])
        head = c.wait_for(HEADERS, 1)
        self.assertIsNotNone(head)
        self.assertIn(b"413", head[3])  # :status, a literal: 413 is not in HPACK's table
        c.close()
        self.assertEqual(post("/bid", "--http1.1", "-H", "Transfer-Encoding: chunked"),
                         "413")  # no length: cut as it grows
        self.assertEqual(post("/echo"), "200")  # another class: no limit
        self.assertEqual(post("/bid", body="small"), "200")
        stats = json.load(urllib.request.urlopen("http://127.0.0.1:%d/stats" % admin))
        self.assertEqual(stats["bodies_too_large"], 2)

    def test_a_full_worker_stops_accepting_until_a_connection_closes(self):
        _, addr = self.start_backend()
        admin = free_port()
        port = self.start_sluice({"demo": [addr]},
                                 extra="workers: 1\nmax_client_connections: 3\n"
                                       "admin_address: 127.0.0.1:%d\n" % admin)
        held = []
        for _ in range(3):
            c = RawClient(port)
            c.start()
            c.send(frame(PING, 0, 0, b"held-on!"))
            self.assertIsNotNone(c.wait_for(PING))  # accepted and served
            held.append(c)
        result = {}
        waiting = threading.Thread(target=lambda: result.update(
            res=self.curl("-s", "-o", "/dev/null", "-w", "%{http_code}", self.url("/", port),
                          timeout=20)))
        waiting.start()
        waiting.join(timeout=1)
        self.assertTrue(waiting.is_alive(), "a fourth connection was served at the limit")
        held.pop().close()
        waiting.join(timeout=5)
        self.assertFalse(waiting.is_alive(), "accepting did not resume")
        self.assertEqual(result["res"].stdout, b"200")
        stats = json.load(urllib.request.urlopen("http://127.0.0.1:%d/stats" % admin))
        self.assertGreaterEqual(stats["connection_limit_hits"], 1)
        for c in held:
            c.close()

    def test_queued_uploads_leave_the_connection_window_to_a_bid(self):
        """Uploads queued behind a busy backend take the whole connection window,
        256 KiB a stream: sluice credits the connection anyway, within its
        budget (issue 11, defect 9), and a bid on the same connection gets
        through to another backend."""
        _, slow = self.start_backend("slow")
        _, fast = self.start_backend("fast")
        extra = ("classes:\n  - name: bid\n  - name: bulk\n    deadline_ms: 20000\n"
                 "default_class: bid\ndefault_backend: fast\n")
        rules = ("rules:\n  - path_prefix: /hang\n    backend: slow\n    class: bulk\n"
                 "  - path_prefix: /upload\n    backend: slow\n    class: bulk\n")
        port = self.start_sluice({"slow": ([slow], {"max_inflight": 1}), "fast": [fast]},
                                 extra=extra, rules=rules)
        c = RawClient(port)
        c.start()

        def credit_until_pong(token):
            """WINDOW_UPDATE credit for the connection until sluice answers a PING:
            all it had to say about what came before."""
            c.send(frame(PING, 0, 0, token))
            credit = 0
            while True:
                f = c.wait_for(None)
                self.assertIsNotNone(f, "the connection closed")
                if f[0] == WINDOW_UPDATE and f[2] == 0:
                    credit += struct.unpack(">I", f[3])[0] & 0x7FFFFFFF
                if f[0] == PING and f[1] & ACK and f[3] == token:
                    return credit

        window = 65535 + credit_until_pong(b"startup!")
        c.request(1, "GET", "/hang")  # the slow backend's one slot, taken for good
        stream, chunk = 3, 16384
        while window > 0:
            c.request(stream, "POST", "/upload", end_stream=False)
            for _ in range(262144 // chunk):
                size = min(chunk, window)
                c.send(frame(DATA, 0, stream, b"u" * size))
                window -= size
                if window == 0:
                    break
            stream += 2
        self.assertGreaterEqual(credit_until_pong(b"uploaded"), 1024,
                                "the connection window stayed shut")
        c.request(stream, "POST", "/bid", end_stream=False)
        c.send(frame(DATA, END_STREAM, stream, b"b" * 1024))
        head = c.wait_for(HEADERS, stream)
        self.assertIsNotNone(head, "the bid was not answered")
        c.close()

    @unittest.skipUnless(shutil.which("nghttp"), "nghttp (nghttp2-client) is not installed")
    def test_requests_wait_for_a_connection_at_max_connections(self):
        _, addr = self.start_backend()
        self.start_sluice({"demo": ([addr], {"max_connections": 1})})
        # nghttp sends all six at once on one connection (curl 7.88's -Z breaks on h2c)
        res = subprocess.run(["nghttp", "-v"] + [self.url("/delay/%d" % (50 + i))
                                                 for i in range(6)],
                             capture_output=True, timeout=30)
        log = res.stdout.decode(errors="replace")
        self.assertEqual(res.returncode, 0, log)
        self.assertEqual(log.count(":status: 200"), 6, log)
        # answered one after the other on the single backend connection
        counts = sorted(int(n) for n in re.findall(r"x-connection-requests: (\d+)", log))
        self.assertEqual(counts, list(range(1, 7)), log)

    def test_idle_backend_connections_expire(self):
        _, addr = self.start_backend()
        # long enough for two curls in a row on a loaded machine, short enough to wait out
        self.start_sluice({"demo": ([addr], {"keepalive_idle_timeout_ms": 1000})})
        self.assertEqual(self.get("/")[1]["x-connection-requests"], "1")
        self.assertEqual(self.get("/")[1]["x-connection-requests"], "2")
        time.sleep(1.5)  # the thing under test is a timer: let it pass
        self.assertEqual(self.get("/")[1]["x-connection-requests"], "1")

    def test_zero_idle_timeout_closes_after_each_response(self):
        _, addr = self.start_backend()
        self.start_sluice({"demo": ([addr], {"keepalive_idle_timeout_ms": 0})})
        for _ in range(3):
            self.assertEqual(self.get("/")[1]["x-connection-requests"], "1")

    def test_drain_timeout_ends_requests_that_do_not_finish(self):
        backend, addr = self.start_backend(args=["--verbose"])
        self.start_sluice({"demo": [addr]}, extra="drain_timeout_ms: 300\n")
        client = subprocess.Popen(["curl", "-sS", "--http2-prior-knowledge", self.url("/hang")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_until(lambda: "/hang waiting" in backend.output(),
                   what="the backend to hold /hang")
        started = time.monotonic()
        self.sluice.send_signal(15)
        self.assertEqual(self.sluice.wait(10), 0, self.sluice.output())
        self.assertLess(time.monotonic() - started, 5)
        client.communicate(timeout=10)
        self.assertNotEqual(client.returncode, 0)
        self.assertIn("drain timeout", self.sluice.output())

    def test_client_that_stops_reading_cannot_grow_sluice(self):
        """A 200 MB response to a client that grants only the default 64 KiB window:
        sluice must stop reading from the backend instead of buffering it."""
        _, addr = self.start_backend()
        admin = free_port()
        port = self.start_sluice({"demo": [addr]},
                                 extra="workers: 1\nadmin_address: 127.0.0.1:%d\n" % admin)
        # the worker, which holds the connections (the master's RSS says nothing)
        worker = wait_until(lambda: children(self.sluice.pid), what="the worker")[0]
        before = rss_kib(worker)
        c = RawClient(port)
        c.start()
        block = literal(":method", "GET") + literal(":scheme", "http") + \
            literal(":path", "/bytes/209715200") + literal(":authority", "x")
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
        received = 0
        while received < 65535:
            f = c.read_frame()
            self.assertIsNotNone(f)
            if f[0] == DATA:
                received += len(f[3])
        # the window is spent; a PING round trip shows sluice still serves the connection
        c.send(frame(PING, 0, 0, b"pingpong"))
        self.assertIsNotNone(c.wait_for(PING))
        peak = before
        for _ in range(20):  # watch it for a while: it must stay flat
            peak = max(peak, rss_kib(worker))
            time.sleep(0.05)
        self.assertLess(peak - before, 16 * 1024, "sluice grew by %d KiB" % (peak - before))
        with open("/proc/%d/maps" % worker) as f:
            if "libasan" not in f.read():  # ASan's shadow memory is not sluice's
                self.assertLess(peak, 32 * 1024, "over the 32 MiB a worker under attack may reach")
        stats = json.load(urllib.request.urlopen("http://127.0.0.1:%d/stats" % admin))
        self.assertGreaterEqual(stats["response_pauses"], 1)
        c.close()
        self.assertEqual(self.get("/")[0], 200)


    def test_idle_client_gets_goaway_then_close(self):
        _, addr = self.start_backend()
        port = self.start_sluice({"demo": [addr]}, extra="client_idle_timeout_ms: 200\n")
        # the clock starts before the connect: sluice's idle timer starts at accept
        started = time.monotonic()
        c = RawClient(port)
        c.start()
        f = c.wait_for(GOAWAY)
        self.assertIsNotNone(f)
        self.assertEqual(struct.unpack(">I", f[3][4:8])[0], 0)  # NO_ERROR
        self.assertIsNone(c.read_frame())
        self.assertGreaterEqual(time.monotonic() - started, 0.2 - TIMER_SLACK)
        c.close()
        # a connection that never says anything is closed too (recv times out otherwise),
        # without a word: its protocol is not known
        silent = socket.create_connection(("127.0.0.1", port), timeout=5)
        data = b""
        while True:
            chunk = silent.recv(65536)
            if not chunk:
                break
            data += chunk
        silent.close()
        self.assertEqual(data, b"")
        # a request slower than the idle timeout is not cut
        status, _, body = self.get("/delay/500")
        self.assertEqual((status, body), (200, b"ok\n"))

    def test_body_of_abandoned_queued_requests_is_credited_back(self):
        """Streams reset while queued must give their DATA back to the connection
        window, or every later upload on the connection stalls."""
        _, addr = self.start_backend()
        port = self.start_sluice({"demo": ([addr], {"max_connections": 1})},
                                 extra="stream_window_bytes: 16384\n")
        c = RawClient(port)
        c.start()
        c.request(1, "GET", "/hang")  # holds the only backend connection
        for stream in (3, 5, 7, 9):  # 64000 of the 65536-byte connection window
            c.request(stream, "POST", "/echo", end_stream=False)
            c.send(frame(DATA, 0, stream, b"x" * 16000))
        for stream in (3, 5, 7, 9):
            c.send(frame(RST_STREAM, 0, stream, struct.pack(">I", 8)))
        credited = 0
        while credited < 32768:
            f = c.wait_for(WINDOW_UPDATE, 0)
            self.assertIsNotNone(f, "connection window credit was not returned")
            credited += struct.unpack(">I", f[3])[0]
        c.close()

    def test_queued_request_gets_504_after_the_response_timeout(self):
        """Past admission (max_inflight above max_connections), a request waits
        in the pool for a connection, bounded by the response timeout."""
        _, addr = self.start_backend()
        port = self.start_sluice({"demo": ([addr], {"max_connections": 1, "max_inflight": 2,
                                                    "response_timeout_ms": 300})})
        c = RawClient(port)
        c.start()
        c.request(1, "POST", "/echo", end_stream=False)  # holds the connection, no timer yet
        c.send(frame(DATA, 0, 1, b"part"))
        started = time.monotonic()
        status, _, body = self.get("/")
        self.assertEqual(status, 504)
        self.assertIn(b"saturated", body)
        self.assertGreaterEqual(time.monotonic() - started, 0.3 - TIMER_SLACK)
        c.close()

    def test_client_that_stops_sending_its_body_releases_the_connection(self):
        _, addr = self.start_backend()
        port = self.start_sluice({"demo": ([addr], {"max_connections": 1})},
                                 extra="client_idle_timeout_ms: 300\n")
        c = RawClient(port)
        c.start()
        c.request(1, "POST", "/echo", end_stream=False)
        c.send(frame(DATA, 0, 1, b"part of a body"))
        f = c.wait_for(RST_STREAM, 1)
        self.assertIsNotNone(f)
        self.assertEqual(struct.unpack(">I", f[3])[0], 8)  # CANCEL
        self.assertIn("sent no request body", self.sluice.output())
        # the one backend connection is free again
        self.assertEqual(self.get("/")[0], 200)
        c.close()

    def test_client_that_stops_reading_releases_the_connection(self):
        _, addr = self.start_backend()
        port = self.start_sluice({"demo": ([addr], {"max_connections": 1})},
                                 extra="client_idle_timeout_ms: 300\n")
        c = RawClient(port)
        c.start()
        c.request(1, "GET", "/bytes/209715200")  # far more than the 64 KiB window
        f = c.wait_for(RST_STREAM, 1)
        self.assertIsNotNone(f)
        self.assertEqual(struct.unpack(">I", f[3])[0], 8)  # CANCEL
        self.assertIn("read none of the response", self.sluice.output())
        self.assertEqual(self.get("/")[0], 200)
        c.close()

    def test_request_reusing_a_connection_whose_idle_timer_fires_meanwhile(self):
        """The idle timer and the request land in the same loop turn (sluice is
        stopped while both become due): the request must still be answered."""
        _, addr = self.start_backend()
        port = self.start_sluice({"demo": ([addr], {"keepalive_idle_timeout_ms": 200,
                                                    "response_timeout_ms": 2000})})
        c = RawClient(port)
        c.start()
        c.request(1, "GET", "/")
        while not (c.wait_for(DATA, 1)[1] & END_STREAM):
            pass
        self.sluice.send_signal(signal.SIGSTOP)
        try:
            c.request(3, "GET", "/")
            time.sleep(0.5)  # the thing under test is the idle timer: let it expire
        finally:
            self.sluice.send_signal(signal.SIGCONT)
        f = c.wait_for(HEADERS, 3)
        self.assertIsNotNone(f)
        self.assertEqual(f[3][0], 0x88, "not :status 200 (HPACK static index 8)")
        c.close()

    def test_client_that_stops_reading_tcp_is_disconnected(self):
        _, addr = self.start_backend()
        port = self.start_sluice({"demo": [addr]}, log_level="debug",
                                 extra="client_idle_timeout_ms: 300\n")
        c = RawClient(port)
        # a huge window, so sluice fills the socket; then never read
        c.send(PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 0x7FFFFFFF)) +
               frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF - 65535)))
        c.request(1, "GET", "/bytes/209715200")
        # the harness's readiness probe sent nothing, so it never became a connection
        wait_until(lambda: "conn=1 peer=127.0.0.1: closed" in self.sluice.output(),
                   what="sluice to drop the connection")
        c.close()

    def test_client_withholding_its_window_is_reset(self):
        _, addr = self.start_backend()
        port = self.start_sluice({"demo": [addr]}, extra="client_idle_timeout_ms: 300\n")
        c = RawClient(port)
        # SETTINGS_INITIAL_WINDOW_SIZE 0: sluice may send no DATA at all
        c.send(PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 0)))
        c.request(1, "GET", "/bytes/1000")
        self.assertIsNotNone(c.wait_for(HEADERS, 1))
        f = c.wait_for(RST_STREAM, 1)
        self.assertIsNotNone(f)
        self.assertEqual(struct.unpack(">I", f[3])[0], 8)  # CANCEL
        c.close()

if __name__ == "__main__":
    unittest.main()
