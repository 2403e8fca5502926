#!/usr/bin/env bash
# Installs the load generators and the proxy the benchmark compares against (Debian 12
# packages); does nothing when all are there. Called by `make bench`, not by `make test`.
set -euo pipefail

packages=(nginx-light nghttp2-client wrk)

exec "$(dirname "$0")/../scripts/apt-install.sh" "the benchmark" "${packages[@]}"
