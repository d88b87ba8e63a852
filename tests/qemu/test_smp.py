# SPDX-License-Identifier: MIT
"""QEMU tests of the application processors (docs/smp.md) on a 4-CPU machine: all four
come up at boot and run the guests' vCPUs; every live update stops every vCPU on every
CPU, parks the three APs in wait-for-SIPI before the jump and the new image starts them
again (A -> B -> A -> B -> A), with the guests running throughout, and checks every AP's
TSC against the bootstrap CPU's with a call-function IPI; a CPU that keeps its
vCPU past the quiesce bound calls the update off and everything runs on; a rollback
parks and restarts them on the way back; `smp=N` caps the count and is passed on through
the update; a CPU exception parks the APs before the machine stops."""

import re

from baton_qemu import EXIT_EXCEPTION, EXIT_SUCCESS, Machine, boot, make_iso
from test_kexec import batonctl, expect, stripped
from test_live_update import GUESTS, check_guest_history, wait_for_guests
from update_report import CONSOLE_UPDATE

CPUS = 4
ALL_UP = rf"smp: {CPUS} of {CPUS} CPUs up \(APIC ids 0( \d+){{{CPUS - 1}}}\)"
PARKED = rf"smp: {CPUS - 1} of {CPUS - 1} application processors parked in wait-for-SIPI"
EXIT_ROLLED_BACK = 4


def smp_machine(ctx, name, cmdline="loglevel=info lu_bootmem=32M"):
    images = [(stripped(ctx, "baton-b.elf"), "baton-b"), (stripped(ctx, "baton.elf"), "baton-a")]
    modules = [(ctx.build / "guests" / elf, string) for elf, string in GUESTS] + images
    iso = make_iso(ctx.scratch / f"{name}.iso", ctx.build / "baton.elf", cmdline, modules)
    return Machine(iso, ctx.scratch, cpus=CPUS)


def test_smp_every_cpu_up_across_live_updates(ctx):
    with smp_machine(ctx, "smp-updates") as machine:
        machine.wait_for_pattern(ALL_UP, 60, "every CPU up at boot")
        machine.wait_for_pattern(r"control: listening on COM2", 60, "control channel up")
        wait_for_guests(machine)
        # The guests were placed over the CPUs: one of them runs on an application processor.
        homes = [int(c) for c in re.findall(r"vcpu-cpus=(\d+)", expect(ctx, machine, 0, "list"))]
        assert len(homes) == 3 and any(c != 0 for c in homes), homes
        # An AP that keeps its vCPU past the quiesce bound calls the update off; nothing
        # is parked and every guest goes on.
        before = len(machine.log)
        expect(ctx, machine, 0, "raw", "update-fault slow-cpu")
        code, out = batonctl(ctx, machine, "live-update", "--module", "baton-b", timeout=60)
        assert code != 0 and re.search(r"CPU [1-3] did not leave its vCPU within 500 ms; every vCPU runs on", out), \
            f"{code} {out}"
        wait_for_guests(machine, after=len(machine.log))
        assert not re.search(PARKED, machine.log[before:]), machine.log[before:]
        assert "update: aborted, guests continue" in machine.log[before:]
        targets = ["baton-b", "baton-a", "baton-b", "baton-a"]
        for update, target in enumerate(targets, start=1):
            before = len(machine.log)
            out = expect(ctx, machine, 0, "live-update", "--module", target, timeout=60)
            assert "outcome committed" in out, out
            machine.wait_for_pattern(PARKED, 10, f"update {update}: the APs parked", start=before)
            machine.wait_for_pattern(CONSOLE_UPDATE, 30, f"update {update}: the update line", start=before)
            machine.wait_for_pattern(ALL_UP, 30, f"update {update}: every CPU up again", start=before)
            wait_for_guests(machine, after=before)
        log = machine.log
        assert len(re.findall(ALL_UP, log)) == len(targets) + 1, re.findall(r"smp: .*", log)
        assert len(re.findall(PARKED, log)) == len(targets), re.findall(r"smp: .*", log)
        assert "did not start" not in log and "did not acknowledge" not in log
        # After every start-up, each AP read its TSC in a call-function request, in step.
        assert len(re.findall(rf"smp: TSCs in step on {CPUS - 1} APs", log)) == len(targets) + 1, \
            re.findall(r"smp: .*", log)
        assert "did not answer a call-function request" not in log and "TSC is at least" not in log
        banners = re.findall(r"\[I\] Baton \S+ \(build \S+-([AB])\) starting", log)
        assert banners == ["A", "B", "A", "B", "A"], banners
        check_guest_history(log)


def test_smp_rollback_brings_every_cpu_back(ctx):
    with smp_machine(ctx, "smp-rollback") as machine:
        machine.wait_for_pattern(ALL_UP, 60, "every CPU up at boot")
        machine.wait_for_pattern(r"update: this image's copy is boot module 'baton-self'", 60, "the way back known")
        wait_for_guests(machine)
        for fault in ("hang-cli", "panic-early"):
            before = len(machine.log)
            expect(ctx, machine, 0, "raw", f"update-fault {fault}")
            expect(ctx, machine, EXIT_ROLLED_BACK, "live-update", "--module", "baton-b", timeout=60)
            machine.wait_for_pattern(PARKED, 10, f"{fault}: the APs parked before the jump", start=before)
            machine.wait_for_pattern(r"update: ROLLED BACK", 60, f"{fault}: back in the old image", start=before)
            machine.wait_for_pattern(ALL_UP, 30, f"{fault}: every CPU up again", start=before)
            wait_for_guests(machine, after=before)
        # A good update afterwards still parks and restarts them.
        before = len(machine.log)
        out = expect(ctx, machine, 0, "live-update", "--module", "baton-b", timeout=60)
        assert "outcome committed" in out, out
        machine.wait_for_pattern(ALL_UP, 30, "every CPU up after the good update", start=before)
        wait_for_guests(machine, after=before)
        log = machine.log
        assert len(re.findall(ALL_UP, log)) == 4, re.findall(r"smp: .*", log)
        check_guest_history(re.sub(r"PANIC", "failed-image", log))


def test_smp_option_caps_the_cpus_and_is_passed_on(ctx):
    with smp_machine(ctx, "smp-two", "loglevel=info lu_bootmem=32M smp=2") as machine:
        capped = rf"smp: 2 of {CPUS} CPUs up \(APIC ids 0 \d+\), \d+ ms; smp=2 leaves 2 out"
        machine.wait_for_pattern(capped, 60, "two CPUs up")
        machine.wait_for_pattern(r"control: listening on COM2", 60, "control channel up")
        wait_for_guests(machine)
        before = len(machine.log)
        out = expect(ctx, machine, 0, "live-update", "--module", "baton-b", timeout=60)
        assert "outcome committed" in out, out
        machine.wait_for_pattern(r"smp: 1 of 1 application processors parked", 10, "one AP parked", start=before)
        machine.wait_for_pattern(capped, 30, "still two CPUs after the update", start=before)
        command_lines = re.findall(r"boot: command line '([^']*)'", machine.log)
        assert len(command_lines) == 2 and "smp=2" in command_lines[1].split(), command_lines
        wait_for_guests(machine, after=before)

    iso = make_iso(ctx.scratch / "smp-one.iso", ctx.build / "baton.elf", "loglevel=info smp=1 after_boot=exit")
    run = boot(iso, ctx.scratch, cpus=CPUS)
    run.expect_status(EXIT_SUCCESS)
    run.expect(rf"smp: 1 of {CPUS} CPUs up \(APIC ids 0\), \d+ ms; smp=1 leaves 3 out", "smp=1: one CPU")
    run.expect_absent(r"application processors parked", "nothing to park")


def test_smp_a_cpu_exception_parks_the_aps(ctx):
    iso = make_iso(ctx.scratch / "smp-exception.iso", ctx.build / "baton.elf", "loglevel=info selftest=page_fault")
    run = boot(iso, ctx.scratch, cpus=CPUS)
    run.expect_status(EXIT_EXCEPTION)
    run.expect(ALL_UP, "every CPU up before the fault")
    run.expect(r"EXCEPTION 14[^\n]*[\s\S]*" + PARKED, "the APs parked after the exception report")
