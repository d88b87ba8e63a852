#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds a GRUB BIOS ISO that boots a Baton image through multiboot2.
# usage: boot/mkiso.sh OUT.iso KERNEL.elf "COMMAND LINE" [MODULE_FILE "MODULE STRING"]...
set -euo pipefail

if [ $# -lt 3 ] || [ $(( ($# - 3) % 2 )) -ne 0 ]; then
    echo "usage: $0 OUT.iso KERNEL.elf \"COMMAND LINE\" [MODULE_FILE \"MODULE STRING\"]..." >&2
    exit 2
fi
out=$1 kernel=$2 cmdline=$3
shift 3

for tool in grub-mkrescue xorriso; do
    command -v "$tool" >/dev/null || { echo "$0: $tool is missing (run 'make deps')" >&2; exit 2; }
done
[ -d /usr/lib/grub/i386-pc ] || { echo "$0: grub-pc-bin is missing (run 'make deps')" >&2; exit 2; }

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
# -d: BIOS only; the EFI images would need mtools and are not used.
if ! grub-mkrescue -d /usr/lib/grub/i386-pc -o "$out" "$staging" >"$work/log" 2>&1; then
    cat "$work/log" >&2
    exit 1
fi
