"""The command line: -t, -V, -h, and startup errors."""

import os
import subprocess
import unittest

from harness import IntegTest, SLUICE

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Cli(IntegTest):
    def run_sluice(self, *args):
        return subprocess.run([SLUICE] + list(args), capture_output=True, timeout=30)

    def test_default_config_checks_ok(self):
        for name in ("conf/sluice.yaml", "conf/examples/multi-backend.yaml"):
            res = self.run_sluice("-t", "-c", os.path.join(ROOT, name))
            self.assertEqual(res.returncode, 0, res.stderr.decode())
            self.assertEqual(res.stdout, b"configuration ok\n")

    def test_bad_config_names_file_and_line(self):
        path = self.write_config("listeners:\n  - adress: 127.0.0.1:1\n")
        res = self.run_sluice("-t", "-c", path)
        self.assertEqual(res.returncode, 1)
        self.assertTrue(res.stderr.decode().startswith(path + ":2: unknown key 'adress'"),
                        res.stderr.decode())

    def test_missing_tls_file_is_reported(self):
        path = self.write_config(
            "listeners:\n  - address: 127.0.0.1:1\n    tls:\n      certificate: %s/nope.pem\n"
            "      key: %s/nope.key\nbackends:\n  - name: b\n    servers: [unix:/x]\n"
            % (self.dir, self.dir))
        res = self.run_sluice("-t", "-c", path)
        self.assertEqual(res.returncode, 1)
        self.assertIn("nope.pem", res.stderr.decode())

    def test_version_and_help(self):
        res = self.run_sluice("-V")
        self.assertEqual(res.returncode, 0)
        self.assertTrue(res.stdout.startswith(b"sluice "))
        res = self.run_sluice("-h")
        self.assertEqual(res.returncode, 0)
        self.assertIn(b"usage: sluice", res.stdout)
        res = self.run_sluice("-x")
        self.assertEqual(res.returncode, 2)

    def test_port_in_use_is_a_clear_startup_error(self):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            path = self.write_config("listeners:\n  - address: 127.0.0.1:%d\nbackends:\n"
                                     "  - name: b\n    servers: [unix:/x]\n" % port)
            res = self.run_sluice("-c", path)
        self.assertEqual(res.returncode, 1)
        self.assertIn(b"cannot listen", res.stderr)


if __name__ == "__main__":
    unittest.main()
