#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian packages Baton needs that are missing; does nothing when all are there.
set -euo pipefail

packages=(
    g++ make python3 git            # build and test drivers
    qemu-system-x86                 # the test machine
    grub-common grub-pc-bin xorriso # bootable ISO
    grub-efi-amd64-bin mtools ovmf  # its UEFI half, and the UEFI firmware make test boots it with
    capnproto libcapnp-dev          # handover record (host side)
    googletest libgtest-dev libbenchmark-dev
    clang                           # libFuzzer
    clang-format clang-tidy         # the style checks of make test (tests/cli/test_style.py)
    openssl                         # image signing keys and signatures (docs/image-signing.md)
    gcc libc6-dev                   # the Linux guest's static workload programs (docs/linux-guest.md)
    gnuplot-nox                     # make bench's blackout plot (tests/bench/blackout_plot.py)
)

# One dpkg-query for all: the Makefile runs this before every build.
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null || true)
missing=()
for package in "${packages[@]}"; do
    grep -qx "$package install ok installed" <<<"$installed" || missing+=("$package")
done

# The Linux guest's kernel and busybox are fetched by the build (make linux-guest) with
# apt-get download, not installed; that needs package lists, which a fresh machine may
# lack even when every package above is present. A glob, so the check costs nothing.
lists=(/var/lib/apt/lists/*_Packages*)
have_lists=1
[ -e "${lists[0]}" ] || have_lists=0

if [ ${#missing[@]} -eq 0 ] && [ $have_lists -eq 1 ]; then
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: not root and no sudo; run apt-get update and install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: no package lists yet (needed to fetch the Linux guest): apt-get update"
    $sudo apt-get update -qq
    exit 0
fi
echo "deps: installing ${missing[*]}"
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
