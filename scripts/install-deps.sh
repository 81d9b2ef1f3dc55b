#!/usr/bin/env bash
# Installs the Debian packages the project needs, only those missing.
# Uses sudo when not root. Safe to run repeatedly (it is quick when all is there).
# --check: print the missing packages (nothing when all are there), install nothing.
# --test:  also what the tests need beyond the build (Chromium, for the report's browser test;
#          Redis and nginx, which the store tests start on loopback).
set -euo pipefail

need=(gcc make pkg-config libmicrohttpd-dev libjansson-dev libcsv-dev uuid-dev libsqlite3-dev
      libhiredis-dev python3 curl ca-certificates shellcheck clang libclang-rt-14-dev)
for arg in "$@"; do
    [ "$arg" = "--test" ] && need+=(chromium redis-server nginx-light)
done
missing=()
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in "${need[@]}"; do
    installed "$p" || missing+=("$p")
done
# Any flavour of libcurl's development files will do.
if ! installed libcurl4-openssl-dev && ! installed libcurl4-gnutls-dev && ! installed libcurl4-nss-dev; then
    missing+=(libcurl4-openssl-dev)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "${1:-}" = "--check" ] || [ "${2:-}" = "--check" ]; then # only print what is missing
    echo "${missing[*]}"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
        echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
        exit 1
    fi
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
