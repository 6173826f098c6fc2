"""One session of every kind under valgrind (memcheck): HTTP/2 streams with
bodies, HTTP/1.1 keep-alive, a client reset, a backend that fails, a flood cut
off, then SIGTERM. Master and worker must end with no error and no definite
leak. The plain build only: ASan's build cannot run under valgrind."""

import glob
import os
import re
import shutil
import struct
import subprocess
import unittest

from harness import SLUICE, IntegTest, is_asan_build
from test_h2_attacks import Abuser, request_block
from test_h2_malformed import END_HEADERS, END_STREAM, HEADERS, PING, RST_STREAM, RawClient, frame


@unittest.skipUnless(shutil.which("valgrind"), "valgrind is not installed")
@unittest.skipIf(is_asan_build(), "an ASan build does not run under valgrind")
class Valgrind(IntegTest):
    def test_a_session_of_every_kind_has_no_error(self):
        _, addr = self.start_backend()
        logs = os.path.join(self.dir, "valgrind.%p.log")
        wrapper = ["valgrind", "--error-exitcode=99", "--leak-check=full",
                   "--errors-for-leak-kinds=definite", "--log-file=" + logs]
        routes = "rules:\n  - path_prefix: /dead\n    backend: dead\n"
        self.start_sluice({"demo": [addr], "dead": ["unix:" + os.path.join(self.dir, "no.sock")]},
                          rules=routes, extra="workers: 1\n", wrapper=wrapper,
                          start_timeout=60)
        body = os.path.join(self.dir, "body")
        with open(body, "wb") as f:
            f.write(b"x" * 3000)
        requests, _, ok_2xx = self.h2load("-n", "200", "-c", "4", "-m", "8", "-d", body,
                                          self.url("/echo"))
        self.assertEqual(ok_2xx, requests)
        for _ in range(3):
            res = self.curl("--http1.1", "-s", "-o", "/dev/null", "-o", "/dev/null", "-w",
                            "%{http_code}",
                            self.url("/"), self.url("/"), timeout=60)
            self.assertEqual(res.stdout, b"200200")
        self.assertEqual(self.get("/dead")[0], 502)
        c = RawClient(self.sluice_port)
        c.start()
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block("GET", "/hang")) +
               frame(RST_STREAM, 0, 1, struct.pack(">I", 8)) + frame(PING, 0, 0, b"resetok!"))
        self.assertIsNotNone(c.wait_for(PING))
        c.close()
        Abuser(self.sluice_port).flood(frame(PING, 0, 0, b"%08d" % i) for i in range(3000))
        self.assertEqual(self.sluice.stop(timeout=60), 0)
        reports = glob.glob(os.path.join(self.dir, "valgrind.*.log"))
        self.assertGreaterEqual(len(reports), 2, "the master's and the worker's")
        for path in reports:
            with open(path) as f:
                text = f.read()
            summary = re.search(r"ERROR SUMMARY: (\d+) errors", text)
            self.assertIsNotNone(summary, text[-2000:])
            self.assertEqual(summary.group(1), "0", text[-4000:])


if __name__ == "__main__":
    unittest.main()
