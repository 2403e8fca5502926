#!/usr/bin/env bash
# Installs the Debian 12 packages gengate builds and tests with; does nothing when all are there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache mold
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libcurl4-openssl-dev libssl-dev nlohmann-json3-dev libabsl-dev libsimdjson-dev libcpp-httplib-dev
  libgoogle-perftools-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-grpcio python3-protobuf
  nghttp2-proxy
)

exec "$(dirname "$0")/apt-install.sh" "gengate's build and tests" "${packages[@]}"
