#!/usr/bin/env bash
# Installs the Debian packages given that are missing; does nothing when all are there.
#   scripts/apt-install.sh WHAT PACKAGE...   (WHAT names them in the one line it prints)
# Packages that ship a service (nginx, nghttpx) must not start it: gengate's tests and the
# benchmark start their own on 127.0.0.1. A policy-rc.d that forbids every start (exit 101)
# is put in place for the install unless the machine has one already.
set -euo pipefail

what=$1
shift
missing=()
for package in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing missing Debian packages for $what: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  added_policy=1
fi
cleanup() { if [ "$added_policy" -eq 1 ]; then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
