"""HTTP/2 abuse from one connection, with a good client on another: the abuser
gets GOAWAY ENHANCE_YOUR_CALM within client_glitch_limit frames that did no
work and is closed, the good client loses nothing, and the worker stays small.
Every attack runs against the defaults."""

import json
import os
import re
import signal
import socket
import struct
import threading
import time
import unittest
import urllib.request

from harness import IntegTest, children, free_port, wait_until
from test_h2_malformed import (ACK, CONTINUATION, DATA, END_HEADERS, END_STREAM, GOAWAY,
                               HEADERS, PING, PREFACE, RST_STREAM, SETTINGS, WINDOW_UPDATE,
                               frame, hpack_int, literal)

PRIORITY = 2
PRIORITY_UPDATE = 0x10  # RFC 9218 §7.1
ENHANCE_YOUR_CALM = 0xB
GLITCH_LIMIT = 1000  # client_glitch_limit's default (docs/config.md)
RSS_LIMIT_KIB = 32 * 1024


def request_block(method="GET", path="/"):
    return (literal(":method", method) + literal(":scheme", "http") + literal(":path", path) +
            literal(":authority", "x"))


def split_frames(buf):
    """The whole frames at the start of buf, as (type, flags, stream, payload),
    and the bytes after them."""
    frames = []
    while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
        length = int.from_bytes(buf[:3], "big")
        stream = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
        frames.append((buf[3], buf[4], stream, buf[9:9 + length]))
        buf = buf[9 + length:]
    return frames, buf


class Abuser:
    """A raw connection that sends frames as fast as the socket takes them while
    a thread reads what comes back."""

    def __init__(self, port, source="127.0.0.1"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                             source_address=(source, 0))
        self.frames = []  # (type, flags, stream, payload), in the order read
        self.closed_at = None
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
        # as a real client does: sluice's SETTINGS (no RFC 7540 priorities
        # among them) apply from the ACK on
        buf = self.read_until_settings()
        self.sock.sendall(frame(SETTINGS, ACK, 0))
        self.reader = threading.Thread(target=self.read_all, args=(buf,))
        self.reader.start()

    def read_until_settings(self):
        buf = b""
        while not any(t == SETTINGS and not f & ACK for t, f, _, _ in self.frames):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("closed before sluice's SETTINGS came")
            frames, buf = split_frames(buf + chunk)
            self.frames += frames
        return buf

    def read_all(self, buf):
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.closed_at = time.monotonic()
                return
            frames, buf = split_frames(buf + chunk)
            self.frames += frames

    def flood(self, frames, batch=50):
        """Sends the frames (an iterable of bytes) until they run out or the
        connection breaks; returns when sluice has closed it."""
        pending = []
        try:
            for f in frames:
                pending.append(f)
                if len(pending) == batch:
                    self.sock.sendall(b"".join(pending))
                    pending = []
            self.sock.sendall(b"".join(pending))
        except OSError:
            pass  # closed by sluice mid-flood
        self.reader.join(timeout=15)
        self.sock.close()

    def goaway_code(self):
        codes = [struct.unpack(">I", p[4:8])[0] for t, _, _, p in self.frames if t == GOAWAY]
        return codes[-1] if codes else None

    def count(self, ftype, flags=None):
        return len([f for f in self.frames if f[0] == ftype and (flags is None or f[1] == flags)])


class H2Attacks(IntegTest):
    def setUp(self):
        super().setUp()
        _, addr = self.start_backend()
        self.admin_port = free_port()
        self.port = self.start_sluice({"demo": [addr]}, extra="workers: 1\nadmin_address: "
                                      "127.0.0.1:%d\n" % self.admin_port)
        # the master binds the listeners, so they answer before the worker runs
        self.worker = wait_until(lambda: children(self.sluice.pid), what="the worker")[0]

    def attack(self, frames):
        """Runs one attack while a good client sends 300 requests, 4 at a time,
        at 150 a second on its own connection; returns the abuser."""
        good = {}
        client = threading.Thread(target=lambda: good.update(result=self.h2load(
            "-c", "1", "-m", "4", "-n", "300", "--rps", "150", self.url("/"))))
        client.start()
        time.sleep(0.2)  # the good client is under way: the attack lands mid-run
        abuser = Abuser(self.port)
        started = time.monotonic()
        abuser.flood(frames)
        client.join()
        self.assertIsNotNone(abuser.closed_at, "the abuser's connection stayed open")
        self.assertLess(abuser.closed_at - started, 3)
        self.assertEqual(abuser.goaway_code(), ENHANCE_YOUR_CALM, abuser.frames[-3:])
        requests, _, ok_2xx = good["result"]
        self.assertEqual(ok_2xx, requests, "the good client lost requests")
        self.assert_worker_small()
        return abuser

    def assert_worker_small(self):
        with open("/proc/%d/maps" % self.worker) as f:
            if "libasan" in f.read():
                return  # ASan's shadow memory is not sluice's
        with open("/proc/%d/status" % self.worker) as f:
            peak = int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1))
        self.assertLess(peak, RSS_LIMIT_KIB)

    def test_rapid_reset(self):
        def frames():
            for i in range(20000):
                stream = 2 * i + 1
                yield frame(HEADERS, END_HEADERS | END_STREAM, stream, request_block())
                yield frame(RST_STREAM, 0, stream, struct.pack(">I", 8))
        abuser = self.attack(frames())
        # what the GOAWAY says was processed: the cut-off came within the limit
        last = [struct.unpack(">I", p[:4])[0] for t, _, _, p in abuser.frames if t == GOAWAY][-1]
        self.assertLessEqual(last, 2 * (GLITCH_LIMIT + 1) + 1)

    def test_ping_flood(self):
        abuser = self.attack(frame(PING, 0, 0, b"%08d" % i) for i in range(100000))
        self.assertLessEqual(abuser.count(PING, ACK), GLITCH_LIMIT + 1)

    def test_a_flood_read_at_once_meets_the_same_limit(self):
        """The worker stopped, a whole flood waits in the socket and is read in
        one go: nghttp2 still takes it a slice at a time with each slice's ACKs
        sent before the next, so the client sees the ACKs up to the cut-off, as
        when the flood came in small reads."""
        abuser = Abuser(self.port)
        wait_until(lambda: abuser.count(SETTINGS) > 0, what="sluice's SETTINGS")
        os.kill(self.worker, signal.SIGSTOP)
        try:  # 51 KB: the socket's buffers hold it all
            abuser.sock.sendall(b"".join(frame(PING, 0, 0, b"%08d" % i) for i in range(3000)))
        finally:
            os.kill(self.worker, signal.SIGCONT)
        abuser.reader.join(timeout=15)
        abuser.sock.close()
        self.assertEqual(abuser.goaway_code(), ENHANCE_YOUR_CALM)
        acks = abuser.count(PING, ACK)
        self.assertGreater(acks, GLITCH_LIMIT // 2)
        self.assertLessEqual(acks, GLITCH_LIMIT + 1)

    def test_an_address_cut_off_gets_a_smaller_budget_for_a_while(self):
        """Cut off once, 127.0.0.1's next connection is cut off after a
        sixteenth of the limit; 127.0.0.2, never cut off, still has all of it."""
        def pings():
            return (frame(PING, 0, 0, b"%08d" % i) for i in range(100000))
        acks = {}
        for name, source in (("first", "127.0.0.1"), ("again", "127.0.0.1"),
                             ("other", "127.0.0.2")):
            abuser = Abuser(self.port, source)
            abuser.flood(pings())
            self.assertEqual(abuser.goaway_code(), 0xb, name)
            acks[name] = abuser.count(PING, ACK)
        self.assertLessEqual(acks["again"], GLITCH_LIMIT // 16 + 1, acks)
        self.assertGreater(acks["other"], GLITCH_LIMIT // 2, acks)
        self.assertIn("reduced client_glitch_limit", self.sluice.output())

    def test_a_client_behind_a_cut_off_address_loses_nothing_without_glitches(self):
        """An exchange behind the same NAT address as an abuser: once the abuser
        is cut off, the address's new connections have a sixteenth of the
        budget, which real requests never touch: h2load's 2000 requests over
        fresh connections from 127.0.0.1 all succeed, while a PING flood from
        it is still cut off at the smaller limit."""
        def pings():
            return (frame(PING, 0, 0, b"%08d" % i) for i in range(100000))
        abuser = Abuser(self.port, "127.0.0.1")
        abuser.flood(pings())
        self.assertEqual(abuser.goaway_code(), ENHANCE_YOUR_CALM)
        requests, _, ok_2xx = self.h2load("-c", "4", "-m", "4", "-n", "2000", self.url("/"))
        self.assertEqual((requests, ok_2xx), (2000, 2000))
        again = Abuser(self.port, "127.0.0.1")
        again.flood(pings())
        self.assertEqual(again.goaway_code(), ENHANCE_YOUR_CALM)
        self.assertLessEqual(again.count(PING, ACK), GLITCH_LIMIT // 16 + 1)

    def test_settings_flood(self):
        abuser = self.attack(frame(SETTINGS, 0, 0) for _ in range(100000))
        self.assertLessEqual(abuser.count(SETTINGS, ACK), GLITCH_LIMIT + 2)

    def test_window_update_flood(self):
        self.attack(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1)) for _ in range(100000))

    def test_priority_flood(self):
        self.attack(frame(PRIORITY, 0, 2 * i + 1, struct.pack(">IB", 0, 15))
                    for i in range(100000))

    def test_priority_update_flood(self):
        self.attack(frame(PRIORITY_UPDATE, 0, 0, struct.pack(">I", 2 * i + 1) + b"u=7")
                    for i in range(100000))

    def test_unknown_frame_flood(self):
        """Frames of a type no RFC defines, which an endpoint must ignore
        (RFC 9113 §4.1), cost a read each all the same."""
        self.attack(frame(0xFA, 0, 0, b"x" * 8) for _ in range(100000))

    def test_empty_data_flood(self):
        def frames():
            yield frame(HEADERS, END_HEADERS, 1, request_block("POST", "/hang"))
            for _ in range(100000):
                yield frame(DATA, 0, 1)
        self.attack(frames())

    def test_continuation_flood(self):
        def frames():
            yield frame(HEADERS, 0, 1, request_block())
            for i in range(100000):
                yield frame(CONTINUATION, 0, 1, literal("x-c%d" % i, "v"))
        self.attack(frames())

    def test_hpack_bomb(self):
        """One 4000-byte field in the dynamic table, then header blocks of 16000
        one-byte references to it: 64 MB decoded per 16 KB frame."""
        insert = b"\x40" + hpack_int(5, 7, 0) + b"x-big" + hpack_int(4000, 7, 0) + b"v" * 4000

        def frames():
            yield frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block() + insert)
            for i in range(1, 200):
                block = request_block() + b"\xbe" * 16000  # index 62: the newest entry
                yield frame(HEADERS, END_HEADERS | END_STREAM, 2 * i + 1, block)
        started = time.monotonic()
        abuser = self.attack(frames())
        # cut off at the first bomb, not after decoding what it asked for
        self.assertLess(abuser.count(HEADERS), 3)
        self.assertLess(time.monotonic() - started, 10)

    def test_stream_id_exhaustion(self):
        """A client that opened the last stream id first can open no other stream
        (RFC 9113 §5.1.1): its HEADERS on older ids are decoded and ignored,
        frames that do no work."""
        last = 2**31 - 1
        frames = [frame(HEADERS, END_HEADERS | END_STREAM, last, request_block())]
        frames += [frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block())
                   for _ in range(2 * GLITCH_LIMIT)]
        abuser = self.attack(frames)
        # the request on the last id was taken (test_h2_malformed sees it answered)
        goaway = [p for t, _, _, p in abuser.frames if t == GOAWAY][-1]
        self.assertEqual(struct.unpack(">I", goaway[:4])[0] & 0x7FFFFFFF, last)

    def test_headers_on_an_idle_stream_passed_over(self):
        """PRIORITY makes stream 1 idle, and HEADERS on stream 3 pass it over: its
        id can never open, and HEADERS on it are ignored like any older id's."""
        frames = [frame(PRIORITY, 0, 1, struct.pack(">IB", 0, 15)),
                  frame(HEADERS, END_HEADERS | END_STREAM, 3, request_block())]
        frames += [frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block())
                   for _ in range(2 * GLITCH_LIMIT)]
        self.attack(frames)

    def test_an_exchange_cancelling_its_late_bids_keeps_its_connection(self):
        """400 cancelled requests a second for 4 s: 1600 resets, more than the
        limit, but never half of it within a second."""
        c = Abuser(self.port)
        start = time.monotonic()
        stream = 1
        for tick in range(160):  # 10 every 25 ms
            burst = b""
            for _ in range(10):
                burst += frame(HEADERS, END_HEADERS | END_STREAM, stream, request_block("GET", "/hang"))
                burst += frame(RST_STREAM, 0, stream, struct.pack(">I", 8))
                stream += 2
            c.sock.sendall(burst)
            time.sleep(max(0, start + (tick + 1) * 0.025 - time.monotonic()))
        c.sock.sendall(frame(PING, 0, 0, b"stillok!"))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not [f for f in c.frames if f[3] == b"stillok!"]:
            time.sleep(0.05)
        self.assertIsNone(c.goaway_code())
        self.assertTrue([f for f in c.frames if f[0] == PING and f[3] == b"stillok!"])
        c.sock.close()
        c.reader.join()

    def test_slowloris(self):
        """500 connections whose heads come a piece at a time (HTTP/1.1: a byte a
        second; HTTP/2: a CONTINUATION every 1.5 s) are all cut off within
        client_header_timeout_ms's default 10 s, while a good client is served."""
        good = {}
        client = threading.Thread(target=lambda: good.update(result=self.h2load(
            "-c", "1", "-m", "4", "-n", "1800", "--rps", "150", self.url("/"))))
        client.start()
        conns = []
        for i in range(500):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            if i % 2:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            else:
                sock.sendall(PREFACE + frame(SETTINGS, 0, 0) +
                             frame(HEADERS, 0, 1, request_block()))
            sock.setblocking(False)
            conns.append({"sock": sock, "h1": bool(i % 2), "got": b"", "closed": None, "n": 0})
        started = time.monotonic()
        while time.monotonic() - started < 14 and any(c["closed"] is None for c in conns):
            tick = time.monotonic() - started
            for c in conns:
                if c["closed"] is not None:
                    continue
                try:
                    chunk = c["sock"].recv(65536)
                    if not chunk:
                        c["closed"] = tick
                    c["got"] += chunk
                except BlockingIOError:
                    pass
                except OSError:
                    c["closed"] = tick
                due = int(tick) if c["h1"] else int(tick / 1.5)
                if c["closed"] is None and c["n"] < due:
                    c["n"] += 1
                    piece = b"x" if c["h1"] else frame(CONTINUATION, 0, 1,
                                                       literal("x-s%d" % c["n"], "v"))
                    try:
                        c["sock"].send(piece)
                    except OSError:
                        c["closed"] = tick
            time.sleep(0.05)
        for c in conns:
            c["sock"].close()
        client.join()
        late = [(c["h1"], c["closed"]) for c in conns if c["closed"] is None or c["closed"] > 11]
        self.assertEqual(late, [], "connections that outlived the header timeout")
        h1 = [c for c in conns if c["h1"]]
        self.assertEqual([c for c in h1 if not c["got"].startswith(b"HTTP/1.1 408")], [])
        h2_codes = [[struct.unpack(">I", p[4:8])[0] for t, _, _, p in split_frames(c["got"])[0]
                     if t == GOAWAY] for c in conns if not c["h1"]]
        self.assertEqual([codes for codes in h2_codes if codes != [ENHANCE_YOUR_CALM]], [])
        requests, _, ok_2xx = good["result"]
        self.assertEqual(ok_2xx, requests, "the good client lost requests")
        self.assert_worker_small()

    def test_the_cut_offs_are_counted(self):
        self.attack(frame(PING, 0, 0, b"%08d" % i) for i in range(5000))
        self.attack(frame(SETTINGS, 0, 0) for _ in range(5000))
        url = "http://127.0.0.1:%d/stats" % self.admin_port
        stats = json.load(urllib.request.urlopen(url))
        self.assertEqual(stats["h2_glitch_closes"], 2)


if __name__ == "__main__":
    unittest.main()
