"""h2c clients through sluice to the C demo backend over HTTP/1.1 keep-alive."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest
import urllib.request

from harness import TIMER_SLACK, IntegTest, backend_seen, free_port, pattern_bytes, wait_until
from test_h2_malformed import DATA, END_STREAM, HEADERS, RST_STREAM, RawClient, frame

TEN_MB = 10 * 1024 * 1024


class H2cToH1(IntegTest):
    def test_headers_are_translated_for_the_backend(self):
        _, addr = self.start_backend()
        port = self.start_sluice({"demo": [addr]})
        status, headers, body = self.get("/headers?x=1", "-H", "cookie: a=1",
                                         "-H", "cookie: b=2", "-H", "x-forwarded-for: 10.1.1.1",
                                         "-H", "x-forwarded-proto: https")
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-backend-id"], "backend")
        method, path, seen, _ = backend_seen(body)
        self.assertEqual((method, path), ("GET", "/headers?x=1"))
        self.assertEqual(seen["host"], ["127.0.0.1:%d" % port])
        self.assertEqual(seen["cookie"], ["a=1; b=2"])
        self.assertEqual(seen["x-forwarded-for"], ["10.1.1.1, 127.0.0.1"])
        self.assertEqual(seen["x-forwarded-proto"], ["http"])
        self.assertNotIn("te", seen)

    def test_backend_connections_are_reused(self):
        _, addr = self.start_backend()
        self.start_sluice({"demo": [addr]})
        counts = [int(self.get("/")[1]["x-connection-requests"]) for _ in range(4)]
        self.assertEqual(counts, [1, 2, 3, 4])

    def test_tcp_backend(self):
        _, addr = self.start_backend(tcp=True)
        self.start_sluice({"demo": [addr]})
        status, headers, body = self.get("/")
        self.assertEqual(status, 200)
        self.assertIn(b"hello from the sluice demo backend", body)

    def test_ten_megabyte_bodies_arrive_intact(self):
        _, addr = self.start_backend()
        self.start_sluice({"demo": [addr]})
        upload = os.path.join(self.dir, "upload.bin")
        data = os.urandom(TEN_MB)
        with open(upload, "wb") as f:
            f.write(data)
        want = hashlib.sha256(data).hexdigest()
        for path in ("/echo", "/echo?chunked=1"):
            res = self.curl("--data-binary", "@" + upload, "-o", "-", self.url(path))
            self.assertEqual(res.returncode, 0, res.stderr.decode())
            self.assertEqual(hashlib.sha256(res.stdout).hexdigest(), want, path)
        # no content-length from the client: sluice sends the body chunked
        res = self.curl("-T", upload, "-H", "content-length:", "-X", "POST", "-o", "-",
                        self.url("/echo"))
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.assertEqual(hashlib.sha256(res.stdout).hexdigest(), want, "chunked upload")
        expected = hashlib.sha256(pattern_bytes(TEN_MB)).hexdigest()
        for path in ("/bytes/%d" % TEN_MB, "/bytes/%d?chunked=1" % TEN_MB):
            res = self.curl("-o", "-", self.url(path))
            self.assertEqual(res.returncode, 0, res.stderr.decode())
            self.assertEqual(hashlib.sha256(res.stdout).hexdigest(), expected, path)

    @unittest.skipUnless(shutil.which("h2load"), "h2load (nghttp2-client) is not installed")
    def test_hundred_concurrent_streams_on_one_connection(self):
        _, addr = self.start_backend()
        self.start_sluice({"demo": ([addr], {"max_connections": 100})})
        res = subprocess.run(["h2load", "-n", "2000", "-c", "1", "-m", "100",
                              self.url("/delay/5")], capture_output=True, timeout=120)
        out = res.stdout.decode()
        self.assertEqual(res.returncode, 0, out)
        self.assertIn("2000 succeeded, 0 failed, 0 errored", out)
        self.assertIn("status codes: 2000 2xx", out)

    def test_backend_stopped_gives_502(self):
        backend, addr = self.start_backend()
        self.start_sluice({"demo": [addr]})
        self.assertEqual(self.get("/")[0], 200)
        backend.stop()
        status, _, body = self.get("/")
        self.assertEqual(status, 502)
        self.assertIn(b"502", body)
        self.assertIn("backend demo", self.sluice.output())

    def test_tcp_backend_refusing_connections_gives_502(self):
        port = free_port()  # nothing listens there
        self.start_sluice({"demo": ["127.0.0.1:%d" % port]})
        status, _, body = self.get("/")
        self.assertEqual(status, 502)
        self.assertIn("connect", self.sluice.output())

    def test_silent_backend_gives_504(self):
        _, addr = self.start_backend()
        self.start_sluice({"demo": ([addr], {"response_timeout_ms": 300})})
        started = time.monotonic()
        status, _, _ = self.get("/hang")
        self.assertEqual(status, 504)
        self.assertGreaterEqual(time.monotonic() - started, 0.3 - TIMER_SLACK)

    @unittest.skipUnless(shutil.which("nghttp"), "nghttp (nghttp2-client) is not installed")
    def test_backend_dying_mid_response_resets_only_that_stream(self):
        _, addr = self.start_backend()
        self.start_sluice({"demo": [addr]})
        # nghttp sends both requests on one connection; its -v log shows the frames
        res = subprocess.run(["nghttp", "-v", self.url("/die-mid-response"),
                              self.url("/delay/100")], capture_output=True, timeout=30)
        log = res.stdout.decode(errors="replace")
        resets = re.findall(r"recv RST_STREAM frame <[^>]*stream_id=(\d+)>\s+"
                            r"\(error_code=(\w+)", log)
        ended = re.findall(r"recv DATA frame <[^>]*flags=0x01, stream_id=(\d+)>", log)
        self.assertEqual(len(resets), 1, log)
        self.assertEqual(resets[0][1], "INTERNAL_ERROR", log)
        self.assertEqual(len(ended), 1, log)
        self.assertNotEqual(ended[0], resets[0][0], log)
        self.assertEqual(log.count(":status: 200"), 2, log)

    def test_client_reset_keeps_the_backend_connection(self):
        """The abandoned response is read and dropped; the connection serves on
        (one connection at most: the next request must wait for it)."""
        backend, addr = self.start_backend(args=["--verbose"])
        port = self.start_sluice({"demo": ([addr], {"max_connections": 1})})
        c = RawClient(port)
        c.start()
        c.request(1, "GET", "/delay/300")
        wait_until(lambda: "/delay/300 waiting" in backend.output(), what="the held request")
        c.send(frame(RST_STREAM, 0, 1, (8).to_bytes(4, "big")))  # CANCEL
        c.close()
        status, headers, _ = self.get("/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-connection-requests"], "2")
        self.assertEqual(len(set(re.findall(r"conn (\d+) #", backend.output()))), 1)

    def test_client_reset_of_a_long_response_closes_the_backend_connection(self):
        """Past 256 KiB an abandoned response is not worth reading: the
        connection is closed and the next request gets a new one."""
        backend, addr = self.start_backend(args=["--verbose"])
        port = self.start_sluice({"demo": ([addr], {"max_connections": 1})})
        c = RawClient(port)
        c.start()
        c.request(1, "GET", "/bytes/4000000")
        self.assertIsNotNone(c.wait_for(DATA, 1))  # the response is flowing
        c.send(frame(RST_STREAM, 0, 1, (8).to_bytes(4, "big")))  # CANCEL
        c.close()
        status, headers, _ = self.get("/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-connection-requests"], "1")
        self.assertEqual(len(set(re.findall(r"conn (\d+) #", backend.output()))), 2)

    def test_reused_connection_closed_by_backend_is_retried(self):
        _, addr = self.start_backend(args=["--drop-reused"])
        self.start_sluice({"demo": [addr]})
        for _ in range(4):
            status, headers, _ = self.get("/")
            self.assertEqual(status, 200)
            self.assertEqual(headers["x-connection-requests"], "1")
        self.assertIn("retrying once", self.sluice.output())

    def test_put_body_retry_keeps_the_body(self):
        _, addr = self.start_backend(args=["--drop-reused"])
        self.start_sluice({"demo": [addr]})
        for i in range(3):
            res = self.curl("-X", "PUT", "--data-binary", "bid-%d" % i, self.url("/echo"))
            self.assertEqual(res.returncode, 0, res.stderr.decode())
            self.assertEqual(res.stdout, b"bid-%d" % i)

    def test_post_is_not_retried_unless_the_backend_allows_it(self):
        # RFC 9110 §9.2.2: the backend may have processed it before the connection broke
        backend, addr = self.start_backend(args=["--drop-reused", "--verbose"])
        self.start_sluice({"demo": [addr]})
        self.assertEqual(self.get("/")[0], 200)  # a kept-alive connection, to be dropped
        # no body: a 502 sent while curl still uploads would end in RST_STREAM NO_ERROR,
        # which curl 7.88 reports as a failure
        res = self.curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                        self.url("/echo"))
        self.assertEqual(res.stdout, b"502")
        self.assertNotIn("retrying", self.sluice.output())
        self.sluice.stop()
        self.start_sluice({"demo": ([addr], {"retry_non_idempotent": "true"})})
        self.assertEqual(self.get("/")[0], 200)
        res = self.curl("--data-binary", "bid", self.url("/echo"))
        self.assertEqual(res.stdout, b"bid")
        self.assertIn("retrying once", self.sluice.output())

    def test_chunked_body_retry_sends_one_terminator(self):
        backend, addr = self.start_backend(args=["--drop-reused", "--verbose"])
        self.start_sluice({"demo": [addr]})
        upload = os.path.join(self.dir, "chunked.bin")
        with open(upload, "wb") as f:
            f.write(b"chunked bid body")
        for _ in range(3):
            res = self.curl("-T", upload, "-H", "content-length:", "-X", "PUT",
                            self.url("/echo"))
            self.assertEqual(res.returncode, 0, res.stderr.decode())
            self.assertEqual(res.stdout, b"chunked bid body")
        self.assertIn("retrying once", self.sluice.output())
        self.assertNotIn("refused", backend.output())  # no stray bytes after a body

    def test_retry_replays_a_body_of_many_small_frames(self):
        _, addr = self.start_backend(args=["--drop-reused"])
        port = self.start_sluice({"demo": [addr]})
        self.assertEqual(self.get("/")[0], 200)  # the kept-alive connection to be dropped
        c = RawClient(port)
        c.start()
        c.request(1, "PUT", "/echo", end_stream=False)  # no content-length: chunked
        # ~62 KB framed: more evbuffer segments than one 16-entry peek holds
        pieces = [bytes([65 + i % 26]) * 1000 for i in range(62)]
        for i, piece in enumerate(pieces):
            c.send(frame(DATA, END_STREAM if i == len(pieces) - 1 else 0, 1, piece))
        body = c.read_body(1)
        self.assertIsNotNone(body, "no complete answer")
        self.assertEqual(body, b"".join(pieces))
        self.assertIn("retrying once", self.sluice.output())
        c.close()

    def test_response_timeout_is_not_retried(self):
        backend, addr = self.start_backend(args=["--verbose"])
        self.start_sluice({"demo": ([addr], {"response_timeout_ms": 300})})
        self.assertEqual(self.get("/")[0], 200)  # a kept-alive connection to reuse
        status, _, _ = self.get("/delay/1000", "-d", "bid")
        self.assertEqual(status, 504)
        self.assertEqual(backend.output().count("/delay/1000 waiting"), 1, backend.output())

    def test_sigterm_lets_requests_in_flight_finish(self):
        backend, addr = self.start_backend(args=["--verbose"])
        self.start_sluice({"demo": [addr]})
        clients = [subprocess.Popen(["curl", "-sS", "--http2-prior-knowledge", "-o", "-",
                                     "-w", "\\n%{http_code}", self.url("/delay/800")],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                   for _ in range(5)]
        wait_until(lambda: backend.output().count("/delay/800 waiting") >= 5,
                   what="the backend to receive 5 requests")
        self.sluice.send_signal(signal.SIGTERM)
        outcomes = [c.communicate(timeout=30) for c in clients]
        for out, err in outcomes:
            self.assertTrue(out.endswith(b"\n200"), out + err)
        self.assertEqual(self.sluice.wait(30), 0, self.sluice.output())
        res = self.curl(self.url("/"), timeout=5)
        self.assertNotEqual(res.returncode, 0)  # no longer listening

    def test_oversized_request_head_gets_431(self):
        _, addr = self.start_backend()
        admin = free_port()
        self.start_sluice({"demo": [addr]}, extra="max_request_header_bytes: 1024\n"
                          "admin_address: 127.0.0.1:%d\n" % admin)
        status, _, _ = self.get("/", "-H", "x-big: " + "a" * 2000)
        self.assertEqual(status, 431)
        self.assertEqual(self.get("/")[0], 200)
        res = self.curl("--http1.1", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                        "x-big: " + "a" * 2000, self.url("/"))
        self.assertEqual(res.stdout, b"431")
        stats_url = "http://127.0.0.1:%d/stats" % admin
        wait_until(lambda: json.load(urllib.request.urlopen(stats_url))["heads_too_large"] == 2,
                   what="both 431s counted")

    def test_routes_pick_the_backend_by_prefix(self):
        _, a = self.start_backend("bidders")
        _, b = self.start_backend("analytics")
        routes = "rules:\n  - path_prefix: /track\n    backend: analytics\n"
        self.start_sluice({"bidders": [a], "analytics": [b]}, rules=routes)
        self.assertEqual(self.get("/track/x")[1]["x-backend-id"], "analytics")
        self.assertEqual(self.get("/bid")[1]["x-backend-id"], "bidders")

    def test_requests_spread_over_servers(self):
        _, a = self.start_backend("one")
        _, b = self.start_backend("two")
        self.start_sluice({"demo": [a, b]})
        ids = {self.get("/")[1]["x-backend-id"] for _ in range(6)}
        self.assertEqual(ids, {"one", "two"})


def hpack_integer(block, at, prefix_bits):
    """RFC 7541 §5.1: (value, position after it)."""
    top = (1 << prefix_bits) - 1
    value = block[at] & top
    at += 1
    if value < top:
        return value, at
    shift = 0
    while True:
        byte = block[at]
        at += 1
        value += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def hpack_skip_string(block, at):
    length, at = hpack_integer(block, at, 7)
    return at + length


def representations(block):
    """How each field of an HPACK block is represented (RFC 7541 §6), as
    "indexed", "incremental" (added to the table), "without" (indexing) or
    "never" (indexed); table size updates left out. No string is decoded."""
    kinds, at = [], 0
    while at < len(block):
        first = block[at]
        if first & 0x80:
            kinds.append("indexed")
            _, at = hpack_integer(block, at, 7)
            continue
        if first & 0xE0 == 0x20:
            _, at = hpack_integer(block, at, 5)
            continue
        kind, prefix = (("incremental", 6) if first & 0x40 else
                        ("never", 4) if first & 0x10 else ("without", 4))
        name_index, at = hpack_integer(block, at, prefix)
        if name_index == 0:
            at = hpack_skip_string(block, at)
        at = hpack_skip_string(block, at)
        kinds.append(kind)
    return kinds


class ResponseHeaderTable(IntegTest):
    """response_header_table_bytes: the fields of a response that repeat are
    indexed; the one the demo backend changes at every response
    (x-connection-requests, its count of requests on the connection) is
    left out of the table."""

    def header_blocks(self, extra="", n=4):
        _, addr = self.start_backend()
        self.start_sluice({"demo": [addr]}, extra=extra)
        c = RawClient(self.sluice_port)
        self.addCleanup(c.close)
        c.start()
        blocks = []
        for stream in range(1, 2 * n, 2):
            c.request(stream, "GET", "/")
            blocks.append(c.wait_for(HEADERS, stream)[3])
        return blocks

    def test_fields_that_repeat_are_indexed_and_a_counter_is_not(self):
        blocks = self.header_blocks()
        kinds = [representations(b) for b in blocks]
        # server, x-backend-id, x-connection-requests and content-type added
        # once; content-length is never added (nghttp2's rule)
        self.assertEqual(kinds[0].count("incremental"), 4, kinds[0])
        for later in kinds[2:]:
            self.assertNotIn("incremental", later, kinds)
            self.assertEqual(later.count("never"), 1, kinds)
            self.assertEqual(later.count("indexed"), len(later) - 2, kinds)
        self.assertLess(len(blocks[3]), len(blocks[0]) - 20, blocks)

    def test_no_table_when_set_to_0(self):
        blocks = self.header_blocks("response_header_table_bytes: 0\n", n=2)
        self.assertGreaterEqual(len(blocks[1]), len(blocks[0]) - 2, blocks)  # a size update, once
        self.assertNotIn("incremental", representations(blocks[1]))

    def test_clients_decode_every_response_of_a_connection(self):
        _, addr = self.start_backend()
        self.start_sluice({"demo": [addr]})
        # one request after the other: one backend connection, its counter
        # new at each response; a field the client could not decode would
        # end the connection (COMPRESSION_ERROR) and fail the rest
        self.assertEqual(self.h2load("-n", "200", "-c", "1", "-m", "1", self.url("/")),
                         (200, 200, 200))
        res = subprocess.run(["nghttp", "-nv", "-m", "6", self.url("/")], capture_output=True,
                             timeout=30)
        out = res.stdout.decode()
        self.assertEqual(res.returncode, 0, out + res.stderr.decode())
        streams = {}
        # nghttp marks a never-indexed field "sensitive"
        fields = re.findall(r"recv \(stream_id=(\d+)(?:, sensitive)?\) ([^:]+): (.*)", out)
        for stream, name, value in fields:
            streams.setdefault(int(stream), {})[name] = value
        self.assertEqual(len(streams), 6, out)
        for fields in streams.values():
            self.assertEqual(fields.get("server"), "sluice-demo-backend", out)
            self.assertEqual(fields.get("x-backend-id"), "backend", out)
            self.assertRegex(fields.get("x-connection-requests", ""), r"^[1-9][0-9]*$", out)


if __name__ == "__main__":
    unittest.main()
