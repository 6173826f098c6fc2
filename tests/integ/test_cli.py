"""The command line: -t, -V, -h, and startup errors."""

import os
import subprocess
import unittest

from harness import IntegTest, SLUICE, can_connect, wait_until

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

    def test_unix_path_of_a_running_server_is_left_alone(self):
        backend, addr = self.start_backend()
        path = addr[len("unix:"):]
        cfg = self.write_config("listeners:\n  - address: %s\nbackends:\n"
                                "  - name: b\n    servers: [unix:/x]\n" % addr)
        res = self.run_sluice("-c", cfg)
        self.assertEqual(res.returncode, 1)
        self.assertIn(b"a running server accepts on " + path.encode(), res.stderr)
        res = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                              "--unix-socket", path, "http://x/"], capture_output=True, timeout=10)
        self.assertEqual(res.stdout, b"200")  # its socket file is still there

    def test_stale_unix_socket_is_replaced(self):
        import socket
        path = os.path.join(self.dir, "stale.sock")
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(path)  # a socket file nobody listens on any more
        cfg = self.write_config("listeners:\n  - address: unix:%s\nbackends:\n"
                                "  - name: b\n    servers: [unix:/x]\n" % path)
        proc = self.start("sluice", [SLUICE, "-c", cfg])
        wait_until(lambda: can_connect("unix:" + path) or not proc.is_running(), what="sluice")
        self.assertTrue(proc.is_running(), proc.output())


if __name__ == "__main__":
    unittest.main()
