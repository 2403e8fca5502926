#!/usr/bin/env bash
# Renders every kustomize overlay and checks the manifests and the Dockerfile against the deploy
# contract (deploy/check_deploy.py). Used by `make deploy-check` and ctest (deploy_check).
#
#   deploy/check.sh --binary build/server/gengate [--tools-dir build/tools]
#
# kustomize: $KUSTOMIZE if set, else one installed earlier in the tools dir, else `kustomize` or
# `kubectl kustomize` from PATH, else `go install` of the pinned version into the tools dir
# (the Go module and build caches keep later installs quick). PyYAML: the python3 on PATH if it
# has it, else Debian's /usr/bin/python3 with python3-yaml (installed when missing).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kustomize_version="v5.5.0"
binary=""
tools_dir="$repo/build/tools"

usage() { echo "usage: $0 --binary PATH_TO_GENGATE [--tools-dir DIR]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="${2:-}"; shift 2 ;;
    --binary=*) binary="${1#*=}"; shift ;;
    --tools-dir) tools_dir="${2:-}"; shift 2 ;;
    --tools-dir=*) tools_dir="${1#*=}"; shift ;;
    *) usage ;;
  esac
done
[ -n "$binary" ] || usage
if [ ! -x "$binary" ]; then
  echo "deploy/check.sh: $binary is not an executable gengate (run make build first)" >&2
  exit 2
fi

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

install_kustomize() {
  local dest="$1"
  if ! command -v go >/dev/null 2>&1; then
    echo "deploy/check.sh: no kustomize, kubectl or go found; install one of them" >&2
    exit 2
  fi
  mkdir -p "$tools_dir"
  local staging
  staging="$(mktemp -d "$tools_dir/.kustomize.XXXXXX")"
  echo "deploy/check.sh: go install kustomize $kustomize_version into $(dirname "$dest")" \
    "(the first time takes a few minutes)" >&2
  local started=$SECONDS
  (cd "$staging" && env -u GOFLAGS GOBIN="$staging" GOTOOLCHAIN=local \
    go install "sigs.k8s.io/kustomize/kustomize/v5@$kustomize_version")
  mkdir -p "$(dirname "$dest")"
  mv -f "$staging/kustomize" "$dest"  # a rename: a concurrent run never sees half a binary
  rm -rf "$staging"
  echo "deploy/check.sh: kustomize installed in $((SECONDS - started))s" >&2
}

render=()
pinned="$tools_dir/kustomize-$kustomize_version/kustomize"
if [ -n "${KUSTOMIZE:-}" ]; then
  render=("$KUSTOMIZE" build)
elif [ -x "$pinned" ]; then
  render=("$pinned" build)
elif command -v kustomize >/dev/null 2>&1; then
  render=(kustomize build)
elif command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  render=(kubectl kustomize)
else
  install_kustomize "$pinned"
  render=("$pinned" build)
fi

python=""
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import yaml' 2>/dev/null; then
    python="$(command -v "$candidate")"
    break
  fi
done
if [ -z "$python" ]; then
  echo "deploy/check.sh: installing Debian's python3-yaml for /usr/bin/python3" >&2
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends python3 python3-yaml
  python=/usr/bin/python3
fi

rendered="$(mktemp -d)"
trap 'rm -rf "$rendered"' EXIT
echo "deploy/check.sh: rendering with ${render[*]}" >&2
"${render[@]}" "$repo/deploy/kustomize/base" > "$rendered/base.yaml.out"  # must build alone too
for overlay in "$repo"/deploy/kustomize/overlays/*/; do
  name="$(basename "$overlay")"
  "${render[@]}" "$overlay" > "$rendered/$name.yaml"
done

"$python" "$repo/deploy/check_deploy.py" --repo "$repo" --rendered "$rendered" --binary "$binary"
