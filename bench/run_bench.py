#!/usr/bin/env python3
"""Runs gengate's benchmark: gengate against the mock upstream hit directly and through nginx.

Starts bench_mock_upstream, gengate and (where installed) nginx on 127.0.0.1, drives them with
bench_loadgen (and h2load as a cross-check), reads CPU time and RSS of the processes from /proc,
prints a table and writes bench/results/<date>.json. Exits 1 if any run had errors, 2 if the
harness itself could not run. Targets from DESIGN.md section 6 are reported, never asserted.

Standard library only. See bench/README.md.
"""

import argparse
import datetime
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class HarnessError(Exception):
    """The benchmark could not run (a process did not start, a tool failed)."""


# ----------------------------------------------------------------------------- processes


def cpu_seconds_of(pid):
    """utime + stime of one process (all its threads, live and gone) in seconds; 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[0] is field 3 (state): utime is field 14, stime field 15.
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_kib_of(pid):
    """VmRSS of one process in KiB; 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return 0


def count_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


NICE = 0  # --nice: the priority of everything the harness starts


def launcher(cpu):
    """The command prefix that pins to `cpu` (None: anywhere) at the --nice priority."""
    prefix = ["nice", "-n", str(NICE)] if NICE else []
    return prefix + (["taskset", "-c", cpu] if cpu is not None else [])


class Service:
    """A process the harness started and watches: CPU and RSS summed over it and its children
    (nginx's master and worker)."""

    def __init__(self, name, argv, log_path, env=None, cpu=None):
        self.name = name
        self.log_path = log_path
        command = launcher(cpu) + argv
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(
            command, stdout=self.log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL
        )
        self.pid = self.process.pid

    def pids(self):
        return [self.pid] + children_of(self.pid)

    def cpu_seconds(self):
        return sum(cpu_seconds_of(p) for p in self.pids())

    def rss_kib(self):
        return sum(rss_kib_of(p) for p in self.pids())

    def fds(self):
        return sum(count_fds(p) for p in self.pids())

    def alive(self):
        return self.process.poll() is None

    def exit_description(self):
        code = self.process.poll()
        if code is None:
            return "running"
        if code < 0:
            return f"killed by signal {signal.Signals(-code).name}"
        return f"exited with status {code}"

    def log_tail(self, lines=5):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-lines:]).decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def wait_for_line(path, pattern, service, timeout=15.0):
    """The first match of `pattern` in the file `path`, waiting for it to be written."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, "rb") as f:
                for line in f:
                    match = regex.search(line.decode(errors="replace"))
                    if match:
                        return match
        except OSError:
            pass
        if not service.alive():
            raise HarnessError(
                f"{service.name} {service.exit_description()}: {service.log_tail()}"
            )
        time.sleep(0.05)
    raise HarnessError(f"{service.name} did not print /{pattern}/ in {timeout} s")


def free_port():
    """A port that was free a moment ago (nginx cannot listen on port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sampler:
    """Samples RSS and open fds of services every `period` seconds while a run goes on."""

    def __init__(self, services, period=0.2):
        self.services = services
        self.period = period
        self.samples = []  # (monotonic time, {name: (rss_kib, fds)})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            now = time.monotonic()
            self.samples.append((now, {s.name: (s.rss_kib(), s.fds()) for s in self.services}))
            self._stop.wait(self.period)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def peak(self, name, begin=None, end=None, index=0):
        values = [
            sample[name][index]
            for t, sample in self.samples
            if name in sample and (begin is None or t >= begin) and (end is None or t <= end)
        ]
        return max(values) if values else 0


def run_tool(argv, cpu, timeout, on_stderr_line=None):
    """Runs a client (bench_loadgen, h2load) to completion. Returns (stdout, stderr, CPU seconds
    the client used, exit code)."""
    command = launcher(cpu) + argv
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    out_chunks, err_lines = [], []

    def read_out():
        out_chunks.append(process.stdout.read())

    def read_err():
        for raw in process.stderr:
            line = raw.decode(errors="replace")
            err_lines.append(line)
            if on_stderr_line:
                on_stderr_line(line, time.monotonic())

    readers = [threading.Thread(target=read_out), threading.Thread(target=read_err)]
    for reader in readers:
        reader.start()
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        # wait4 rather than wait: it also returns the client's CPU time.
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join()
    return (
        b"".join(out_chunks).decode(errors="replace"),
        "".join(err_lines),
        usage.ru_utime + usage.ru_stime,
        process.returncode,
    )


# ----------------------------------------------------------------------------- the bench


class Bench:
    def __init__(self, options):
        self.options = options
        self.quick = options.quick
        self.build = os.path.abspath(options.build)
        self.gengate_bin = os.path.abspath(options.gengate or
                                           os.path.join(self.build, "server", "gengate"))
        self.mock_bin = os.path.join(self.build, "bench", "bench_mock_upstream")
        self.loadgen_bin = os.path.join(self.build, "bench", "bench_loadgen")
        self.floor_bin = os.path.join(self.build, "bench", "bench_grpc_floor")
        self.floor = None
        for path in (self.gengate_bin, self.mock_bin, self.loadgen_bin):
            if not os.access(path, os.X_OK):
                raise HarnessError(f"{path} is missing: run `make build` first")
        self.nginx_bin = shutil.which("nginx") or (
            "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
        )
        self.h2load_bin = shutil.which("h2load")
        self.tmp = tempfile.mkdtemp(prefix="gengate-bench-")
        self.capture_dir = os.path.join(self.tmp, "capture")
        os.makedirs(self.capture_dir)
        self.services = []
        self.runs = []
        self.rounds = []  # the rows of run_rounds
        self.notes = []
        self.errors = 0
        self.embeddings_served = True
        self.embeddings_problem = None
        self.restarts = 0
        self.crashes = []  # with the last lines of the crashed gengate's log, for the JSON
        self._pick_cpus()
        self._raise_fd_limit()

        # Durations: full run about 8 minutes, quick about 1.5.
        self.warmup = 0.5 if self.quick else 1.0
        self.duration = 1.5 if self.quick else 6.0
        self.concurrencies = [1, 64] if self.quick else [1, 16, 64, 256]
        self.open_rate = options.open_rate
        self.hold_streams = options.hold_streams or (1000 if self.quick else 10000)
        self.hold_seconds = options.hold_seconds or (5.0 if self.quick else 30.0)
        self.round_count = options.rounds if options.rounds is not None else (2 if self.quick else 5)
        self.round_seconds = 1.0 if self.quick else 2.0

    # --- environment

    def _pick_cpus(self):
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 2 and shutil.which("taskset") and not self.options.no_pin:
            # The proxy under test (gengate or nginx) gets one CPU to itself; the load generator
            # and the mock upstream share the other.
            self.proxy_cpu = str(cpus[0])
            self.client_cpu = ",".join(str(c) for c in cpus[1:])
            self.pinning = f"gengate and nginx on CPU {self.proxy_cpu}; mock upstream, " \
                           f"bench_loadgen and h2load on CPU {self.client_cpu}"
        else:
            self.proxy_cpu = self.client_cpu = None
            self.pinning = "not pinned"

    def _raise_fd_limit(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 65536
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(wanted, hard)))
        except (ValueError, OSError):
            # Without CAP_SYS_RESOURCE the hard limit is the ceiling.
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        self.fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if self.fd_limit < wanted:
            self.notes.append(
                f"open-file limit raised to {self.fd_limit}, not {wanted} (the hard limit)"
            )

    def start(self, name, argv, env=None, cpu=None):
        service = Service(name, argv, os.path.join(self.tmp, f"{name}.log"), env=env, cpu=cpu)
        self.services.append(service)
        return service

    def stop_all(self):
        for service in reversed(self.services):
            service.stop()
        self.services = []

    def start_mock(self):
        self.mock = self.start(
            "mock",
            [self.mock_bin, f"--capture_dir={self.capture_dir}"],
            cpu=self.client_cpu,
        )
        self.mock_port = int(wait_for_line(self.mock.log_path, r"listening (\d+)", self.mock)[1])
        self.mock_address = f"127.0.0.1:{self.mock_port}"

    def start_gengate(self, name, max_connections, port=None):
        """Starts gengate on `port` (a free one if None; a restart after a crash keeps the
        port, so the load generators' addresses stay right)."""
        port = port or free_port()
        env = dict(os.environ, GENGATE_UPSTREAM_API_KEY="bench")
        service = self.start(
            name,
            [
                self.gengate_bin,
                f"--listen=127.0.0.1:{port}",
                "--admin_listen=127.0.0.1:0",
                f"--upstream_url=http://{self.mock_address}",
                f"--max_upstream_connections={max_connections}",
            ],
            env=env,
            cpu=self.proxy_cpu,
        )
        match = wait_for_line(service.log_path,
                              r'"msg":"serving".*"listen":"([^"]+)","admin_listen":"([^"]+)"',
                              service)
        service.address = match[1]
        service.admin_address = match[2]
        service.port = port
        service.max_connections = max_connections
        time.sleep(0.5)  # let it settle before idle RSS is read
        service.idle_rss_kib = service.rss_kib()
        return service

    def check_gengate(self, during):
        """If gengate died, records how (signal or status, its last log lines) and starts a new
        one on the same port so the remaining runs go on. Returns the crash text or None."""
        if self.gengate.alive():
            return None
        crash = f"gengate {self.gengate.exit_description()} during {during}"
        self.notes.append(crash)
        self.crashes.append({"what": crash, "log_tail": self.gengate.log_tail(20)})
        self.errors += 1
        print(f"  CRASH: {crash}", file=sys.stderr, flush=True)
        self.gengate.stop()
        self.services.remove(self.gengate)
        self.restarts += 1
        self.gengate = self.start_gengate(f"gengate-{self.restarts}",
                                          self.gengate.max_connections, port=self.gengate.port)
        return crash

    def start_floor(self):
        """The gRPC floor (grpc_floor.cc): gRPC alone, on the proxy's CPU like gengate."""
        if not os.access(self.floor_bin, os.X_OK):
            self.notes.append(f"{self.floor_bin} is missing: no gRPC floor")
            return None
        service = self.start("floor", [self.floor_bin, "--port=0"], cpu=self.proxy_cpu)
        port = int(wait_for_line(service.log_path, r"listening (\d+)", service)[1])
        service.address = f"127.0.0.1:{port}"
        return service

    def start_nginx(self):
        if self.nginx_bin is None:
            self.notes.append("nginx is not installed: no nginx baseline (bench/install-deps.sh)")
            return None
        port = free_port()
        prefix = os.path.join(self.tmp, "nginx")
        os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(
                prefix=prefix, port=port, upstream=self.mock_address,
                fds=max(1024, self.fd_limit)))
        service = self.start(
            "nginx",
            [self.nginx_bin, "-p", prefix, "-c", conf, "-e", os.path.join(prefix, "error.log")],
            cpu=self.proxy_cpu,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if not service.alive():
                    raise HarnessError(f"nginx {service.exit_description()}: {service.log_tail()}")
                time.sleep(0.05)
        else:
            raise HarnessError("nginx did not start listening")
        service.address = f"127.0.0.1:{port}"
        return service

    # --- one run

    def loadgen(self, target, address, call, mode="closed", concurrency=1, model="bench",
                expect=0, extra=(), on_stderr_line=None, warmup=None, duration=None,
                timeout=None):
        args = [
            self.loadgen_bin, f"--target={target}", f"--address={address}", f"--call={call}",
            f"--mode={mode}", f"--concurrency={concurrency}", f"--model={model}",
            f"--expect_messages={expect}",
            f"--warmup_s={self.warmup if warmup is None else warmup}",
            f"--duration_s={self.duration if duration is None else duration}",
        ]
        if target == "grpc":
            args.append(f"--channels={1 if concurrency < 16 else 4}")
        else:
            kind = {"chat": "chat", "stream": "chat_stream", "embeddings": "embeddings"}[call]
            body = os.path.join(self.capture_dir, f"{kind}.json")
            if os.path.exists(body):
                args.append(f"--body_file={body}")
            args.append("--http_path=" + ("/embeddings" if call == "embeddings"
                                          else "/chat/completions"))
        args.extend(extra)
        limit = timeout or (60 + 3 * (self.warmup + self.duration))
        out, err, cpu, code = run_tool(args, self.client_cpu, limit, on_stderr_line)
        try:
            result = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise HarnessError(f"bench_loadgen failed (exit {code}): {err.strip()[-600:]}")
        result["loadgen_cpu_seconds"] = cpu
        return result

    def measure(self, scenario, target_name, service, run, round_number=None):
        """Runs `run()` (a loadgen call) while watching `service` (the proxy, or the mock for
        direct) and the mock. Records the row in the main run, or as a row of round
        `round_number`, and returns it."""
        if target_name == "gengate":
            service = self.gengate  # the current one, if an earlier run crashed it
        watched = [s for s in (service, self.mock) if s is not None]
        watched = list({s.name: s for s in watched}.values())
        before = {s.name: s.cpu_seconds() for s in watched}
        upstream_before = mock_stats(self.mock_address)
        decode_method = DECODE_METHODS.get(scenario.split()[0]) if target_name == "gengate" else None
        if decode_method:
            decode_before = answer_decode_seconds(service.admin_address, decode_method)
        began = time.monotonic()
        with Sampler(watched) as sampler:
            result = run()
        wall = time.monotonic() - began
        after = {s.name: s.cpu_seconds() for s in watched}
        upstream_after = mock_stats(self.mock_address)
        calls = max(1, result.get("total_calls", 0))
        row = {
            "scenario": scenario,
            "target": target_name,
            "result": result,
            "loadgen_cpu_us_per_call": 1e6 * result["loadgen_cpu_seconds"] / calls,
            "mock_cpu_us_per_call": 1e6 * (after["mock"] - before["mock"]) / calls,
            # Connections the mock accepted: shows whether the proxy reuses its upstream ones.
            # (Less the harness's own /stats connection.)
            "upstream_connections_opened": (upstream_after["accepted_connections"]
                                            - upstream_before["accepted_connections"] - 1),
        }
        if service is not None and service is not self.mock:
            used = after[service.name] - before[service.name]
            row["proxy_cpu_us_per_call"] = 1e6 * used / calls
            row["proxy_cpu_percent"] = 100 * used / wall  # of one CPU, over the whole run
            row["proxy_rss_mib"] = sampler.peak(service.name) / 1024
        if decode_method and service.alive():
            # Time inside gengate to turn each answer into its reply (simdjson and the base64
            # or float decode), from its own histogram: the part of the hop that is decode.
            total, count = answer_decode_seconds(service.admin_address, decode_method)
            if count > decode_before[1]:
                row["answer_decode_us_mean"] = (
                    1e6 * (total - decode_before[0]) / (count - decode_before[1]))
        if target_name == "gengate":
            crash = self.check_gengate(scenario)
            if crash:
                row["crash"] = crash
        errors = result.get("errors", 0)
        kinds = result.get("error_kinds", {})
        not_served = (
            target_name == "gengate" and errors > 0 and result.get("calls", 0) == 0
            and all(kind.startswith("UNIMPLEMENTED") for kind in kinds)
        )
        if not_served:
            row["not_served"] = True
        elif errors:
            self.errors += errors
        if round_number is None:
            self.runs.append(row)
        else:
            row["round"] = round_number
            self.rounds.append(row)
        self.progress(row)
        return row

    def progress(self, row):
        r = row["result"]
        lat = r.get("latency_us", {})
        extra = ""
        if "proxy_cpu_us_per_call" in row:
            extra = f" cpu {row['proxy_cpu_us_per_call']:.1f} us/call rss {row['proxy_rss_mib']:.1f} MiB"
        status = " NOT SERVED" if row.get("not_served") else (
            f" ERRORS {r.get('errors')}: {r.get('error_kinds')}" if r.get("errors") else "")
        latency = (f"p50 {lat.get('p50', 0):>8.0f} us p99 {lat.get('p99', 0):>8.0f} us"
                   if "p50" in lat else f"mean {lat.get('mean', 0):>7.0f} us {'':>15}")
        scenario = row["scenario"] + (f" #{row['round']}" if "round" in row else "")
        print(f"  {scenario:<22} {row['target']:<8} {r.get('calls_per_second', 0):>9.0f}/s"
              f" {latency}{extra}{status}", file=sys.stderr, flush=True)

    def targets(self, floor=False):
        """(name, service, loadgen target, address) for direct, nginx, the gRPC floor (chat
        scenarios only, with `floor`) and gengate."""
        rows = [("direct", self.mock, "http", self.mock_address)]
        if self.nginx is not None:
            rows.append(("nginx", self.nginx, "http", self.nginx.address))
        if floor and self.floor is not None:
            rows.append(("floor", self.floor, "grpc", self.floor.address))
        rows.append(("gengate", self.gengate, "grpc", self.gengate.address))
        return rows

    # --- scenarios

    def prime(self):
        """One call of each kind through gengate: checks it works, captures the exact JSON it
        sends upstream (the bodies the HTTP baselines then send) and finds out whether
        embeddings are served."""
        for call, model, expect in (("chat", "bench", 0),
                                    ("stream", STREAM_MODEL, STREAM_CHUNKS),
                                    ("embeddings", "bench-embed", 0)):
            result = self.loadgen("grpc", self.gengate.address, call, model=model, expect=expect,
                                  warmup=0, duration=0.3)
            kinds = result.get("error_kinds", {})
            crash = self.check_gengate(f"a first {call} call")
            if call == "embeddings" and crash:
                self.embeddings_served = False
                self.embeddings_problem = "crashed: " + crash
            elif call == "embeddings" and kinds and all(k.startswith("UNIMPLEMENTED")
                                                        for k in kinds):
                self.embeddings_served = False
                self.embeddings_problem = "not served (UNIMPLEMENTED)"
                self.notes.append("gengate does not serve EmbeddingsService yet (UNIMPLEMENTED): "
                                  "embeddings through gengate reported as not served")
            elif call == "embeddings" and result.get("errors"):
                self.embeddings_served = False
                self.embeddings_problem = f"fails: {kinds}"
                self.errors += result["errors"]
                self.notes.append(f"gengate fails embeddings calls: {kinds}")
            elif result.get("errors") or crash:
                raise HarnessError(f"gengate fails {call} calls: {crash or kinds}")

    def run_unary(self):
        for concurrency in self.concurrencies:
            for name, service, target, address in self.targets(floor=True):
                self.measure(f"chat c={concurrency}", name, service,
                             lambda: self.loadgen(target, address, "chat",
                                                  concurrency=concurrency))

    def run_open(self):
        rate = self.open_rate
        for name, service, target, address in self.targets():
            self.measure(f"chat open {rate:g}/s", name, service,
                         lambda: self.loadgen(target, address, "chat", mode="open",
                                              concurrency=256,
                                              extra=[f"--rate={rate}"]))

    def run_streams(self):
        for name, service, target, address in self.targets(floor=True):
            self.measure("stream c=64", name, service,
                         lambda: self.loadgen(target, address, "stream", concurrency=64,
                                              model=STREAM_MODEL, expect=STREAM_CHUNKS))
        for name, service, target, address in self.targets(floor=True):
            self.measure("stream ttfm c=16", name, service,
                         lambda: self.loadgen(target, address, "stream", concurrency=16,
                                              model=PACED_MODEL, expect=PACED_CHUNKS))

    def run_rounds(self):
        """The scenarios the targets are judged on, again, in short windows that alternate
        between the targets: one round runs each scenario once against each target, in an order
        that rotates from round to round. On this shared machine the speed of everything
        drifts by tens of percent over tens of seconds; a round's targets run within seconds of
        each other, so a ratio within a round is far steadier than one between runs a minute
        apart, and the targets are judged on the median of the rounds' ratios."""
        for number in range(1, self.round_count + 1):
            for scenario, load in ROUND_SCENARIOS:
                targets = self.targets(floor=True)
                shift = (number - 1) % len(targets)
                for name, service, target, address in targets[shift:] + targets[:shift]:
                    self.measure(scenario, name, service,
                                 lambda: self.loadgen(target, address, warmup=ROUND_WARMUP,
                                                      duration=self.round_seconds, **load),
                                 round_number=number)

    def run_embeddings(self):
        for name, service, target, address in self.targets():
            if name == "gengate" and not self.embeddings_served:
                self.runs.append({"scenario": "embeddings c=1", "target": "gengate",
                                  "not_served": True, "problem": self.embeddings_problem,
                                  "result": {}})
                continue
            self.measure("embeddings c=1", name, service,
                         lambda: self.loadgen(target, address, "embeddings", concurrency=1,
                                              model="bench-embed"))

    def run_h2load(self):
        """h2load against the same three: a C load generator much cheaper per call than the gRPC
        client, as a cross-check of the loadgen's numbers. gengate gets raw gRPC frames."""
        if self.h2load_bin is None:
            self.notes.append("h2load is not installed: no h2load cross-check")
            return
        frame = os.path.join(self.tmp, "chat.grpc")
        run_tool([self.loadgen_bin, f"--write_grpc_frame={frame}", "--model=bench"], None, 30)
        body = os.path.join(self.capture_dir, "chat.json")
        # h2load wants whole numbers with a unit.
        duration = f"{int(self.duration * 1000)}ms"
        warmup = f"{int(self.warmup * 1000)}ms"
        for name, service, _, address in self.targets(floor=True):
            if name in ("gengate", "floor"):
                # 4 connections x 16 streams = 64 concurrent calls.
                argv = [self.h2load_bin, "-c", "4", "-m", "16", "-t", "1", "-D", duration,
                        f"--warm-up-time={warmup}", "-d", frame,
                        "-H", "content-type: application/grpc", "-H", "te: trailers",
                        f"http://{address}/gengate.v1.ChatService/CreateChatCompletion"]
            else:
                argv = [self.h2load_bin, "--h1", "-c", "64", "-t", "1", "-D", duration,
                        f"--warm-up-time={warmup}", "-d", body,
                        "-H", "content-type: application/json",
                        "-H", "authorization: Bearer bench", f"http://{address}/chat/completions"]
            mock_before = mock_stats(self.mock_address)

            def run():
                out, err, cpu, code = run_tool(argv, self.client_cpu,
                                               60 + 3 * (self.duration + self.warmup))
                parsed = parse_h2load(out)
                if parsed is None:
                    raise HarnessError(f"h2load failed (exit {code}): {(out + err)[-600:]}")
                parsed["loadgen_cpu_seconds"] = cpu
                # h2load counts the measured window only; the proxy's CPU also covers warm-up.
                parsed["total_calls"] = int(parsed["calls_per_second"]
                                            * (self.duration + self.warmup))
                return parsed

            row = self.measure("chat c=64 h2load", name, service, run)
            # h2load counts HTTP 200 as success; a gRPC error comes in the trailers it ignores,
            # so check that the upstream saw as many calls as h2load says succeeded.
            served = mock_stats(self.mock_address)["chat"] - mock_before["chat"]
            row["result"]["upstream_calls"] = served
            # (The mock also counts the warm-up, which h2load leaves out of "succeeded".)
            if name == "gengate" and served < row["result"]["calls"]:
                missing = row["result"]["calls"] - served
                row["result"]["errors"] += missing
                row["result"]["error_kinds"]["gRPC errors (answered, never sent upstream)"] = missing
                self.errors += missing

    def run_hold(self):
        """`hold_streams` concurrent streams held open `hold_seconds`, on a fresh gengate so its
        RSS before and during tells the cost of a stream."""
        self.gengate.stop()
        self.services.remove(self.gengate)
        streams = self.hold_streams
        ramp = 2000.0
        interval_ms = 3000
        open_timeout = 30.0 if self.quick else 90.0
        # The mock's streams outlast the opening and the hold; the load generator cancels them
        # once the hold is over.
        chunks = int(math.ceil((open_timeout + self.hold_seconds + 30) * 1000 / interval_ms)) + 1
        model = f"bench:chunks={chunks}:interval_ms={interval_ms}"
        # gengate accepts at most 10,000; HTTP/1.1 needs one connection per open stream.
        gengate = self.start_gengate("gengate-hold", max_connections=min(10000, streams + 1024))
        marks = {}

        def on_line(line, when):
            if line.startswith("all_open"):
                marks["all_open"] = when

        channels = max(1, min(100, streams // 100))
        before_cpu = gengate.cpu_seconds()
        with Sampler([gengate, self.mock], period=0.5) as sampler:
            result = self.loadgen(
                "grpc", gengate.address, "stream", mode="hold", concurrency=streams,
                model=model, on_stderr_line=on_line,
                extra=[f"--channels={channels}", f"--ramp_per_s={ramp}",
                       f"--hold_s={self.hold_seconds}", f"--open_timeout_s={open_timeout}",
                       f"--deadline_s={open_timeout + self.hold_seconds + 60}"],
                timeout=open_timeout + self.hold_seconds + 120)
        cpu = gengate.cpu_seconds() - before_cpu
        begin = marks.get("all_open")
        end = begin + self.hold_seconds if begin else None
        peak_rss = sampler.peak(gengate.name, begin, end) if begin else sampler.peak(gengate.name)
        peak_fds = sampler.peak(gengate.name, index=1)
        hold = {
            "streams": streams,
            "channels": channels,
            "hold_seconds": self.hold_seconds,
            "interval_ms": interval_ms,
            "ramp_per_second": ramp,
            "chunks_per_stream": chunks,
            "result": result,
            "idle_rss_mib": gengate.idle_rss_kib / 1024,
            "peak_rss_mib": peak_rss / 1024,
            "rss_per_stream_kib": (peak_rss - gengate.idle_rss_kib)
                                  / max(1, result.get("max_open") or streams),
            "peak_open_fds": peak_fds,
            "cpu_seconds": cpu,
            "alive_after": gengate.alive(),
        }
        if not gengate.alive():
            hold["crash"] = f"gengate {gengate.exit_description()}: {gengate.log_tail()}"
            result["errors"] = result.get("errors", 0) + 1
        self.errors += result.get("errors", 0)
        self.hold = hold
        print(f"  hold {streams} streams: opened {result.get('opened')} (at most "
              f"{result.get('max_open')} at once) in "
              f"{result.get('seconds_to_all_open')} s, errors {result.get('errors')}, "
              f"peak RSS {peak_rss / 1024:.1f} MiB ({hold['rss_per_stream_kib']:.1f} KiB/stream)",
              file=sys.stderr, flush=True)

    def run(self):
        started = time.monotonic()
        self.started_at = datetime.datetime.now()
        self.load_before = os.getloadavg()
        print(f"gengate bench ({'quick' if self.quick else 'full'}): {self.pinning}",
              file=sys.stderr, flush=True)
        try:
            self.start_mock()
            self.gengate = self.start_gengate("gengate", max_connections=512)
            self.prime()
            self.nginx = self.start_nginx()
            self.floor = self.start_floor()
            for group in GROUPS:
                if group in self.options.only:
                    getattr(self, f"run_{group}")()
        finally:
            self.stop_all()
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.seconds = time.monotonic() - started
        self.load_after = os.getloadavg()


# ----------------------------------------------------------------------------- helpers

# The scenario groups, in the order they run (--only picks some).
GROUPS = ["unary", "open", "streams", "rounds", "embeddings", "h2load", "hold"]
# Unary scenarios whose gengate rows also report gengate_answer_decode_seconds.
DECODE_METHODS = {"chat": "CreateChatCompletion", "embeddings": "CreateEmbeddings"}
STREAM_CHUNKS = 20
STREAM_MODEL = f"bench:chunks={STREAM_CHUNKS}:interval_ms=0"
PACED_CHUNKS = 5
PACED_MODEL = f"bench:chunks={PACED_CHUNKS}:interval_ms=20"
# What run_rounds repeats: (scenario, loadgen arguments). The names are the main run's.
ROUND_SCENARIOS = [
    ("chat c=64", {"call": "chat", "concurrency": 64}),
    ("stream c=64", {"call": "stream", "concurrency": 64, "model": STREAM_MODEL,
                     "expect": STREAM_CHUNKS}),
    ("stream ttfm c=16", {"call": "stream", "concurrency": 16, "model": PACED_MODEL,
                          "expect": PACED_CHUNKS}),
]
ROUND_WARMUP = 0.5

NGINX_CONF = """\
# Generated by bench/run_bench.py: nginx as a plain reverse proxy in front of the mock.
worker_processes 1;
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_rlimit_nofile {fds};
events {{
  worker_connections 16384;
}}
http {{
  # nginx's default: one line per request, written as it ends, as gengate writes its call log.
  access_log {prefix}/access.log;
  client_body_temp_path {prefix}/client_body;
  proxy_temp_path {prefix}/proxy;
  client_max_body_size 64m;
  client_body_buffer_size 1m;
  proxy_max_temp_file_size 0;
  upstream mock {{
    server {upstream};
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""


def http_get_body(address, path):
    """The body of GET `path` from host:port `address` (the mock's /stats, gengate's /metrics)."""
    with socket.create_connection(tuple(address.rsplit(":", 1)), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1]


def answer_decode_seconds(address, method):
    """gengate's gengate_answer_decode_seconds (sum, count) for `method` (e.g.
    "CreateEmbeddings"), read from its /metrics."""
    values = {}
    for line in http_get_body(address, "/metrics").decode().splitlines():
        m = re.match(r'gengate_answer_decode_seconds_(sum|count)\{[^}]*method="' + method
                     + r'"\} (\S+)$', line)
        if m:
            values[m[1]] = float(m[2])
    return values.get("sum", 0.0), values.get("count", 0.0)


def mock_stats(address):
    return json.loads(http_get_body(address, "/stats"))


def h2load_time(text):
    value = float(re.match(r"[\d.]+", text)[0])
    if text.endswith("us"):
        return value
    if text.endswith("ms"):
        return value * 1000
    return value * 1e6


def parse_h2load(out):
    finished = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    counts = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    timing = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", out)
    if not (finished and counts and timing):
        return None
    seconds = float(finished[1]) / (1000 if finished[2] == "ms" else 1)
    succeeded = int(counts[4])
    failed = int(counts[5]) + int(counts[6]) + int(counts[7])
    return {
        "calls": succeeded,
        "total_calls": succeeded,
        "calls_per_second": float(finished[3]),
        "window_seconds": seconds,
        "errors": failed,
        "error_kinds": {"h2load failed/errored/timeout": failed} if failed else {},
        "latency_us": {"min": h2load_time(timing[1]), "max": h2load_time(timing[2]),
                       "mean": h2load_time(timing[3])},
    }


# ----------------------------------------------------------------------------- report


def find(runs, scenario, target):
    for row in runs:
        if row["scenario"] == scenario and row["target"] == target:
            return row
    return None


def fmt(value, digits=0, suffix=""):
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{suffix}"


def ratio(a, b):
    return a / b if a is not None and b else None


def report(bench):
    lines = []
    out = lines.append
    runs = bench.runs
    out(f"gengate benchmark, {bench.started_at:%Y-%m-%d %H:%M} ({'quick' if bench.quick else 'full'}"
        f" run, {bench.seconds:.0f} s; load average {bench.load_before[0]:.1f} before, "
        f"{bench.load_after[0]:.1f} after)")
    out(f"pinning: {bench.pinning}" + (f"; nice {NICE}" if NICE else ""))
    out("")
    header = (f"{'scenario':<20} {'target':<8} {'calls/s':>9} {'p50 us':>8} {'p90 us':>8} "
              f"{'p99 us':>8} {'max us':>8} {'errors':>6} {'proxy CPU':>10} {'proxy':>6} "
              f"{'proxy RSS':>9} {'client CPU':>10}")
    out(header)
    out(f"{'':<20} {'':<8} {'':>9} {'':>8} {'':>8} {'':>8} {'':>8} {'':>6} {'us/call':>10} "
        f"{'%CPU':>6} {'MiB':>9} {'us/call':>10}")
    out("-" * len(header))
    last = None
    for row in runs:
        if row["scenario"] != last and last is not None:
            out("")
        last = row["scenario"]
        r = row["result"]
        if row.get("not_served"):
            problem = row.get("problem") or "not served (UNIMPLEMENTED)"
            out(f"{row['scenario']:<20} {row['target']:<8} {problem}")
            continue
        lat = r.get("latency_us", {})
        proxy_cpu = row.get("proxy_cpu_us_per_call")
        if row["target"] == "direct":
            proxy_cpu = None
        out(f"{row['scenario']:<20} {row['target']:<8} {fmt(r.get('calls_per_second')):>9} "
            f"{fmt(lat.get('p50')):>8} {fmt(lat.get('p90')):>8} {fmt(lat.get('p99')):>8} "
            f"{fmt(lat.get('max')):>8} {r.get('errors', 0):>6} {fmt(proxy_cpu, 1):>10} "
            f"{fmt(row.get('proxy_cpu_percent')):>6} "
            f"{fmt(row.get('proxy_rss_mib'), 1):>9} {fmt(row.get('loadgen_cpu_us_per_call'), 1):>10}")
        if "first_message_us" in r:
            ttfm = r["first_message_us"]
            out(f"{'':<20} {'':<8} {'1st msg':>9} {fmt(ttfm.get('p50')):>8} "
                f"{fmt(ttfm.get('p90')):>8} {fmt(ttfm.get('p99')):>8} {fmt(ttfm.get('max')):>8}"
                f"   msgs/s {fmt(r.get('messages_per_second'))}")
    out("")
    out("Gateway cost against direct (same load, same run): throughput ratio, added latency, CPU")
    cost_header = (f"{'scenario':<27} {'target':<8} {'x direct':>8} {'+p50 us':>8} {'+p99 us':>8} "
                   f"{'+mean us':>8} {'CPU us/call':>11}")
    out(cost_header)
    out("-" * len(cost_header))
    scenarios = []
    for row in runs:
        if row["scenario"] not in scenarios:
            scenarios.append(row["scenario"])
    for scenario in scenarios:
        direct = find(runs, scenario, "direct")
        if direct is None:
            continue
        d = direct["result"]
        for target in ("nginx", "floor", "gengate"):
            row = find(runs, scenario, target)
            if row is None or row.get("not_served"):
                continue
            r = row["result"]
            key = "first_message_us" if "ttfm" in scenario else "latency_us"
            label = scenario + (" (1st msg)" if key == "first_message_us" else "")
            dl, rl = d.get(key, {}), r.get(key, {})
            added = lambda k: (rl[k] - dl[k]) if k in rl and k in dl else None
            out(f"{label:<27} {target:<8} "
                f"{fmt(ratio(r.get('calls_per_second'), d.get('calls_per_second')), 2):>8} "
                f"{fmt(added('p50')):>8} {fmt(added('p99')):>8} {fmt(added('mean')):>8} "
                f"{fmt(row.get('proxy_cpu_us_per_call'), 1):>11}")
    hold = getattr(bench, "hold", None)
    if hold:
        r = hold["result"]
        out("")
        out(f"{hold['streams']:,} concurrent streams through gengate over {hold['channels']} channels, "
            f"held {hold['hold_seconds']:g} s (a chunk every {hold['interval_ms']} ms):")
        out(f"  opened {r.get('opened', 0):,} (at most {r.get('max_open', 0):,} at once) in "
            f"{fmt(r.get('seconds_to_all_open'), 1)} s at {hold['ramp_per_second']:g} starts/s; "
            f"held to the end {r.get('completed', 0):,}; errors {r.get('errors', 0)} "
            f"{r.get('error_kinds') or ''}")
        out(f"  messages/s while all open {fmt(r.get('messages_per_second'))}; time to first "
            f"message p50 {fmt(r.get('first_message_us', {}).get('p50'))} us, p99 "
            f"{fmt(r.get('first_message_us', {}).get('p99'))} us")
        out(f"  gengate RSS idle {hold['idle_rss_mib']:.1f} MiB, peak {hold['peak_rss_mib']:.1f} MiB "
            f"= {hold['rss_per_stream_kib']:.1f} KiB per stream; peak open fds "
            f"{hold['peak_open_fds']:,}; CPU {hold['cpu_seconds']:.1f} s")
        if hold.get("crash"):
            out(f"  CRASH: {hold['crash']}")
    context = floor_context(runs)
    if context:
        out("")
        out("gengate against the gRPC floor (a bare gRPC server answering the same messages from "
            "memory, same CPU):")
        for line in context:
            out(f"  {line}")
    rounds = round_lines(bench)
    if rounds:
        out("")
        lines.extend(rounds)
    targets = evaluate_targets(bench)
    out("")
    out("Targets (DESIGN.md section 6; reported, not asserted):")
    for target in targets:
        out(f"  [{target['verdict']:<7}] {target['name']}: {target['detail']}")
    for note in bench.notes:
        out(f"note: {note}")
    return "\n".join(lines), targets


def floor_context(runs):
    """What gRPC alone costs in each scenario the floor ran, and what gengate adds to it."""
    lines = []
    for row in runs:
        if row["target"] != "floor" or row.get("not_served"):
            continue
        gengate = find(runs, row["scenario"], "gengate")
        floor_cpu = row.get("proxy_cpu_us_per_call")
        if gengate is None or floor_cpu is None or "proxy_cpu_us_per_call" not in gengate:
            continue
        gengate_cpu = gengate["proxy_cpu_us_per_call"]
        unit = "stream" if row["scenario"].startswith("stream") else "call"
        lines.append(
            f"{row['scenario']:<18} floor {row['result'].get('calls_per_second', 0):>9,.0f}/s at "
            f"{floor_cpu:6.1f} us/{unit}; gengate {gengate['result'].get('calls_per_second', 0):>8,.0f}"
            f"/s at {gengate_cpu:6.1f} us/{unit}: +{gengate_cpu - floor_cpu:.1f} us for curl, the "
            f"upstream hop and translation"
            + (f" (the answer's decode: {gengate['answer_decode_us_mean']:.1f} us)"
               if "answer_decode_us_mean" in gengate else ""))
        direct = find(runs, row["scenario"], "direct")
        first = [r["result"].get("first_message_us", {}).get("p50") if r else None
                 for r in (direct, row, gengate)]
        if row["scenario"].startswith("stream ttfm") and None not in first:
            lines.append(
                f"{'':<18} first message p50 over direct: floor +{first[1] - first[0]:.0f} us "
                f"(gRPC's client and server alone), gengate +{first[2] - first[0]:.0f} us: "
                f"+{first[2] - first[1]:.0f} us for the upstream hop")
    return lines


def round_lines(bench):
    """A line per round of run_rounds: the numbers each target is judged on."""
    rounds = rounds_of(bench)
    if not rounds:
        return []

    def cells(rows, scenario, targets, value, show):
        shown = []
        for target in targets:
            row = find(rows, scenario, target)
            v = value(row) if row and not row.get("not_served") else None
            shown.append("-" if v is None else show(v))
        return " / ".join(shown)

    def thousands(v):
        return f"{v / 1000:.1f}k"

    def first_message(rows):
        direct = find(rows, "stream ttfm c=16", "direct")
        return lambda row: (row["result"]["first_message_us"]["p50"]
                            - direct["result"]["first_message_us"]["p50"]) if direct else None

    lines = [f"Rounds: the targets below are judged on the medians of {len(rounds)} rounds. A round "
             f"runs each scenario {bench.round_seconds:g} s against each target, in an order that "
             f"rotates from round to round.",
             f"{'':<3} {'chat c=64 calls/s':<26} {'chat c=64 CPU us/call':<26} "
             f"{'stream c=64 msgs/s':<26} {'1st msg p50 over direct'}",
             f"{'#':<3} {'nginx / floor / gengate':<26} {'nginx / floor / gengate':<26} "
             f"{'direct / floor / gengate':<26} {'nginx / floor / gengate'}"]
    three = ("nginx", "floor", "gengate")
    for number, rows in enumerate(rounds, 1):
        calls = cells(rows, "chat c=64", three, lambda r: r["result"]["calls_per_second"],
                      thousands)
        cpu = cells(rows, "chat c=64", three, lambda r: r.get("proxy_cpu_us_per_call"),
                    lambda v: f"{v:.1f}")
        chunks = cells(rows, "stream c=64", ("direct", "floor", "gengate"),
                       lambda r: r["result"].get("messages_per_second"), thousands)
        first = cells(rows, "stream ttfm c=16", three, first_message(rows), lambda v: f"+{v:.0f}")
        lines.append(f"{number:<3} {calls:<26} {cpu:<26} {chunks:<26} {first}")
    return lines


def rounds_of(bench):
    """The rows of each round of run_rounds, in order."""
    numbers = sorted({row["round"] for row in bench.rounds})
    return [[row for row in bench.rounds if row["round"] == n] for n in numbers]


def served(runs, scenario, *targets):
    """The rows of `targets` in `scenario`, or None if one is missing or not served."""
    rows = [find(runs, scenario, target) for target in targets]
    return None if any(r is None or r.get("not_served") for r in rows) else rows


def unary_throughput(runs):
    rows = served(runs, "chat c=64", "nginx", "gengate")
    return rows and ratio(rows[1]["result"]["calls_per_second"],
                          rows[0]["result"]["calls_per_second"])


def unary_cpu(runs):
    rows = served(runs, "chat c=64", "nginx", "gengate")
    return rows and ratio(rows[1].get("proxy_cpu_us_per_call"),
                          rows[0].get("proxy_cpu_us_per_call"))


def added_mean(row, direct):
    return row["result"]["latency_us"]["mean"] - direct["result"]["latency_us"]["mean"]


def unary_added_latency(runs):
    """gengate's added mean latency over nginx's (infinite if nginx added none)."""
    rows = served(runs, "chat c=64", "direct", "nginx", "gengate")
    if not rows:
        return None
    nginx_added = added_mean(rows[1], rows[0])
    return added_mean(rows[2], rows[0]) / nginx_added if nginx_added > 0 else math.inf


def first_message_added(runs, target="gengate"):
    rows = served(runs, "stream ttfm c=16", "direct", target)
    return rows and (rows[1]["result"]["first_message_us"]["p50"]
                     - rows[0]["result"]["first_message_us"]["p50"])


def streamed_chunks(runs, target="gengate"):
    rows = served(runs, "stream c=64", "direct", target)
    return rows and ratio(rows[1]["result"].get("messages_per_second"),
                          rows[0]["result"].get("messages_per_second"))


def judge(bench, metric, show):
    """`metric` (rows -> a number or None) as a target is judged on it: the median over the
    rounds where there were any, else the main run's value. Returns (value, detail)."""
    main = metric(bench.runs)
    values = [v for v in (metric(rows) for rows in rounds_of(bench)) if v is not None]
    if not values:
        return main, (show(main) if main is not None else None)
    value = statistics.median(values)
    detail = (f"{show(value)}, the median of {len(values)} rounds "
              f"({show(min(values))} to {show(max(values))})")
    if main is not None:
        detail += f"; the main run {show(main)}"
    return value, detail


def evaluate_targets(bench):
    runs = bench.runs
    targets = []

    def add(name, ok, detail):
        verdict = "n/a" if ok is None else ("met" if ok else "missed")
        targets.append({"name": name, "verdict": verdict, "detail": detail})

    def times(value):
        return f"{value:.2f}x"

    value, detail = judge(bench, unary_throughput, times)
    if value is None:
        gengate = find(runs, "chat c=64", "gengate")
        add("unary c=64 against nginx", None,
            "not run" if gengate is None else "no nginx baseline")
    else:
        add("unary c=64 throughput >= 0.8x nginx", value >= 0.8, detail)
        value, detail = judge(bench, unary_cpu, times)
        nginx, gengate = served(runs, "chat c=64", "nginx", "gengate") or (None, None)
        if gengate and "proxy_cpu_us_per_call" in gengate:
            detail += (f" ({gengate['proxy_cpu_us_per_call']:.1f} vs "
                       f"{nginx['proxy_cpu_us_per_call']:.1f} us)")
        add("unary c=64 CPU/call <= 3x nginx", None if value is None else value <= 3, detail)
        value, detail = judge(bench, unary_added_latency, lambda v: f"{v:.1f}x")
        add("unary c=64 added mean latency <= 2x nginx's", None if value is None else value <= 2,
            detail)
    value, detail = judge(bench, first_message_added, lambda v: f"+{v:.0f} us")
    if value is not None:
        add("stream time to first message adds <= 0.5 ms (p50)", value <= 500, detail)
    value, detail = judge(bench, streamed_chunks, times)
    if value is not None:
        add("streamed chunks/s >= 0.5x direct", value >= 0.5, detail)
    hold = getattr(bench, "hold", None)
    if hold:
        r = hold["result"]
        ok = (hold["peak_rss_mib"] <= 1024 and hold["rss_per_stream_kib"] <= 100
              and r.get("errors", 0) == 0 and r.get("max_open", 0) == hold["streams"])
        add(f"{hold['streams']:,} streams in <= 1 GiB (<= 100 KiB each), no errors", ok,
            f"{hold['peak_rss_mib']:.0f} MiB, {hold['rss_per_stream_kib']:.1f} KiB/stream, "
            f"{r.get('errors', 0)} errors")
        add("idle RSS <= 64 MiB", hold["idle_rss_mib"] <= 64, f"{hold['idle_rss_mib']:.1f} MiB")
    direct = find(runs, "embeddings c=1", "direct")
    gengate = find(runs, "embeddings c=1", "gengate")
    if gengate and gengate.get("not_served"):
        add("2,048 x 1,536 embeddings decoded in <= 5 ms", None,
            gengate.get("problem") or "not served")
    elif direct and gengate:
        added = gengate["result"]["latency_us"]["p50"] - direct["result"]["latency_us"]["p50"]
        decode = gengate.get("answer_decode_us_mean")
        through = (f"the whole hop adds {added / 1000:.1f} ms per call at p50 (with the gRPC "
                   f"encode and both transfers); "
                   f"{gengate['result']['calls_per_second']:.1f} answers/s")
        if decode is not None:
            add("2,048 x 1,536 embeddings decoded in <= 5 ms", decode <= 5000,
                f"{decode / 1000:.1f} ms mean inside gengate (gengate_answer_decode_seconds); "
                + through)
        else:
            add("2,048 x 1,536 embeddings decoded in <= 5 ms", added <= 5000,
                through + " (no decode histogram: an upper bound on the decode)")
    return targets


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"), help="CMake build dir")
    parser.add_argument("--gengate", help="the gengate binary (default: BUILD/server/gengate)")
    parser.add_argument("--quick", action="store_true", help="a ~1 minute smoke run")
    parser.add_argument("--results", default=os.path.join(HERE, "results"))
    parser.add_argument("--open_rate", type=float, default=2000, help="open-loop calls/s")
    parser.add_argument("--hold_streams", type=int, default=0, help="default 10000 (quick 1000)")
    parser.add_argument("--hold_seconds", type=float, default=0, help="default 30 (quick 5)")
    parser.add_argument("--only", default=",".join(GROUPS),
                        help="comma-separated groups to run, of " + ",".join(GROUPS))
    parser.add_argument("--nice", type=int, default=0,
                        help="run everything at this nice value (e.g. -10, as root) so other "
                             "work on the machine disturbs the numbers less")
    parser.add_argument("--no_pin", action="store_true", help="do not pin with taskset")
    parser.add_argument("--rounds", type=int, help="interleaved rounds the targets are judged "
                                                   "on (default 5, quick 2; 0: none)")
    options = parser.parse_args()
    options.only = options.only.split(",")
    global NICE
    NICE = options.nice
    if not set(options.only) <= set(GROUPS):
        parser.error(f"--only takes some of {','.join(GROUPS)}")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))
    try:
        bench = Bench(options)
        bench.run()
    except HarnessError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    table, targets = report(bench)
    print(table)
    os.makedirs(options.results, exist_ok=True)
    name = f"{bench.started_at:%Y-%m-%d}{'-quick' if bench.quick else ''}.json"
    path = os.path.join(options.results, name)
    document = {
        "started_at": bench.started_at.isoformat(timespec="seconds"),
        "seconds": bench.seconds,
        "quick": bench.quick,
        "machine": {"cpus": os.cpu_count(), "kernel": os.uname().release,
                    "load_average_before": bench.load_before,
                    "load_average_after": bench.load_after,
                    "open_file_limit": bench.fd_limit},
        "pinning": bench.pinning,
        "gengate": bench.gengate_bin,
        "runs": bench.runs,
        "rounds": bench.rounds,
        "hold": getattr(bench, "hold", None),
        "targets": targets,
        "floor": floor_context(bench.runs),
        "notes": bench.notes,
        "crashes": bench.crashes,
        "errors": bench.errors,
        "table": table,
    }
    with open(path, "w") as f:
        json.dump(document, f, indent=1)
    print(f"\nwrote {os.path.relpath(path)}")
    if bench.errors:
        print(f"bench: {bench.errors} errors (failed calls, crashes): see the table", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
