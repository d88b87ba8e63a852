// SPDX-License-Identifier: MIT
// The architecture as generic code sees it: the one arch header dom/ and update/ include.
#pragma once

// The rule (docs/architecture.md, checked by tools/check_includes.py): generic parts name
// no file under arch/x86_64/; what they need of the hardware comes through here, so a
// second architecture (or an EPT backend) changes this list, not every caller.

#include "arch/x86_64/cpu/cpu.hpp" // cpu::rdtsc, interrupts on and off (live update)
#include "arch/x86_64/devices/timer.hpp" // timer::tsc_khz, the time origin the record carries
#include "arch/x86_64/guest/linux_loader.hpp" // entering an unmodified Linux (PC guests)
#include "arch/x86_64/guest/platform.hpp" // a PC guest's emulated devices
#include "arch/x86_64/kexec/kexec.hpp" // entering the next image (live update)
#include "arch/x86_64/kexec/rollback_kit.hpp" // the way back into the old image (rollback)
#include "arch/x86_64/pci/pci.hpp" // pci::Address of devices assigned to domains
#include "arch/x86_64/svm/npt.hpp" // nested page tables, the p2m's hardware cache
