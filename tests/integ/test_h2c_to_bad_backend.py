"""h2c through sluice to backends that answer badly: each gets a well-formed
answer to the client (502 or RST_STREAM), and sluice keeps serving."""

import json
import os
import re
import socket
import struct
import subprocess
import threading
import time
import unittest
import urllib.request

from harness import IntegTest, free_port, wait_until
from test_h2_attacks import request_block
from test_h2_malformed import DATA, END_HEADERS, END_STREAM, HEADERS, RST_STREAM, RawClient, frame

HEAD_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class ScriptedBackend:
    """A Unix-socket backend that answers each request head with the bytes given,
    without reading any body; it closes after one answer unless keep_alive. With
    answer None it reads the head and then nothing more, and never answers."""

    def __init__(self, path, answer, keep_alive=False, trickle_s=0):
        self.answer = answer
        self.keep_alive = keep_alive
        self.trickle_s = trickle_s  # seconds between bytes; 0: all at once
        self.reset = False  # True: answer each head with a TCP reset (tcp listeners only)
        self.accepted = 0
        self.request_lines = []  # of every head read, in order
        self.chunks = []  # every recv's bytes, in order
        if path.startswith("127.0.0.1:"):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", int(path.split(":")[1])))
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(path)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            with conn:
                conn.settimeout(5)
                try:
                    self.answer_heads(conn)
                except OSError:
                    pass

    def answer_heads(self, conn):
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                self.chunks.append(chunk)
                data += chunk
            head, data = data.split(b"\r\n\r\n", 1)
            self.request_lines.append(head.split(b"\r\n", 1)[0])
            if self.reset:
                # SO_LINGER with a zero timeout: close() sends RST, not FIN
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            while self.answer is None and self.running:
                time.sleep(0.05)
            if self.answer is None:
                return
            if self.trickle_s:
                for i in range(len(self.answer)):
                    conn.sendall(self.answer[i:i + 1])
                    time.sleep(self.trickle_s)
            else:
                conn.sendall(self.answer)
            if not self.keep_alive:
                return

    def stop(self):
        self.running = False
        self.thread.join(timeout=5)
        self.sock.close()


class H2cToBadBackend(IntegTest):
    def answer_with(self, answer, keep_alive=False, opts=None, extra="", trickle_s=0, tcp=False):
        """The scripted backend "bad", on a Unix socket or (tcp) on loopback, beside
        the demo backend "good" that /headers goes to."""
        if tcp:
            addr = "127.0.0.1:%d" % free_port()
            backend = ScriptedBackend(addr, answer, keep_alive, trickle_s)
        else:
            addr = os.path.join(self.dir, "scripted.sock")
            backend = ScriptedBackend(addr, answer, keep_alive, trickle_s)
            addr = "unix:" + addr
        self.addCleanup(backend.stop)
        _, good = self.start_backend("good")
        routes = "rules:\n  - path_prefix: /headers\n    backend: good\n"
        bad = [addr] if opts is None else ([addr], opts)
        self.admin_port = free_port()
        self.start_sluice({"bad": bad, "good": [good]}, rules=routes,
                          extra=extra + "admin_address: 127.0.0.1:%d\n" % self.admin_port)
        return backend

    def bad_stats(self):
        """The scripted backend's figures in /stats."""
        url = "http://127.0.0.1:%d/stats" % self.admin_port
        return next(b for b in json.load(urllib.request.urlopen(url))["backends"]
                    if b["name"] == "bad")

    def assert_502_and_alive(self, counter="failures"):
        """One 502 for the client, counted once in the bad backend's counter."""
        status, _, body = self.get("/x")
        self.assertEqual(status, 502)
        self.assertIn(b"502", body)
        self.assertEqual(self.get("/headers")[0], 200)
        self.assertEqual(wait_until(lambda: self.bad_stats()[counter], what=counter), 1)

    def test_garbage_status_line(self):
        self.answer_with(b"HELLO THERE\r\n\r\n")
        self.assert_502_and_alive()

    def test_invalid_content_length(self):
        self.answer_with(b"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\nhello")
        self.assert_502_and_alive()

    def test_oversized_response_head(self):
        self.answer_with(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
        self.assert_502_and_alive()

    def test_response_head_over_max_response_header_bytes(self):
        self.answer_with(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n",
                         extra="max_response_header_bytes: 4096\n")
        self.assert_502_and_alive()
        self.assertIn("over max_response_header_bytes (4096)", self.sluice.output())

    def test_responses_that_could_be_read_two_ways_get_502(self):
        answers = [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"0\r\n\r\n", "an ambiguous or unsupported body framing"),
            # a head of bare LFs never shows CRLF CRLF: refused as it comes, not timed out
            (b"HTTP/1.1 200 OK\nContent-Length: 0\n\n", "a bare LF"),
            (b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
             "a malformed field line"),
        ]
        backend = self.answer_with(answers[0][0])
        for answer, reason in answers:
            backend.answer = answer
            self.assertEqual(self.get("/x")[0], 502, answer)
            wait_until(lambda: reason in self.sluice.output(), what=reason)
        self.assertEqual(self.get("/headers")[0], 200)
        wait_until(lambda: self.bad_stats()["failures"] == len(answers), what="failures")

    def test_status_outside_the_relayable_range(self):
        self.answer_with(b"HTTP/1.1 700 Odd\r\nContent-Length: 0\r\n\r\n")
        self.assert_502_and_alive()

    def test_close_without_answer(self):
        self.answer_with(b"")
        self.assert_502_and_alive()

    def test_a_backend_that_is_not_listening(self):
        backend = self.answer_with(HEAD_OK)
        backend.stop()  # its socket file stays: connect() is refused
        self.assert_502_and_alive(counter="connect_errors")

    def test_reset_instead_of_an_answer(self):
        backend = self.answer_with(None, tcp=True)
        backend.reset = True
        self.assert_502_and_alive()

    def test_bytes_past_the_content_length_end_the_connection(self):
        """A response longer than its Content-Length: the client gets what was
        declared, and the connection, whose next response would begin with the
        surplus, is not used again."""
        backend = self.answer_with(HEAD_OK + b"SURPLUS", keep_alive=True)
        for _ in range(3):
            status, _, body = self.get("/x")
            self.assertEqual((status, body), (200, b"ok"))
        self.assertEqual(backend.accepted, 3)

    def test_interim_response_is_skipped(self):
        self.answer_with(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" + HEAD_OK)
        status, _, body = self.get("/x")
        self.assertEqual((status, body), (200, b"ok"))

    def test_interim_response_never_has_a_body(self):
        # RFC 9110 §15.2: a 1xx ends at its empty line, whatever it says of a length
        self.answer_with(b"HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n" + HEAD_OK)
        status, _, body = self.get("/x")
        self.assertEqual((status, body), (200, b"ok"))

    def test_interim_other_than_100_and_103_is_refused(self):
        self.answer_with(b"HTTP/1.1 102 Processing\r\n\r\n" + HEAD_OK)
        self.assert_502_and_alive()
        self.assertIn("interim response 102", self.sluice.output())

    def test_interim_heads_count_toward_the_head_limit(self):
        hint = b"HTTP/1.1 103 Early Hints\r\nLink: <" + b"a" * 500 + b">\r\n\r\n"
        self.answer_with(hint * 10 + HEAD_OK, extra="max_response_header_bytes: 4096\n")
        self.assert_502_and_alive()

    def test_head_trickled_past_response_timeout_gets_504(self):
        # a byte every 50 ms: never silent for response_timeout_ms, but far too slow
        self.answer_with(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"s" * 60 + b"\r\n\r\n",
                         opts={"response_timeout_ms": 400}, trickle_s=0.05)
        start = time.monotonic()
        status, _, _ = self.get("/x")
        self.assertEqual(status, 504)
        self.assertLess(time.monotonic() - start, 2.5)
        self.assertIn("no response head within 400 ms", self.sluice.output())
        self.assertEqual(wait_until(lambda: self.bad_stats()["timeouts"], what="timeouts"), 1)

    def test_204_loses_its_content_length(self):
        self.answer_with(b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\nX-Kept: 1\r\n\r\n")
        status, headers, body = self.get("/x")
        self.assertEqual((status, body), (204, b""))
        self.assertNotIn("content-length", headers)
        self.assertEqual(headers["x-kept"], "1")
        res = subprocess.run(["curl", "-sS", "--http1.1", "-D", "-", "-o", "/dev/null",
                              self.url("/x")], capture_output=True, timeout=30)
        self.assertNotIn(b"content-length", res.stdout.lower())
        self.assertIn(b" 204 ", res.stdout)

    def test_body_delimited_by_close(self):
        self.answer_with(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
        status, _, body = self.get("/x")
        self.assertEqual((status, body), (200, b"until the end"))

    def test_connection_specific_fields_are_not_relayed(self):
        self.answer_with(b"HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n"
                         b"Keep-Alive: timeout=5\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\nok")
        status, headers, _ = self.get("/x")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("x-kept"), "yes")
        for name in ("connection", "x-hop", "keep-alive"):
            self.assertNotIn(name, headers)


    def test_304_with_content_length_keeps_the_connection(self):
        # RFC 9112 §6.3: a 304 has no body, whatever its Content-Length says
        backend = self.answer_with(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
                                   keep_alive=True)
        for _ in range(3):
            self.assertEqual(self.get("/x")[0], 304)
        self.assertEqual(backend.accepted, 1)

    def test_early_answer_resets_the_rest_of_the_request(self):
        """A backend answering 413 before the body: the client gets the 413, then
        RST_STREAM NO_ERROR (RFC 9113 §8.1), and its window credit back."""
        self.answer_with(b"HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n")
        c = RawClient(self.sluice_port)
        c.start()
        c.request(1, "POST", "/x", end_stream=False)
        c.send(frame(DATA, 0, 1, b"x" * 16000))
        f = c.wait_for(HEADERS, 1)
        self.assertIsNotNone(f)
        f = c.wait_for(RST_STREAM, 1)
        self.assertIsNotNone(f)
        self.assertEqual(struct.unpack(">I", f[3])[0], 0)  # NO_ERROR
        c.close()

    def test_backend_that_stops_reading_the_body_gets_504(self):
        """The request cannot be sent whole, so the response timeout never starts:
        the write side has a timeout of its own."""
        self.answer_with(None, opts={"response_timeout_ms": 500})
        body = os.path.join(self.dir, "big")
        with open(body, "wb") as f:
            f.write(b"x" * (8 << 20))
        started = time.monotonic()
        # nghttp: curl 7.88 reports the RST_STREAM NO_ERROR after an early answer
        # (RFC 9113 §8.1) as an error
        res = subprocess.run(["nghttp", "-v", "-d", body, self.url("/x")], capture_output=True,
                             timeout=20)
        self.assertIn(b":status: 504", res.stdout, res.stdout[-2000:])
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual(self.get("/headers")[0], 200)


class PassiveHealth(IntegTest):
    def test_a_failing_server_leaves_the_rotation_and_comes_back(self):
        """Two servers, one answering garbage: after eject_after_failures of its
        502s it gets no request; fixed, it is back once eject_ms has passed."""
        path = os.path.join(self.dir, "scripted.sock")
        bad = ScriptedBackend(path, b"HTTP/1.1 zzz\r\n\r\n")
        self.addCleanup(bad.stop)
        _, good = self.start_backend("good")
        admin = free_port()
        opts = {"eject_after_failures": 3, "eject_ms": 1500}
        self.start_sluice({"demo": (["unix:" + path, good], opts)},
                          extra="workers: 1\nadmin_address: 127.0.0.1:%d\n" % admin)
        statuses = [self.get("/")[0] for _ in range(30)]
        self.assertEqual(statuses.count(502), 3, statuses)
        self.assertEqual(statuses[-20:], [200] * 20)  # the rest went to the good one
        stats_url = "http://127.0.0.1:%d/stats" % admin

        def backend_stats():
            return json.load(urllib.request.urlopen(stats_url))["backends"][0]
        wait_until(lambda: backend_stats()["servers_ejected"] == 1, what="the gauge")
        self.assertEqual(backend_stats()["ejections"], 1)
        metrics = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin).read().decode()
        for sample in ('sluice_backend_servers_ejected{backend="demo"} 1',
                       'sluice_backend_ejections_total{backend="demo"} 1'):
            self.assertIn(sample, metrics.splitlines())
        bad.answer = HEAD_OK
        # "ok" is the scripted server's body: the demo backend says more
        wait_until(lambda: self.get("/")[2] == b"ok", timeout=10, what="the server back")
        wait_until(lambda: backend_stats()["servers_ejected"] == 0, what="the gauge back")
        self.assertIn("back in rotation, on trial", self.sluice.output())


class ResetBeforeSent(IntegTest):
    def test_a_request_reset_in_the_turn_that_sent_it_never_reaches_the_backend(self):
        """HEADERS and RST_STREAM in one write: the request is withdrawn before
        a byte leaves sluice, and the kept-alive connection serves the next."""
        path = os.path.join(self.dir, "scripted.sock")
        backend = ScriptedBackend(path, HEAD_OK, keep_alive=True)
        self.addCleanup(backend.stop)
        self.start_sluice({"demo": ["unix:" + path]}, extra="workers: 1\n")
        c = RawClient(self.sluice_port)
        c.start()
        c.request(1, "GET", "/first")  # the connection to the backend is up and idle after it
        self.assertIsNotNone(c.wait_for(DATA, 1))
        pairs = b"".join(frame(HEADERS, END_HEADERS | END_STREAM, stream, request_block("GET", "/reset"))
                         + frame(RST_STREAM, 0, stream, struct.pack(">I", 8))
                         for stream in range(3, 43, 2))
        c.send(pairs)
        c.request(43, "GET", "/last")
        self.assertIsNotNone(c.wait_for(DATA, 43))
        c.close()
        self.assertEqual(backend.request_lines, [b"GET /first HTTP/1.1", b"GET /last HTTP/1.1"])
        self.assertEqual(backend.accepted, 1)


class SmallBodies(IntegTest):
    """A body under 16 KiB with a content-length goes to an HTTP/1.1 backend
    in one write with its head, however late it follows the head."""

    def setUp(self):
        super().setUp()
        path = os.path.join(self.dir, "scripted.sock")
        self.backend = ScriptedBackend(path, HEAD_OK, keep_alive=True)
        self.addCleanup(self.backend.stop)
        self.start_sluice({"demo": (["unix:" + path], {"keepalive_idle_timeout_ms": 100})},
                          extra="workers: 1\nclient_idle_timeout_ms: 300\n")
        self.client = RawClient(self.sluice_port)
        self.addCleanup(self.client.close)
        self.client.start()

    def post_head(self, length):
        self.client.request(1, "POST", "/bid", end_stream=False,
                            headers=[("content-length", str(length))])

    def test_the_head_waits_for_a_small_body(self):
        self.post_head(10)
        time.sleep(0.2)  # the stimulus: a body that comes a while after its head
        self.client.send(frame(DATA, END_STREAM, 1, b"0123456789"))
        self.assertIsNotNone(self.client.wait_for(HEADERS, 1))
        first = self.backend.chunks[0]
        self.assertTrue(first.startswith(b"POST /bid HTTP/1.1\r\n"), first)
        self.assertTrue(first.endswith(b"\r\n\r\n0123456789"), first)

    def test_a_large_body_is_streamed_behind_its_head(self):
        self.post_head(20000)
        wait_until(lambda: self.backend.chunks, what="the head alone")
        self.assertTrue(self.backend.chunks[0].endswith(b"\r\n\r\n"), self.backend.chunks[0])

    def test_a_held_head_keeps_its_connection_past_the_idle_timeout(self):
        """The connection lent to a request whose head waits for its body is
        taken: its idle timer (100 ms here) must not close it meanwhile."""
        self.client.request(1, "GET", "/first")  # a kept-alive connection, idle after it
        self.assertIsNotNone(self.client.wait_for(DATA, 1))
        self.client.request(3, "POST", "/bid", end_stream=False, headers=[("content-length", "2")])
        time.sleep(0.25)  # the stimulus: a body later than the idle timeout (and sooner than
        # client_idle_timeout_ms)
        self.client.send(frame(DATA, END_STREAM, 3, b"ok"))
        f = self.client.wait_for(HEADERS, 3)
        self.assertIsNotNone(f)
        self.assertEqual(self.backend.accepted, 1)
        self.assertTrue(self.backend.chunks[-1].endswith(b"\r\n\r\nok"), self.backend.chunks)

    def test_a_client_that_stalls_its_small_body_is_cut_off_and_nothing_is_sent(self):
        self.post_head(10)
        self.client.send(frame(DATA, 0, 1, b"01234"))
        f = self.client.wait_for(None, 1)
        while f is not None and f[0] not in (HEADERS, RST_STREAM):
            f = self.client.wait_for(None, 1)
        self.assertIsNotNone(f, "the stalled stream got an answer or a reset")
        self.assertEqual(self.backend.chunks, [])


class LargeHeads(IntegTest):
    """A head larger than the backend socket takes in one write: what the
    socket did not take waits in the output buffer, in order, once."""

    def test_a_head_the_socket_takes_in_parts_arrives_whole(self):
        path = os.path.join(self.dir, "scripted.sock")
        backend = ScriptedBackend(path, HEAD_OK, keep_alive=True)
        self.addCleanup(backend.stop)
        self.start_sluice({"demo": ["unix:" + path]},
                          extra="max_request_header_bytes: 1048576\n")
        big = b"b" * 600000  # three times a Unix socket's send buffer
        s = socket.create_connection(("127.0.0.1", self.sluice_port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"POST /bid HTTP/1.1\r\nHost: a\r\nX-Big: " + big +
                  b"\r\nContent-Length: 10\r\n\r\n0123456789")
        reply = b""
        while not reply.endswith(b"ok"):
            chunk = s.recv(65536)
            self.assertTrue(chunk, reply)
            reply += chunk
        self.assertTrue(reply.startswith(b"HTTP/1.1 200"), reply)
        sent = b"".join(backend.chunks)
        self.assertEqual(sent.count(b"\r\n\r\n"), 1, sent[-200:])
        self.assertTrue(sent.endswith(b"\r\n\r\n0123456789"), sent[-200:])
        self.assertEqual(sent.count(big), 1)
        self.assertLess(len(sent), len(big) + 500)


class ActiveHealth(IntegTest):
    def stats_of_backend(self, admin):
        url = "http://127.0.0.1:%d/stats" % admin
        return json.load(urllib.request.urlopen(url))["backends"][0]

    def start_with_scripted(self, answer, opts):
        """sluice, one worker, in front of a scripted server answering answer
        and a demo backend; returns (the scripted server, the admin port)."""
        path = os.path.join(self.dir, "scripted.sock")
        scripted = ScriptedBackend(path, answer)
        self.addCleanup(scripted.stop)
        _, good = self.start_backend("good")
        admin = free_port()
        self.start_sluice({"demo": (["unix:" + path, good], opts)},
                          extra="workers: 1\nadmin_address: 127.0.0.1:%d\n" % admin)
        return scripted, admin

    def test_an_ejected_server_is_back_when_its_health_check_passes(self):
        """eject_ms is an hour: only a health check can bring the server back.
        While it answers garbage to the probes too it stays out, and each probe
        counts; answering 200, it is back within an interval."""
        opts = {"eject_after_failures": 2, "eject_ms": 3600000,
                "health_check_path": "/healthz?deep=1", "health_check_interval_ms": 200}
        bad, admin = self.start_with_scripted(b"HTTP/1.1 zzz\r\n\r\n", opts)
        statuses = [self.get("/")[0] for _ in range(10)]
        self.assertEqual(statuses.count(502), 2, statuses)
        wait_until(lambda: self.stats_of_backend(admin)["health_checks_failed"] >= 3,
                   what="failed probes")
        self.assertEqual(self.stats_of_backend(admin)["servers_ejected"], 1)
        probes = bad.request_lines[2:]
        self.assertGreaterEqual(len(probes), 3, bad.request_lines)
        self.assertEqual(set(probes), {b"GET /healthz?deep=1 HTTP/1.1"})
        self.assertEqual(len(re.findall("health check GET /healthz.deep=1 of server \\S+ failed "
                                        "\\(not an HTTP/1.1 status line\\)",
                                        self.sluice.output())), 1)  # then at debug level
        bad.answer = HEAD_OK
        wait_until(lambda: self.stats_of_backend(admin)["servers_ejected"] == 0, timeout=5,
                   what="the server back")
        self.assertIn("back in rotation, on trial: its health check passed", self.sluice.output())
        failed = self.stats_of_backend(admin)["health_checks_failed"]
        # back in rotation, it gets requests again and no more probes
        wait_until(lambda: self.get("/")[2] == b"ok", what="a request on the server back")
        time.sleep(0.5)  # two intervals: a probe would have come and counted
        self.assertEqual(self.stats_of_backend(admin)["health_checks_failed"], failed)
        self.assertTrue(all(line == b"GET / HTTP/1.1" for line in bad.request_lines[-1:]))

    def test_a_probe_that_gets_no_answer_within_the_interval_fails(self):
        """A server that accepts and never answers: its request times out (504)
        and ejects it; each probe then has one interval, and fails."""
        opts = {"eject_after_failures": 1, "eject_ms": 3600000, "response_timeout_ms": 300,
                "health_check_path": "/", "health_check_interval_ms": 200}
        _, admin = self.start_with_scripted(None, opts)
        statuses = [self.get("/")[0] for _ in range(4)]
        self.assertEqual(statuses.count(504), 1, statuses)
        wait_until(lambda: self.stats_of_backend(admin)["health_checks_failed"] >= 2,
                   what="probes that timed out")
        self.assertEqual(self.stats_of_backend(admin)["servers_ejected"], 1)
        self.assertIn("failed (no answer within health_check_interval_ms)", self.sluice.output())

    def test_an_h2c_server_is_probed_over_h2c(self):
        """An h2c server not yet listening is ejected by its connect errors;
        once it listens, the h2c probe passes (the demo backend answers / with
        200, /health with 404) and it serves."""
        _, good = self.start_backend("good", args=["--h2c"])
        late = "unix:" + os.path.join(self.dir, "late.sock")
        admin = free_port()
        opts = {"protocol": "h2c", "eject_after_failures": 1, "eject_ms": 3600000,
                "health_check_path": "/", "health_check_interval_ms": 200}
        self.start_sluice({"demo": ([late, good], opts)},
                          extra="workers: 1\nadmin_address: 127.0.0.1:%d\n" % admin)
        for _ in range(4):  # one of them meets the missing socket: retried or 502
            self.get("/")
        wait_until(lambda: self.stats_of_backend(admin)["health_checks_failed"] >= 2,
                   what="failed probes")
        self.assertEqual(self.stats_of_backend(admin)["servers_ejected"], 1)
        self.start_backend("late", args=["--h2c"])
        wait_until(lambda: self.stats_of_backend(admin)["servers_ejected"] == 0, timeout=5,
                   what="the server back")
        ids = {self.get("/")[1].get("x-backend-id") for _ in range(8)}
        self.assertIn("late", ids)


if __name__ == "__main__":
    unittest.main()
