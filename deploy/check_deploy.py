#!/usr/bin/env python3
"""Checks gengate's rendered kustomize overlays, Dockerfile and example config.

Run by deploy/check.sh, which renders every overlay into --rendered (one NAME.yaml each):

  check_deploy.py --repo REPO --rendered DIR --binary PATH_TO_GENGATE

Needs the standard library and PyYAML only. Prints unittest's summary; exits non-zero on failure.
"""

import argparse
import fnmatch
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import unittest

import yaml

GRPC_PORT = 50051
ADMIN_PORT = 9090
SECRET_MOUNT_DIR = "/var/run/secrets/gengate"
API_KEY_FILE = SECRET_MOUNT_DIR + "/api-key"
# Libraries every bookworm-slim image already has (Essential/required packages).
SLIM_BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}
# Runtimes a sanitizer build (make test-asan) links; never in a release image.
SANITIZER_LIBRARY_PREFIXES = ("libasan.", "libubsan.", "liblsan.", "libtsan.")
# install-deps.sh packages the image build does without: nothing to cache, and no benchmarks or
# tests (the Python gRPC packages and nghttpx serve the tests only).
BUILD_PACKAGES_NOT_NEEDED = {"ccache", "libbenchmark-dev", "python3-grpcio", "python3-protobuf",
                             "nghttp2-proxy"}

ARGS = None  # parsed command line, set in main()


# ---------------------------------------------------------------------------------------------
# Parsing helpers.

_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration_seconds(text):
    """Seconds in an absl::Duration flag value such as 30s, 1m30s, 1.5s or 500ms."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError("not a duration: %r" % text)
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)


_QUANTITY_SUFFIXES = {
    "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40,
}


def parse_quantity(value):
    """A Kubernetes resource quantity (250m, 1, 0.5, 128Mi, 1Gi) as a number."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?", str(value))
    if match is None:
        raise ValueError("not a quantity: %r" % value)
    return float(match.group(1)) * _QUANTITY_SUFFIXES[match.group(2) or ""]


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def known_flags(repo):
    """Flag names defined in server/config/config.cc."""
    with open(os.path.join(repo, "server", "config", "config.cc")) as source:
        return set(re.findall(r"ABSL_FLAG\(\s*[^,]+,\s*(\w+)\s*,", source.read()))


def read_env_file(path):
    """KEY=VALUE lines of an env file; '# KEY=VALUE' lines count as documented keys too."""
    values = {}
    with open(path) as env_file:
        for line in env_file:
            match = re.match(r"^#?\s*(GENGATE_[A-Z0-9_]+)=(.*)$", line.strip())
            if match:
                values[match.group(1)] = match.group(2)
    return values


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class Rendered:
    """One overlay's rendered manifests, with the lookups the checks need."""

    def __init__(self, name, path):
        self.name = name
        with open(path) as manifest:
            self.objects = [doc for doc in yaml.safe_load_all(manifest) if doc]

    def all(self, kind):
        return [o for o in self.objects if o.get("kind") == kind]

    def get(self, kind, name):
        found = [o for o in self.all(kind) if o["metadata"]["name"] == name]
        if len(found) != 1:
            raise AssertionError("%s: expected one %s %s, found %d" %
                                 (self.name, kind, name, len(found)))
        return found[0]

    @property
    def deployment(self):
        return self.get("Deployment", "gengate")

    @property
    def pod_spec(self):
        return self.deployment["spec"]["template"]["spec"]

    @property
    def pod_labels(self):
        return self.deployment["spec"]["template"]["metadata"].get("labels", {})

    @property
    def container(self):
        containers = [c for c in self.pod_spec["containers"] if c["name"] == "gengate"]
        if len(containers) != 1:
            raise AssertionError("%s: no container named gengate" % self.name)
        return containers[0]

    def pre_stop_sleep_seconds(self):
        command = (self.container.get("lifecycle", {}).get("preStop", {})
                   .get("exec", {}).get("command"))
        if not command or len(command) != 2 or os.path.basename(command[0]) != "sleep":
            raise AssertionError("%s: preStop must be exec [sleep, SECONDS], is %r" %
                                 (self.name, command))
        return float(command[1])

    def environment(self):
        """The container's environment: envFrom ConfigMaps first, then env (which wins)."""
        env = {}
        for source in self.container.get("envFrom", []):
            if "configMapRef" in source:
                configmap = self.get("ConfigMap", source["configMapRef"]["name"])
                env.update(configmap.get("data", {}))
        for variable in self.container.get("env", []):
            env[variable["name"]] = variable.get("value")
        return env

    def flag(self, name):
        """A flag's effective value: --name=value in args beats GENGATE_<NAME> in the env."""
        words = list(self.container.get("command", [])[1:]) + list(self.container.get("args", []))
        for word in words:
            if word.startswith("--%s=" % name):
                return word.split("=", 1)[1]
        return self.environment().get("GENGATE_" + name.upper())


def load_overlays():
    overlays = {}
    for entry in sorted(os.listdir(ARGS.rendered)):
        if entry.endswith(".yaml"):
            name = entry[: -len(".yaml")]
            overlays[name] = Rendered(name, os.path.join(ARGS.rendered, entry))
    return overlays


class Dockerfile:
    """deploy/Dockerfile split into stages, with ARG defaults resolved in FROM lines."""

    def __init__(self, path):
        with open(path) as dockerfile:
            text = re.sub(r"\\\n", " ", dockerfile.read())  # join continued lines
        self.stages = []  # dicts: image, name, instructions [(KEYWORD, rest)]
        args = {}
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            keyword, _, rest = line.partition(" ")
            keyword = keyword.upper()
            rest = rest.strip()
            if keyword == "ARG" and not self.stages:
                name, _, default = rest.partition("=")
                args[name] = default
            elif keyword == "FROM":
                words = rest.split()
                image = re.sub(r"\$\{(\w+)\}|\$(\w+)",
                               lambda m: args.get(m.group(1) or m.group(2), ""), words[0])
                name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
                self.stages.append({"image": image, "name": name, "instructions": []})
            elif self.stages:
                self.stages[-1]["instructions"].append((keyword, rest))

    @staticmethod
    def apt_packages(stage):
        """Packages named after `apt-get install` in the stage's RUN instructions."""
        packages = []
        for keyword, rest in stage["instructions"]:
            if keyword != "RUN":
                continue
            for command in re.split(r"&&|;", rest):
                words = shlex.split(command)
                if "apt-get" in words and "install" in words:
                    after = words[words.index("install") + 1:]
                    packages += [w for w in after if not w.startswith("-")]
        return packages

    @staticmethod
    def last(stage, keyword):
        values = [rest for k, rest in stage["instructions"] if k == keyword]
        return values[-1] if values else None


def install_deps_packages(repo):
    with open(os.path.join(repo, "scripts", "install-deps.sh")) as script:
        match = re.search(r"packages=\((.*?)\)", script.read(), re.S)
    return set(match.group(1).split())


def linked_packages(binary):
    """Debian packages holding the libraries the binary links directly (DT_NEEDED)."""
    dump = subprocess.run(["objdump", "-p", binary], check=True, capture_output=True, text=True)
    needed = re.findall(r"^\s*NEEDED\s+(\S+)$", dump.stdout, re.M)
    ldd = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True)
    resolved = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd.stdout, re.M))
    candidates = {}
    for library in needed:
        if library.startswith(SANITIZER_LIBRARY_PREFIXES):
            continue
        path = resolved.get(library)
        if path is None:
            raise AssertionError("ldd cannot resolve %s" % library)
        spellings = {path, os.path.realpath(path)}
        if path.startswith("/lib/"):
            spellings.add("/usr" + path)  # usrmerge: dpkg knows one of the two spellings
        candidates[library] = spellings
    # One dpkg call for all paths (it prints the owners it finds, exit 1 if some are unknown).
    query = subprocess.run(["dpkg", "-S"] + sorted(set().union(*candidates.values())),
                           capture_output=True, text=True)
    owners = {}
    for line in query.stdout.splitlines():
        package, _, path = line.partition(": ")
        owners[path.strip()] = package.split(":")[0].strip()
    packages = {}
    for library, spellings in candidates.items():
        found = [owners[p] for p in spellings if p in owners]
        if not found:
            raise AssertionError("no Debian package owns %s" % library)
        packages[library] = found[0]
    return packages


# ---------------------------------------------------------------------------------------------
# Checks on every overlay.


class OverlayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.overlays = load_overlays()
        cls.flags = known_flags(ARGS.repo)

    def test_dev_and_prod_overlays_are_rendered(self):
        self.assertIn("dev", self.overlays)
        self.assertIn("prod", self.overlays)

    def test_every_resource_is_present_in_one_namespace(self):
        for rendered in self.overlays.values():
            with self.subTest(overlay=rendered.name):
                for kind, name in [("Deployment", "gengate"), ("Service", "gengate"),
                                   ("Service", "gengate-headless"),
                                   ("PodDisruptionBudget", "gengate"),
                                   ("HorizontalPodAutoscaler", "gengate"),
                                   ("NetworkPolicy", "gengate")]:
                    rendered.get(kind, name)
                self.assertEqual(rendered.all("ServiceMonitor"), [])
                namespaces = {o["metadata"].get("namespace") for o in rendered.objects
                              if o["kind"] != "Namespace"}
                self.assertEqual(len(namespaces), 1, namespaces)
                self.assertNotIn(None, namespaces)

    def test_probes_are_grpc_health_checks_on_the_serving_port(self):
        for rendered in self.overlays.values():
            with self.subTest(overlay=rendered.name):
                container = rendered.container
                for probe_name in ("readinessProbe", "livenessProbe"):
                    probe = container.get(probe_name)
                    self.assertIsNotNone(probe, probe_name)
                    self.assertEqual(probe.get("grpc", {}).get("port"), GRPC_PORT, probe_name)
                    for other in ("httpGet", "tcpSocket", "exec"):
                        self.assertNotIn(other, probe, probe_name)
                ports = {p["containerPort"]: p for p in container["ports"]}
                self.assertIn(GRPC_PORT, ports)
                self.assertIn(ADMIN_PORT, ports)
                self.assertEqual(port_of(rendered.flag("listen")), GRPC_PORT)
                # Kubernetes' grpc probes speak plaintext only.
                self.assertFalse(rendered.flag("tls_cert"), "grpc probes cannot check a TLS port")

    def test_resources_have_requests_and_limits(self):
        for rendered in self.overlays.values():
            with self.subTest(overlay=rendered.name):
                resources = rendered.container.get("resources", {})
                for resource in ("cpu", "memory"):
                    request = resources.get("requests", {}).get(resource)
                    limit = resources.get("limits", {}).get(resource)
                    self.assertIsNotNone(request, "requests." + resource)
                    self.assertIsNotNone(limit, "limits." + resource)
                    self.assertLessEqual(parse_quantity(request), parse_quantity(limit), resource)

    def test_security_context_is_non_root_and_read_only(self):
        for rendered in self.overlays.values():
            with self.subTest(overlay=rendered.name):
                pod = rendered.pod_spec.get("securityContext", {})
                container = rendered.container.get("securityContext", {})

                def effective(field):
                    return container.get(field, pod.get(field))

                self.assertIs(effective("runAsNonRoot"), True)
                self.assertNotEqual(effective("runAsUser"), 0)
                self.assertIs(container.get("readOnlyRootFilesystem"), True)
                self.assertIs(container.get("allowPrivilegeEscalation"), False)
                self.assertFalse(container.get("privileged", False))
                self.assertIn("ALL", container.get("capabilities", {}).get("drop", []))
                self.assertEqual(container.get("capabilities", {}).get("add", []), [])
                self.assertEqual((effective("seccompProfile") or {}).get("type"), "RuntimeDefault")
                self.assertIs(rendered.pod_spec.get("automountServiceAccountToken"), False)
                # Service links would add GENGATE_PORT and friends beside the real GENGATE_* config.
                self.assertIs(rendered.pod_spec.get("enableServiceLinks"), False)

    def test_run_as_user_is_the_image_user(self):
        dockerfile = Dockerfile(os.path.join(ARGS.repo, "deploy", "Dockerfile"))
        image_uid = int(Dockerfile.last(dockerfile.stages[-1], "USER").split(":")[0])
        for rendered in self.overlays.values():
            with self.subTest(overlay=rendered.name):
                pod = rendered.pod_spec.get("securityContext", {})
                uid = rendered.container.get("securityContext", {}).get("runAsUser",
                                                                        pod.get("runAsUser"))
                self.assertEqual(uid, image_uid)

    def test_pre_stop_sleeps_with_coreutils(self):
        for rendered in self.overlays.values():
            with self.subTest(overlay=rendered.name):
                self.assertGreater(rendered.pre_stop_sleep_seconds(), 0)
                command = rendered.container["lifecycle"]["preStop"]["exec"]["command"]
                # Absolute: exec hooks do not search PATH the same way in every runtime.
                self.assertIn(command[0], ("/bin/sleep", "/usr/bin/sleep"))

    def test_grace_period_exceeds_pre_stop_plus_drain(self):
        for rendered in self.overlays.values():
            with self.subTest(overlay=rendered.name):
                drain = rendered.flag("drain_timeout")
                self.assertIsNotNone(drain, "set GENGATE_DRAIN_TIMEOUT so the grace can be checked")
                drain_seconds = parse_duration_seconds(drain)
                pre_stop = rendered.pre_stop_sleep_seconds()
                grace = rendered.pod_spec.get("terminationGracePeriodSeconds", 30)
                self.assertGreater(grace, pre_stop + drain_seconds)

    def test_liveness_does_not_restart_a_draining_pod(self):
        for rendered in self.overlays.values():
            with self.subTest(overlay=rendered.name):
                liveness = rendered.container["livenessProbe"]
                failing_for = (liveness.get("periodSeconds", 10) *
                               liveness.get("failureThreshold", 3))
                pre_stop = rendered.pre_stop_sleep_seconds()
                drain_seconds = parse_duration_seconds(rendered.flag("drain_timeout"))
                self.assertGreater(failing_for, pre_stop + drain_seconds)

    def test_services_select_the_pods(self):
        for rendered in self.overlays.values():
            with self.subTest(overlay=rendered.name):
                cluster_ip = rendered.get("Service", "gengate")["spec"]
                headless = rendered.get("Service", "gengate-headless")["spec"]
                self.assertEqual(cluster_ip.get("type", "ClusterIP"), "ClusterIP")
                self.assertNotEqual(cluster_ip.get("clusterIP"), "None")
                self.assertEqual(headless.get("clusterIP"), "None")
                self.assertFalse(headless.get("publishNotReadyAddresses", False))
                named_ports = {p["name"]: p["containerPort"] for p in rendered.container["ports"]}
                for spec in (cluster_ip, headless):
                    self.assertTrue(labels_match(spec["selector"], rendered.pod_labels))
                    grpc_ports = [p for p in spec["ports"] if p["port"] == GRPC_PORT]
                    self.assertEqual(len(grpc_ports), 1)
                    target = grpc_ports[0].get("targetPort", GRPC_PORT)
                    self.assertEqual(named_ports.get(target, target), GRPC_PORT)

    def test_disruption_budget_selects_the_pods_and_allows_one_eviction(self):
        for rendered in self.overlays.values():
            with self.subTest(overlay=rendered.name):
                pdb = rendered.get("PodDisruptionBudget", "gengate")
                self.assertEqual(pdb["apiVersion"], "policy/v1")
                self.assertTrue(labels_match(pdb["spec"]["selector"]["matchLabels"],
                                             rendered.pod_labels))
                min_replicas = rendered.get("HorizontalPodAutoscaler", "gengate")["spec"].get(
                    "minReplicas", 1)
                if "maxUnavailable" in pdb["spec"]:
                    self.assertNotIn(pdb["spec"]["maxUnavailable"], (0, "0%"))
                else:
                    self.assertLess(int(pdb["spec"]["minAvailable"]), min_replicas)

    def test_autoscaler_scales_the_deployment_on_cpu(self):
        for rendered in self.overlays.values():
            with self.subTest(overlay=rendered.name):
                hpa = rendered.get("HorizontalPodAutoscaler", "gengate")
                self.assertEqual(hpa["apiVersion"], "autoscaling/v2")
                target = hpa["spec"]["scaleTargetRef"]
                self.assertEqual((target["kind"], target["name"]), ("Deployment", "gengate"))
                self.assertGreaterEqual(hpa["spec"]["minReplicas"], 1)
                self.assertLessEqual(hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"])
                cpu = [m for m in hpa["spec"]["metrics"]
                       if m["type"] == "Resource" and m["resource"]["name"] == "cpu"]
                self.assertEqual(len(cpu), 1)
                self.assertEqual(cpu[0]["resource"]["target"]["type"], "Utilization")
                # The autoscaler owns the count; a replicas field would be reset by every apply.
                self.assertNotIn("replicas", rendered.deployment["spec"])

    def test_network_policy_limits_ingress_and_egress(self):
        for rendered in self.overlays.values():
            with self.subTest(overlay=rendered.name):
                policy = rendered.get("NetworkPolicy", "gengate")["spec"]
                self.assertTrue(labels_match(policy["podSelector"]["matchLabels"],
                                             rendered.pod_labels))
                self.assertEqual(set(policy["policyTypes"]), {"Ingress", "Egress"})
                by_port = {}
                for rule in policy["ingress"]:
                    self.assertTrue(rule.get("ports"), "an ingress rule without ports opens all")
                    self.assertTrue(rule.get("from"), "an ingress rule without peers opens to all")
                    for port in rule["ports"]:
                        by_port.setdefault(port["port"], []).extend(rule["from"])
                self.assertEqual(set(by_port), {GRPC_PORT, ADMIN_PORT})
                # gRPC: this namespace's pods, and labelled client pods.
                self.assertIn({"podSelector": {}}, by_port[GRPC_PORT])
                self.assertTrue(any(peer.get("podSelector", {}).get("matchLabels")
                                    for peer in by_port[GRPC_PORT]))
                # Admin (metrics): only from the monitoring namespace.
                for peer in by_port[ADMIN_PORT]:
                    self.assertEqual(peer.get("namespaceSelector", {}).get("matchLabels"),
                                     {"kubernetes.io/metadata.name": "monitoring"})
                egress = {(p.get("protocol", "TCP"), p["port"])
                          for rule in policy["egress"] for p in rule.get("ports", [])}
                for rule in policy["egress"]:
                    self.assertTrue(rule.get("ports"), "an egress rule without ports opens all")
                self.assertEqual(egress, {("UDP", 53), ("TCP", 53), ("TCP", 443)})

    def test_prometheus_scrapes_the_admin_port(self):
        for rendered in self.overlays.values():
            with self.subTest(overlay=rendered.name):
                annotations = rendered.deployment["spec"]["template"]["metadata"]["annotations"]
                self.assertEqual(annotations.get("prometheus.io/scrape"), "true")
                self.assertEqual(annotations.get("prometheus.io/port"), str(ADMIN_PORT))
                self.assertEqual(annotations.get("prometheus.io/path"), "/metrics")
                self.assertEqual(port_of(rendered.flag("admin_listen")), ADMIN_PORT)

    def test_configuration_names_real_flags_and_holds_no_key(self):
        for rendered in self.overlays.values():
            with self.subTest(overlay=rendered.name):
                env = rendered.environment()  # also fails if envFrom names a missing ConfigMap
                self.assertTrue(env)
                configs = [c.get("data", {}) for c in rendered.all("ConfigMap")]
                for name in set(env).union(*configs):
                    self.assertTrue(name.startswith("GENGATE_"), name)
                    self.assertIn(name[len("GENGATE_"):].lower(), self.flags, name)
                    self.assertNotEqual(name, "GENGATE_UPSTREAM_API_KEY")
                for word in rendered.container.get("args", []):
                    self.assertIn(word[2:].split("=", 1)[0], self.flags, word)
                # The key is never committed: the Secret is created by hand.
                self.assertEqual(rendered.all("Secret"), [])

    def test_image_is_pinned(self):
        for rendered in self.overlays.values():
            with self.subTest(overlay=rendered.name):
                image = rendered.container["image"]
                self.assertRegex(image, r":[\w.-]+$")
                self.assertFalse(image.endswith(":latest"), image)

    def test_dev_uses_the_fake_upstream_and_no_secret(self):
        dev = self.overlays["dev"]
        self.assertEqual(dev.flag("upstream_url"), "fake")
        self.assertIsNone(dev.flag("upstream_api_key_file"))
        self.assertEqual([v for v in dev.pod_spec.get("volumes", []) if "secret" in v], [])
        self.assertNotIn("secretRef", str(dev.container.get("envFrom", [])))
        self.assertNotIn("secretKeyRef", str(dev.container.get("env", [])))

    def test_prod_reads_the_api_key_from_a_secret_file(self):
        prod = self.overlays["prod"]
        self.assertRegex(prod.flag("upstream_url"), r"^https://")
        self.assertEqual(prod.flag("upstream_api_key_file"), API_KEY_FILE)
        self.assertIn("--upstream_api_key_file=" + API_KEY_FILE, prod.container.get("args", []))
        secrets = {v["name"]: v["secret"] for v in prod.pod_spec["volumes"] if "secret" in v}
        mounts = [m for m in prod.container["volumeMounts"] if m["name"] in secrets]
        self.assertEqual(len(mounts), 1)
        self.assertEqual(mounts[0]["mountPath"], SECRET_MOUNT_DIR)
        self.assertIs(mounts[0].get("readOnly"), True)
        secret = secrets[mounts[0]["name"]]
        self.assertTrue(secret.get("secretName"))
        items = {i["path"]: i["key"] for i in secret.get("items", [])}
        self.assertEqual(items.get(os.path.basename(API_KEY_FILE)), "api-key")
        self.assertEqual(secret.get("defaultMode", 0o644) & 0o007, 0, "world-readable key")
        # No key in the environment either.
        self.assertNotIn("GENGATE_UPSTREAM_API_KEY", prod.environment())


class ExampleConfigTest(unittest.TestCase):
    def test_example_config_documents_every_flag(self):
        example = read_env_file(os.path.join(ARGS.repo, "deploy", "config.example.env"))
        flags = known_flags(ARGS.repo)
        documented = {k[len("GENGATE_"):].lower() for k in example}
        self.assertEqual(flags - documented, set(), "add these flags to config.example.env")
        self.assertEqual(documented - flags, set(), "config.example.env names unknown flags")


# ---------------------------------------------------------------------------------------------
# The Dockerfile and .dockerignore.


class DockerfileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dockerfile = Dockerfile(os.path.join(ARGS.repo, "deploy", "Dockerfile"))
        cls.build = cls.dockerfile.stages[0]
        cls.runtime = cls.dockerfile.stages[-1]

    def test_builds_on_bookworm_and_runs_on_bookworm_slim(self):
        self.assertGreaterEqual(len(self.dockerfile.stages), 2)
        self.assertEqual(self.build["image"], "debian:bookworm")
        self.assertEqual(self.runtime["image"], "debian:bookworm-slim")

    def test_runtime_copies_the_binary_from_the_build_stage(self):
        copies = [rest for keyword, rest in self.runtime["instructions"] if keyword == "COPY"]
        self.assertIsNotNone(self.build["name"])
        self.assertTrue(any(c.startswith("--from=%s " % self.build["name"]) and "gengate" in c
                            for c in copies), copies)

    def test_runs_as_a_numeric_non_root_user(self):
        user = Dockerfile.last(self.runtime, "USER")
        self.assertIsNotNone(user)
        uid = user.split(":")[0]
        self.assertRegex(uid, r"^\d+$", "numeric, so Kubernetes can verify runAsNonRoot")
        self.assertNotEqual(int(uid), 0)

    def test_exposes_grpc_and_admin_ports(self):
        exposed = set()
        for keyword, rest in self.runtime["instructions"]:
            if keyword == "EXPOSE":
                exposed |= {int(p.split("/")[0]) for p in rest.split()}
        self.assertTrue({GRPC_PORT, ADMIN_PORT} <= exposed, exposed)

    def test_entrypoint_is_exec_form_so_sigterm_reaches_gengate(self):
        entrypoint = Dockerfile.last(self.runtime, "ENTRYPOINT")
        self.assertIsNotNone(entrypoint)
        self.assertRegex(entrypoint, r'^\["[^"]*gengate"')

    def test_build_stage_installs_the_build_packages(self):
        wanted = install_deps_packages(ARGS.repo) - BUILD_PACKAGES_NOT_NEEDED
        self.assertTrue(wanted)
        self.assertEqual(wanted - set(Dockerfile.apt_packages(self.build)), set(),
                         "install these in the Dockerfile's build stage, or add them to "
                         "BUILD_PACKAGES_NOT_NEEDED here if the gengate target does not need them")

    def test_runtime_stage_installs_no_development_packages(self):
        packages = Dockerfile.apt_packages(self.runtime)
        self.assertTrue(packages)
        self.assertEqual([p for p in packages if p.endswith("-dev")], [])
        self.assertIn("ca-certificates", packages)

    def test_runtime_packages_cover_every_linked_library(self):
        installed = set(Dockerfile.apt_packages(self.runtime)) | SLIM_BASE_PACKAGES
        missing = {lib: pkg for lib, pkg in linked_packages(ARGS.binary).items()
                   if pkg.split(":")[0] not in installed}
        self.assertEqual(missing, {}, "add these packages to the Dockerfile's runtime stage")

    def test_dockerignore_excludes_build_trees(self):
        with open(os.path.join(ARGS.repo, ".dockerignore")) as ignore:
            patterns = [line.strip() for line in ignore
                        if line.strip() and not line.startswith("#")]
        for path in ("build", "build-asan", "build-lead", ".git"):
            self.assertTrue(any(fnmatch.fnmatch(path, p.lstrip("/")) for p in patterns), path)
        for path in ("server", "proto", "CMakeLists.txt", "deploy"):
            self.assertFalse(any(fnmatch.fnmatch(path, p.lstrip("/")) for p in patterns), path)


# ---------------------------------------------------------------------------------------------
# The real binary accepts each overlay's configuration.


class BinaryAcceptsConfigTest(unittest.TestCase):
    """Starts gengate with an overlay's ConfigMap and args (loopback ports, no upstream traffic),
    waits for its `serving` log line, then checks that SIGTERM drains it to exit 0."""

    START_TIMEOUT_S = 30

    def run_overlay(self, rendered, key_file):
        env = {k: v for k, v in os.environ.items()
               if k == "PATH" or k.endswith("SAN_OPTIONS")}  # no GENGATE_* from the caller
        env.update(rendered.environment())
        # Loopback only, ports picked by the kernel, and nothing sent off this machine.
        env["GENGATE_LISTEN"] = "127.0.0.1:0"
        env["GENGATE_ADMIN_LISTEN"] = "127.0.0.1:0"
        if env.get("GENGATE_UPSTREAM_URL") != "fake":
            env["GENGATE_UPSTREAM_URL"] = "http://127.0.0.1:9"
        args = []
        for word in rendered.container.get("args", []):
            name = word[2:].split("=", 1)[0]
            if name in ("listen", "admin_listen", "upstream_url"):
                continue
            if name == "upstream_api_key_file":
                word = "--upstream_api_key_file=" + key_file
            args.append(word)

        process = subprocess.Popen([ARGS.binary] + args, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        lines = queue.Queue()

        def read_output():
            for line in process.stdout:
                lines.put(line)
            lines.put(None)  # end of output: the process has exited

        reader = threading.Thread(target=read_output, daemon=True)
        reader.start()
        output = []
        try:
            while True:
                try:
                    line = lines.get(timeout=self.START_TIMEOUT_S)
                except queue.Empty:
                    self.fail("%s: no `serving` line in %ds: %s" %
                              (rendered.name, self.START_TIMEOUT_S, "".join(output)))
                if line is None:
                    self.fail("%s: gengate exited %s before serving: %s" %
                              (rendered.name, process.wait(), "".join(output)))
                output.append(line)
                if "serving" in line:
                    break
            process.send_signal(signal.SIGTERM)
            drain = parse_duration_seconds(rendered.flag("drain_timeout"))
            self.assertEqual(process.wait(timeout=drain + 15), 0, "".join(output))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            reader.join(timeout=5)
            process.stdout.close()

    def test_gengate_starts_and_drains_with_each_overlay_config(self):
        overlays = load_overlays()
        with tempfile.TemporaryDirectory() as scratch:
            key_file = os.path.join(scratch, "api-key")
            with open(key_file, "w") as key:
                key.write("test-key-not-real\n")
            for name, rendered in overlays.items():
                with self.subTest(overlay=name):
                    self.run_overlay(rendered, key_file)


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--rendered", required=True, help="directory of NAME.yaml renders")
    parser.add_argument("--binary", required=True, help="the built gengate")
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], "-v"] + rest)


if __name__ == "__main__":
    main()
