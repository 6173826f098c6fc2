"""The master and its workers: a killed worker is back within a second while
the others serve; reloads under a reconnecting load lose no request and put the
new rules in effect; a broken config changes nothing."""

import os
import signal
import socket
import subprocess
import threading
import time
import unittest

from harness import (SLUICE, SLUICECTL, IntegTest, children, established_to, free_port,
                     wait_until)


class Master(IntegTest):
    def start_two_workers(self, extra=""):
        self.backend, addr = self.start_backend(args=["--verbose"])
        self.backend_addr = addr
        self.start_sluice({"demo": [addr]}, extra="workers: 2\ndecision_header: true\n" + extra)
        wait_until(lambda: len(children(self.sluice.pid)) == 2, what="two workers")

    def write_rules(self, class_name):
        """The config with one more class, made the default: each reload can be
        told apart in x-sluice-decision."""
        text = ("log_level: info\nworkers: 2\ndecision_header: true\n"
                "listeners:\n  - address: 127.0.0.1:%d\n"
                "backends:\n  - name: demo\n    servers: [%s]\n"
                # not sheddable: this is about reloads, not about overload on a
                # starved machine (two generations and ASan on two cores)
                "classes:\n  - name: %s\n    sheddable: false\n"
                % (self.sluice_port, self.backend_addr, class_name))
        self.write_config(text)

    def run_clients(self, count, results, stop):
        def client():  # a new connection per request, as a reconnecting client would
            while not stop.is_set():
                res = self.curl("-s", "-o", "/dev/null", "-w", "%{http_code}", self.url("/"),
                                timeout=10)
                results.append(res.stdout.decode())
        threads = [threading.Thread(target=client) for _ in range(count)]
        for t in threads:
            t.start()
        return threads

    def test_a_killed_worker_is_replaced_and_the_others_serve(self):
        self.start_two_workers()
        before = children(self.sluice.pid)
        results, stop = [], threading.Event()
        threads = self.run_clients(2, results, stop)
        try:
            wait_until(lambda: len(results) >= 20, what="traffic")
            started = time.monotonic()
            subprocess.run(["kill", "-9", str(before[0])], check=True)
            wait_until(lambda n=len(results): len(results) >= n + 20, what="traffic after")
        finally:
            stop.set()
            for t in threads:
                t.join()
        # at most what the killed worker had in flight: one request per client
        self.assertLessEqual(len([r for r in results if r != "200"]), 2, results)
        self.assertEqual(self.get("/")[0], 200)  # the other worker serves meanwhile
        wait_until(lambda: len(children(self.sluice.pid)) == 2 and
                   before[0] not in children(self.sluice.pid), timeout=5, what="a new worker")
        self.assertLess(time.monotonic() - started, 1.5)
        self.assertIn("(pid %d) was killed by signal 9" % before[0], self.sluice.output())
        for _ in range(10):
            self.assertEqual(self.get("/")[0], 200)

    def test_reloads_under_load_lose_nothing(self):
        self.start_two_workers()
        results, stop = [], threading.Event()
        threads = self.run_clients(2, results, stop)
        try:
            for i in range(5):
                wait_until(lambda n=len(results): len(results) >= n + 20, what="traffic")
                self.write_rules("gen%d" % i)
                self.sluice.send_signal(1)  # SIGHUP
                wait_until(lambda i=i: self.get("/")[1].get("x-sluice-decision") ==
                           "class=gen%d" % i, what="reload %d in effect" % i)
            wait_until(lambda n=len(results): len(results) >= n + 20, what="traffic")
        finally:
            stop.set()
            for t in threads:
                t.join()
        failed = [r for r in results if r != "200"]
        self.assertEqual(failed, [], "of %d requests" % len(results))
        self.assertGreater(len(results), 100)
        self.assertEqual(self.sluice.output().count("reloaded"), 5)
        wait_until(lambda: len(children(self.sluice.pid)) == 2, what="the old workers to exit")

    def test_reloads_lose_nothing_on_long_lived_multiplexed_connections(self):
        """Exchanges keep their connections across reloads, and h2load, like many
        clients, never retries a stream refused by a GOAWAY: each connection here
        makes 50 requests, 4 at a time, over half a second, so reloads land in
        the middle of connections, and not one request may fail. HTTP/1.1
        keep-alive connections take turns with them."""
        self.start_two_workers()
        runs, stop = [], threading.Event()

        def load():
            while not stop.is_set():
                h1 = ["--h1"] if len(runs) % 2 else []
                runs.append(self.h2load("-c", "4", "-m", "4", "-n", "200", "--rps", "100",
                                        *h1, self.url("/")))
        thread = threading.Thread(target=load)
        thread.start()
        try:
            for i in range(5):
                wait_until(lambda n=len(runs): len(runs) >= n + 1, what="a run")
                # the next run's clients are connected: the reload lands mid-run
                wait_until(lambda: established_to(self.sluice_port) >= 4, what="a run's clients")
                self.write_rules("gen%d" % i)
                self.sluice.send_signal(signal.SIGHUP)
                wait_until(lambda i=i: self.get("/")[1].get("x-sluice-decision") ==
                           "class=gen%d" % i, what="reload %d in effect" % i)
            wait_until(lambda n=len(runs): len(runs) >= n + 1, what="a run after")
        finally:
            stop.set()
            thread.join()
        requests = sum(r[0] for r in runs)
        self.assertEqual(sum(r[2] for r in runs), requests, runs)
        self.assertEqual(self.sluice.output().count("reloaded"), 5)
        self.assertIn("draining", self.sluice.output())  # the old workers had connections

    def test_signals_through_the_pid_file(self):
        """sluice -s reload|stop and sluicectl reload find the master through
        pid_file; it is removed at exit."""
        pid_file = os.path.join(self.dir, "sluice.pid")
        self.start_two_workers(extra="pid_file: %s\n" % pid_file)
        config = os.path.join(self.dir, "sluice.yaml")
        with open(pid_file) as f:
            self.assertEqual(int(f.read()), self.sluice.pid)
        res = subprocess.run([SLUICE, "-s", "reload", "-c", config], capture_output=True,
                             timeout=10)
        self.assertEqual(res.returncode, 0, res.stderr)
        wait_until(lambda: self.sluice.output().count("reloaded") == 1, what="the first reload")
        res = subprocess.run([SLUICECTL, "reload", "-c", config], capture_output=True, timeout=10)
        self.assertEqual(res.returncode, 0, res.stderr)
        wait_until(lambda: self.sluice.output().count("reloaded") == 2, what="the second reload")
        res = subprocess.run([SLUICE, "-s", "stop", "-c", config], capture_output=True, timeout=10)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(self.sluice.wait(), 0, self.sluice.output())
        self.assertFalse(os.path.exists(pid_file))
        res = subprocess.run([SLUICE, "-s", "reload", "-c", config], capture_output=True,
                             timeout=10)
        self.assertEqual(res.returncode, 1)
        self.assertIn(b"is sluice running?", res.stderr)
        res = subprocess.run([SLUICE, "-s", "restart", "-c", config], capture_output=True,
                             timeout=10)
        self.assertEqual(res.returncode, 2)

    def test_a_dropped_listener_refuses_after_a_reload(self):
        """The sockets a reload drops are closed before the new workers start:
        none of them may keep one that nobody accepts on."""
        extra_port = free_port()
        self.backend, self.backend_addr = self.start_backend()
        port = free_port()
        self.start_sluice({"demo": [self.backend_addr]}, extra="workers: 2\n", port=port,
                          listeners=["  - address: 127.0.0.1:%d\n" % port,
                                     "  - address: 127.0.0.1:%d\n" % extra_port])
        res = self.curl("-s", "-o", "/dev/null", "-w", "%{http_code}",
                        self.url("/", port=extra_port))
        self.assertEqual(res.stdout, b"200")
        self.write_rules("gen0")  # one listener only
        self.sluice.send_signal(signal.SIGHUP)
        wait_until(lambda: "reloaded" in self.sluice.output(), what="the reload")
        # refused once the old workers, draining, close their copies; a new
        # worker holding one would keep it accepting for good
        wait_until(lambda: self.is_refused(extra_port), timeout=5,
                   what="the dropped listener to refuse connections")
        self.assertEqual(self.get("/")[0], 200)

    @staticmethod
    def is_refused(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except ConnectionRefusedError:
            return True
        return False

    def test_a_stop_right_after_a_reload_lets_draining_requests_finish(self):
        self.start_two_workers()
        slow = subprocess.Popen(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null",
                                 "-w", "%{http_code}", self.url("/delay/1000")],
                                stdout=subprocess.PIPE)
        wait_until(lambda: "/delay/1000 waiting" in self.backend.output(), what="the request")
        self.write_rules("gen0")
        self.sluice.send_signal(signal.SIGHUP)
        wait_until(lambda: "reloaded" in self.sluice.output(), what="the reload")
        self.sluice.send_signal(signal.SIGTERM)
        out, _ = slow.communicate(timeout=30)
        self.assertEqual(out, b"200")
        self.assertEqual(self.sluice.wait(), 0, self.sluice.output())

    def test_ctrl_c_drains_gracefully(self):
        """A terminal's Ctrl-C reaches the master and every worker at once: the
        request in flight still completes and sluice exits 0."""
        self.start_two_workers()
        slow = subprocess.Popen(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null",
                                 "-w", "%{http_code}", self.url("/delay/700")],
                                stdout=subprocess.PIPE)
        wait_until(lambda: "/delay/700 waiting" in self.backend.output(),
                   what="the slow request to reach the backend")
        os.killpg(self.sluice.pid, signal.SIGINT)  # the group: master and workers
        out, _ = slow.communicate(timeout=30)
        self.assertEqual(out, b"200")
        self.assertEqual(self.sluice.wait(), 0, self.sluice.output())
        self.assertNotIn("while stopping", self.sluice.output())

    def test_workers_pinned_to_cpus(self):
        self.start_two_workers(extra="worker_cpu_affinity: true\n")
        allowed = sorted(os.sched_getaffinity(self.sluice.pid))
        want = sorted([[allowed[i % len(allowed)]] for i in range(2)])

        def pinned():  # each child pins itself right after the fork
            return sorted(sorted(os.sched_getaffinity(pid)) for pid in children(self.sluice.pid))
        wait_until(lambda: pinned() == want, what="the workers to pin themselves")

    def test_a_broken_config_changes_nothing(self):
        self.start_two_workers()
        workers = children(self.sluice.pid)
        self.write_config("listeners: [\n")
        self.sluice.send_signal(1)
        wait_until(lambda: "still running the previous config" in self.sluice.output(),
                   what="the reload to be refused")
        self.assertIn("sluice.yaml:", self.sluice.output())
        self.assertEqual(children(self.sluice.pid), workers)
        self.assertEqual(self.get("/")[0], 200)


if __name__ == "__main__":
    unittest.main()
