#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the Linux test guest: mounts the kernel's file systems, starts the clock
# checker, writes files of random data into tmpfs and re-verifies them in passes forever.
#
# Every line it prints starts with "linux: " so a test can pick them out of the kernel's
# messages on the same console (docs/linux-guest.md lists them). The sizes and periods
# can be changed from the kernel command line (unknown name=value words become init's
# environment): linux_files, linux_file_kib, linux_pause, linux_dmesg_every.

files=${linux_files:-8}
file_kib=${linux_file_kib:-256}
pause=${linux_pause:-0.5}         # seconds between passes: a line every ~1 s under TCG
dmesg_every=${linux_dmesg_every:-5}

# `busybox --install` finds its own path through /proc/self/exe: proc first.
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=1777 tmpfs /tmp

say() { echo "linux: $*"; }

# What the kernel logged that means the guest is not healthy: oopses, BUG()s, lockups,
# RCU stalls, hung tasks, and a clocksource (the TSC, say) thrown out as unstable —
# the kind of damage a long pause or a wrong clock after a live update causes.
problems='Oops|BUG:|Kernel panic|general protection fault|soft lockup|hard LOCKUP|rcu.*stall|RCU stall'
problems="$problems|hung task|blocked for more than|clocksource.*unstable|TSC unstable|Call Trace"

check_dmesg() {
    found=$(dmesg | grep -E "$problems" | head -n 1)
    if [ -n "$found" ]; then say "dmesg problem: $found"; else say "dmesg clean"; fi
}

read -r uptime _ </proc/uptime
say "init up uptime=${uptime}s kernel=$(uname -r)"

clockgap &

mkdir -p /tmp/work
cd /tmp/work || { say "cannot enter /tmp/work"; exec sh; }
i=1
while [ "$i" -le "$files" ]; do
    dd if=/dev/urandom of="f$i" bs=1024 count="$file_kib" 2>/dev/null || say "writing f$i FAILED"
    i=$((i + 1))
done
sha256sum f* >/tmp/sums
say "files written: $files x $file_kib KiB"

pass=0
while :; do
    pass=$((pass + 1))
    if result=$(sha256sum -c /tmp/sums 2>&1); then
        say "pass $pass ok"
    else
        # sha256sum -c prints "NAME: OK" or "NAME: FAILED" per file (and why it could not read one).
        echo "$result" | grep -v ': OK$' | while read -r line; do say "pass $pass FAILED ${line%%: *}"; done
    fi
    # The first pass checks too, so a test sees the verdict early.
    [ $((pass % dmesg_every)) -eq 1 ] || [ "$dmesg_every" -eq 1 ] && check_dmesg
    sleep "$pause"
done
