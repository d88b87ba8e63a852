#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian packages Baton needs that are missing; does nothing when all are there.
set -euo pipefail

packages=(
    g++ make python3 git            # build and test drivers
    qemu-system-x86                 # the test machine
    grub-common grub-pc-bin xorriso # bootable ISO
    capnproto libcapnp-dev          # handover record (host side)
    googletest libgtest-dev libbenchmark-dev
    clang                           # libFuzzer
    clang-format clang-tidy         # the style checks of make test (tests/cli/test_style.py)
)

# One dpkg-query for all: the Makefile runs this before every build.
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null || true)
missing=()
for package in "${packages[@]}"; do
    grep -qx "$package install ok installed" <<<"$installed" || missing+=("$package")
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
