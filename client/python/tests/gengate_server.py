"""Runs the real gengate binary (GENGATE_BINARY) on its built-in fake upstream for tests."""

import json
import os
import subprocess
import threading


class GengateServer:
    """gengate on free loopback ports; `target` is its gRPC address once start() returns."""

    def __init__(self):
        self.target = None
        self._process = None

    def start(self) -> None:
        binary = os.environ.get("GENGATE_BINARY")
        if not binary:
            raise RuntimeError("GENGATE_BINARY must name the gengate binary to test against")
        self._process = subprocess.Popen(
            [binary, "--upstream_url=fake", "--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0"],
            stdout=subprocess.PIPE, text=True)
        for line in self._process.stdout:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("msg") == "serving":
                self.target = record["listen"]
                # Keep draining stdout so gengate never blocks on a full pipe.
                threading.Thread(target=self._process.stdout.read, daemon=True).start()
                return
        code = self._process.wait()
        raise RuntimeError(f"gengate exited with {code} before its serving line")

    def stop(self) -> int:
        """Stops gengate with SIGTERM and returns its exit code."""
        self._process.terminate()
        try:
            return self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            raise
