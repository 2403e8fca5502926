#!/usr/bin/env bash
# Generates the Python code for gengate.v1 (and the google.rpc detail messages) into OUT_DIR,
# a build directory: generated code is not committed. Uses Debian's protoc and
# grpc_python_plugin (package protobuf-compiler-grpc), matching Debian's python3-grpcio.
#   client/python/generate.sh OUT_DIR
#   PYTHONPATH=OUT_DIR:client/python /usr/bin/python3 client/python/example.py
set -euo pipefail

out_dir=$(mkdir -p "$1" && cd "$1" && pwd)
proto_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../proto" && pwd)
rm -rf "$out_dir/gengate" "$out_dir/google"
protoc -I"$proto_dir" \
  --plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" \
  --python_out="$out_dir" --grpc_python_out="$out_dir" \
  gengate/v1/common.proto gengate/v1/chat.proto gengate/v1/responses.proto \
  gengate/v1/images.proto gengate/v1/embeddings.proto
# The detail messages carry no services: only their message classes are needed.
protoc -I"$proto_dir" --python_out="$out_dir" google/rpc/status.proto google/rpc/error_details.proto
