#!/usr/bin/env bash
# Generates the Go code for gengate.v1 into OUT_DIR (a build directory; generated code is not
# committed) and writes OUT_DIR/go.work, which joins this module with the generated one.
#   client/go/generate.sh OUT_DIR
#   GOWORK=OUT_DIR/go.work go run ./example
set -euo pipefail

out_dir=$(mkdir -p "$1" && cd "$1" && pwd)
client_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
proto_dir=$(cd "$client_dir/../../proto" && pwd)
gen_module=gengate/proto/go

# The protoc plugins at the versions go.mod pins (its `tool` block), into a local GOBIN.
(cd "$client_dir" && GOWORK=off GOBIN="$out_dir/bin" go install tool)

# The generated module requires what go.mod requires, at the same versions.
version_of() { (cd "$client_dir" && GOWORK=off go list -m -f '{{.Version}}' "$1"); }
gen_dir="$out_dir/proto"
rm -rf "$gen_dir"
mkdir -p "$gen_dir"
cat >"$gen_dir/go.mod" <<MOD
module $gen_module

go $(cd "$client_dir" && GOWORK=off go list -m -f '{{.GoVersion}}')

require (
	google.golang.org/grpc $(version_of google.golang.org/grpc)
	google.golang.org/protobuf $(version_of google.golang.org/protobuf)
)
MOD

# The .proto files name no go_package, so each is mapped here to one Go package.
protos=(gengate/v1/common.proto gengate/v1/chat.proto gengate/v1/responses.proto
        gengate/v1/images.proto gengate/v1/embeddings.proto)
mappings=()
for proto in "${protos[@]}"; do
  mappings+=("M$proto=$gen_module/gengate/v1;gengatev1")
done
go_opts=("module=$gen_module" "${mappings[@]}")
protoc -I"$proto_dir" \
  --plugin=protoc-gen-go="$out_dir/bin/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$out_dir/bin/protoc-gen-go-grpc" \
  --go_out="$gen_dir" "${go_opts[@]/#/--go_opt=}" \
  --go-grpc_out="$gen_dir" "${go_opts[@]/#/--go-grpc_opt=}" \
  "${protos[@]}"

cat >"$out_dir/go.work" <<WORK
go $(cd "$client_dir" && GOWORK=off go list -m -f '{{.GoVersion}}')

use (
	$client_dir
	./proto
)
WORK
