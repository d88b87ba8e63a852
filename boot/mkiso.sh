#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds a GRUB ISO that boots a Baton image through multiboot2, under BIOS and UEFI.
# usage: boot/mkiso.sh [--bios-only] OUT.iso KERNEL.elf "COMMAND LINE" [MODULE_FILE "MODULE STRING"]...
# --bios-only leaves the EFI boot image out (half the size; the QEMU tests that boot
# through the BIOS use it).
set -euo pipefail

bios_only=false
if [ "${1:-}" = "--bios-only" ]; then
    bios_only=true
    shift
fi
if [ $# -lt 3 ] || [ $(( ($# - 3) % 2 )) -ne 0 ]; then
    echo "usage: $0 [--bios-only] OUT.iso KERNEL.elf \"COMMAND LINE\" [MODULE_FILE \"MODULE STRING\"]..." >&2
    exit 2
fi
out=$1 kernel=$2 cmdline=$3
shift 3

for tool in grub-mkrescue xorriso; do
    command -v "$tool" >/dev/null || { echo "$0: $tool is missing (run 'make deps')" >&2; exit 2; }
done
[ -d /usr/lib/grub/i386-pc ] || { echo "$0: grub-pc-bin is missing (run 'make deps')" >&2; exit 2; }
if ! $bios_only; then
    [ -d /usr/lib/grub/x86_64-efi ] || { echo "$0: grub-efi-amd64-bin is missing (run 'make deps')" >&2; exit 2; }
    command -v mformat >/dev/null || { echo "$0: mtools is missing (run 'make deps')" >&2; exit 2; }
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
staging=$work/iso   # what goes into the image; the log stays outside it
mkdir -p "$staging/boot/grub"
cp "$kernel" "$staging/boot/baton.elf"

{
    echo "serial --unit=0 --speed=115200"
    echo "terminal_input serial"
    echo "terminal_output serial"
    echo "set timeout=0"
    echo "menuentry \"Baton\" {"
    echo "    multiboot2 /boot/baton.elf $cmdline"
    # The image's own file again, as a module: its pristine copy, which a live update
    # from it needs to roll back to (docs/live-update.md).
    echo "    module2 /boot/baton.elf baton-self"
    index=0
    while [ $# -gt 0 ]; do
        cp "$1" "$staging/boot/module$index"
        echo "    module2 /boot/module$index $2"
        index=$((index + 1))
        shift 2
    done
    echo "    boot"
    echo "}"
} >"$staging/boot/grub/grub.cfg"

mkdir -p "$(dirname "$out")"
# Without -d grub-mkrescue takes every platform installed: BIOS (El Torito) and an EFI
# system partition image for UEFI firmware (x86_64-efi, built with mtools). -d names one
# platform only (given twice, the last wins).
directories=()
if $bios_only; then
    directories=(-d /usr/lib/grub/i386-pc)
fi
if ! grub-mkrescue "${directories[@]}" -o "$out" "$staging" >"$work/log" 2>&1; then
    cat "$work/log" >&2
    exit 1
fi
