# SPDX-License-Identifier: MIT
# Baton — top-level build. Plain Make; every output lands in build/.
# `make help` lists the targets.

BUILD     ?= build
CXX       ?= g++
HOST_CXX  ?= g++
PYTHON    ?= python3
VERSION   := 0.1.0
# Two images built from one tree differ in their build id (A/B live-update tests).
BUILD_ID  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo nogit)
VARIANT   ?= A
QEMU_MEM  ?= 512M
# Extra QEMU devices for `make run`, e.g. an IOMMU and a device to assign (docs/iommu.md):
# QEMU_DEVICES='-device intel-iommu,aw-bits=48 -device edu' (or '-device amd-iommu -device edu')
QEMU_DEVICES ?=

.DEFAULT_GOAL := all

# Packages first, before any rule runs: with -j a `deps` prerequisite would race the
# compilers (issue 12). Every goal but these few needs them; the check costs one
# dpkg-query when all are present. Exported so that recursive makes do not repeat it.
GOALS_WITHOUT_PACKAGES := clean help deps
ifndef BATON_DEPS_CHECKED
ifneq ($(filter-out $(GOALS_WITHOUT_PACKAGES),$(or $(MAKECMDGOALS),$(.DEFAULT_GOAL))),)
DEPS_STATUS := $(shell tools/deps.sh >&2; echo $$?)
ifneq ($(DEPS_STATUS),0)
$(error tools/deps.sh failed (exit $(DEPS_STATUS)); nothing was built)
endif
endif
endif
export BATON_DEPS_CHECKED := 1
# Build in parallel by default: `make test` on a fresh clone compiles a lot.
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2) --output-sync=target
.PHONY: all iso run demo test unit bench fuzz deps clean help

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wundef -Wcast-align -Wnull-dereference \
            -Wno-missing-field-initializers
# The kernel (and the freestanding record codec) holds itself to more: implicit
# conversions that change a value or a sign, and no stack frame above 2.25 KiB of the
# 32 KiB kernel stack (boot/entry32.S) — the record reader's walk is the largest.
KERNEL_WARNINGS := $(WARNINGS) -Wconversion -Wsign-conversion -Wold-style-cast -Wuseless-cast -Wduplicated-cond \
    -Wduplicated-branches -Wlogical-op -Wdouble-promotion -Wformat=2 -Wmissing-declarations -Wredundant-decls \
    -Wnon-virtual-dtor -Woverloaded-virtual -Wextra-semi -Wimplicit-fallthrough -Wsuggest-override \
    -Wzero-as-null-pointer-constant -Wcast-qual -Wvla -Wpointer-arith -Wframe-larger-than=2304
# Lock-order checking of the memory-management locks (kernel/mm/mm_lock.hpp): on in the
# kernel unless `make DEBUG_LOCKS=0` (then only the spinlocks remain), always in the unit
# tests, whose death tests rely on it.
DEBUG_LOCKS ?= 1
# The record's preserved list comes from the allocator's preserved-block index; with
# CHECK_PRESERVED=1 every live update also walks the frame table and refuses when the two
# disagree (kernel/update/preserved_scan.hpp). Off by default: the walk costs what RAM holds.
CHECK_PRESERVED ?= 0

# Hooks that tools/tools.mk and tests/guests/guests.mk extend: host programs, generated
# headers every object depends on, extra objects/libraries for the unit-test binary,
# and the test guests' images.
HOST_TOOLS      :=
GEN_HEADERS     :=
UNIT_EXTRA_OBJS :=
UNIT_LIBS       :=
GUEST_IMAGES    :=
-include tools/tools.mk
-include tools/batonctl/batonctl.mk
-include tests/guests/guests.mk
-include tools/linux_guest/linux_guest.mk
-include tools/image/image.mk

# ---- kernel (freestanding) ---------------------------------------------------------
KERNEL_CXXFLAGS := -std=c++20 -O2 -g $(KERNEL_WARNINGS) -ffreestanding -fno-exceptions -fno-rtti \
    -fno-threadsafe-statics -fno-use-cxa-atexit -fno-stack-protector -fno-pic -fno-pie \
    -mno-red-zone -mgeneral-regs-only -mcmodel=kernel -fno-omit-frame-pointer \
    -fno-tree-loop-distribute-patterns -fno-asynchronous-unwind-tables \
    -nostdinc -isystem $(shell $(CXX) -print-file-name=include) -I. -Ikernel -I$(BUILD)/gen -MMD -MP \
    -DBATON_DEBUG_LOCKS=$(DEBUG_LOCKS) -DBATON_CHECK_PRESERVED=$(CHECK_PRESERVED)
KERNEL_ASFLAGS  := -g -I. -MMD -MP
KERNEL_LDFLAGS  := -nostdlib -static -no-pie -z max-page-size=0x1000 -z noexecstack \
    -Wl,--no-undefined -Wl,--build-id=none -T boot/linker.ld

KERNEL_CXX_SRCS := $(shell find kernel handover -name '*.cpp' | sort)
KERNEL_ASM_SRCS := $(shell find boot kernel handover -name '*.S' | sort)
KERNEL_OBJS := $(KERNEL_CXX_SRCS:%.cpp=$(BUILD)/kobj/%.o) $(KERNEL_ASM_SRCS:%.S=$(BUILD)/kobj/%.o)

# Pure-logic kernel code (everything outside arch/ except the start-up, the control back
# end and the C runtime shims) also compiles for the host, where the unit tests exercise it.
# Arch files that only build data structures in memory (no privileged instructions)
# are portable too, so their unit tests run on the host.
PORTABLE_ARCH := kernel/arch/x86_64/svm/npt.cpp kernel/arch/x86_64/acpi/acpi.cpp kernel/arch/x86_64/acpi/madt.cpp kernel/arch/x86_64/iommu/dmar.cpp \
                 kernel/arch/x86_64/iommu/vtd_format.cpp kernel/arch/x86_64/iommu/io_mapper.cpp \
                 kernel/arch/x86_64/iommu/ivrs.cpp kernel/arch/x86_64/iommu/amdvi_format.cpp \
                 kernel/arch/x86_64/guest/linux_loader.cpp kernel/arch/x86_64/guest/pc_platform.cpp \
                 kernel/arch/x86_64/guest/pc_platform_record.cpp $(sort $(wildcard kernel/arch/x86_64/platform/*.cpp))
PORTABLE_SRCS := $(filter-out kernel/arch/% kernel/init/% kernel/control/backend/% \
                 kernel/update/live_update.cpp kernel/update/rollback.cpp kernel/update/self_image.cpp \
                 kernel/lib/crt.cpp \
                 kernel/boot/version.cpp, \
                 $(KERNEL_CXX_SRCS)) $(PORTABLE_ARCH)

$(BUILD)/kobj/kernel/boot/version.o: KERNEL_CXXFLAGS += -DBATON_VERSION='"$(VERSION)"' \
    -DBATON_BUILD_ID='"$(BUILD_ID)-$(VARIANT)"'
$(BUILD)/kobj/kernel/boot/version.o: FORCE

$(BUILD)/kobj/%.o: %.cpp | $(GEN_HEADERS)
	@mkdir -p $(dir $@)
	$(CXX) $(KERNEL_CXXFLAGS) -c $< -o $@

$(BUILD)/kobj/%.o: %.S
	@mkdir -p $(dir $@)
	$(CXX) $(KERNEL_ASFLAGS) -c $< -o $@

# The linked image; tools/image/image.mk seals and signs it into $(BUILD)/baton.elf.
$(BUILD)/baton.unsigned.elf: $(KERNEL_OBJS) boot/linker.ld
	$(CXX) $(KERNEL_LDFLAGS) $(KERNEL_OBJS) -o $@
	@if nm -u $@ | grep -q .; then echo "undefined symbols in $@:"; nm -u $@; exit 1; fi

# A second image from the same objects with another build id (variant B), so tests can
# hand over from one image to a different one; signed into $(BUILD)/baton-b.elf.
$(BUILD)/kobj/kernel/boot/version-b.o: kernel/boot/version.cpp FORCE | $(GEN_HEADERS)
	@mkdir -p $(dir $@)
	$(CXX) $(KERNEL_CXXFLAGS) -DBATON_VERSION='"$(VERSION)"' -DBATON_BUILD_ID='"$(BUILD_ID)-B"' -c $< -o $@

$(BUILD)/baton-b.unsigned.elf: $(filter-out $(BUILD)/kobj/kernel/boot/version.o,$(KERNEL_OBJS)) $(BUILD)/kobj/kernel/boot/version-b.o \
                      boot/linker.ld
	$(CXX) $(KERNEL_LDFLAGS) $(filter %.o,$^) -o $@

$(BUILD)/baton.iso: $(BUILD)/baton.elf boot/mkiso.sh
	boot/mkiso.sh $@ $(BUILD)/baton.elf "$(CMDLINE)"

CMDLINE ?= loglevel=info

all: $(BUILD)/baton.elf $(BUILD)/baton-b.elf $(BUILD)/baton.iso host-tools $(GUEST_IMAGES)
iso: $(BUILD)/baton.iso

# ---- host: unit tests and tools ----------------------------------------------------
HOST_CXXFLAGS := -std=c++20 -O1 -g $(WARNINGS) -I. -Ikernel -I$(BUILD)/gen -MMD -MP -DBATON_HOST -DBATON_DEBUG_LOCKS=1 \
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
HOST_LDFLAGS  := -fsanitize=address,undefined

UNIT_SRCS := $(sort $(wildcard tests/unit/*.cpp))
UNIT_OBJS := $(UNIT_SRCS:%.cpp=$(BUILD)/host/%.o) $(PORTABLE_SRCS:%.cpp=$(BUILD)/host/%.o)

$(BUILD)/host/%.o: %.cpp | $(GEN_HEADERS)
	@mkdir -p $(dir $@)
	$(HOST_CXX) $(HOST_CXXFLAGS) -c $< -o $@

# One unit test checks the built kernel images themselves (tools/image/image.mk).
$(BUILD)/unit_tests: $(UNIT_OBJS) $(UNIT_EXTRA_OBJS) | $(BUILD)/baton.elf
	$(HOST_CXX) $(HOST_LDFLAGS) $^ $(UNIT_LIBS) -lgtest -lgtest_main -lpthread -o $@

# The concurrency tests again, built with ThreadSanitizer (docs/p2m.md, "Concurrency"): the
# tests that run threads as CPUs, with every portable kernel source compiled for TSan into an
# archive (the linker takes only what they use). make test runs it beside unit_tests.
TSAN_CXXFLAGS := $(filter-out -fsanitize=% -fno-sanitize-recover=%,$(HOST_CXXFLAGS)) -fsanitize=thread
TSAN_TEST_SRCS := $(sort $(wildcard tests/unit/test_concurrent_*.cpp)) tests/unit/test_mm_locks.cpp tests/unit/test_p2m_log_dirty.cpp \
    tests/unit/host_platform.cpp
TSAN_KERNEL_OBJS := $(PORTABLE_SRCS:%.cpp=$(BUILD)/tsan/%.o)

$(BUILD)/tsan/%.o: %.cpp | $(GEN_HEADERS)
	@mkdir -p $(dir $@)
	$(HOST_CXX) $(TSAN_CXXFLAGS) -c $< -o $@

$(BUILD)/tsan/libbaton_portable.a: $(TSAN_KERNEL_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/unit_tests_tsan: $(TSAN_TEST_SRCS:%.cpp=$(BUILD)/tsan/%.o) $(BUILD)/tsan/libbaton_portable.a
	$(HOST_CXX) -fsanitize=thread $^ -lgtest -lgtest_main -lpthread -o $@

host-tools: $(HOST_TOOLS)

# Formats every C++ source with .clang-format (make test checks that nothing would change).
format:
	@git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp' '*.h' | grep -v '^tests/golden/' | xargs clang-format -i

# What compiles for the host: tests/cli/test_style.py runs clang-tidy over it.
print-portable-sources:
	@echo $(PORTABLE_SRCS)

# ---- running -----------------------------------------------------------------------
QEMU_CMD = qemu-system-x86_64 -machine q35 -cpu max -accel tcg -m $(QEMU_MEM) \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 -no-reboot $(QEMU_DEVICES)

# FIRMWARE=bios (SeaBIOS, QEMU's default) or uefi (Debian's OVMF); the ISO boots both ways.
FIRMWARE ?= bios
OVMF := /usr/share/ovmf/OVMF.fd
QEMU_FIRMWARE_bios :=
QEMU_FIRMWARE_uefi := -bios $(OVMF)

run: $(BUILD)/baton.iso
	@case "$(FIRMWARE)" in bios|uefi) ;; *) echo "make run: FIRMWARE must be bios or uefi, not '$(FIRMWARE)'" >&2; exit 2;; esac
	$(QEMU_CMD) $(QEMU_FIRMWARE_$(FIRMWARE)) -display none -serial mon:stdio -cdrom $(BUILD)/baton.iso

demo: all
	@$(MAKE) --no-print-directory linux-guest
	@$(PYTHON) tests/qemu/demo.py --build $(BUILD)

unit: $(BUILD)/unit_tests $(BUILD)/unit_tests_tsan

# The Linux guest only after the rest has built: on a fresh clone it downloads Debian's
# kernel, which should neither compete with the compilers nor start when they fail.
test: all $(BUILD)/unit_tests $(BUILD)/unit_tests_tsan
	@$(MAKE) --no-print-directory linux-guest
	@$(PYTHON) tests/run_tests.py --build $(BUILD)

# Benchmarks and long fuzz runs live beside their code (tools/tools.mk); after the codec
# benchmark, the live-update blackout under QEMU side by side across host RAM, guest RAM and
# guest count (tables, build/bench/blackout.json and .png), then Linux's boot time under
# Baton against plain QEMU.
# One after the other, so that neither is timed while the other runs or anything compiles.
bench: all
	@$(MAKE) --no-print-directory baton-bench
	@$(PYTHON) tests/bench/blackout.py --build $(BUILD)
	@$(MAKE) --no-print-directory linux-guest
	@$(PYTHON) tests/bench/linux_boot.py --build $(BUILD)

# Many live updates in a row with three guests, every one checked (not part of `make test`).
SOAK_UPDATES ?= 100
SOAK_LINUX_UPDATES ?= 50
SOAK_CPUS ?= 4
.PHONY: soak
soak: all
	@$(PYTHON) tests/qemu/soak.py --build $(BUILD) --updates $(SOAK_UPDATES) --cpus $(SOAK_CPUS)
	@$(MAKE) --no-print-directory linux-guest
	@$(PYTHON) tests/qemu/soak_linux.py --build $(BUILD) --updates $(SOAK_LINUX_UPDATES)

fuzz: baton-fuzz

deps:
	@tools/deps.sh

clean:
	rm -rf $(BUILD)

help:
	@echo "Baton $(VERSION) — make targets:"
	@echo "  make            build $(BUILD)/baton.elf (and image B, $(BUILD)/baton-b.elf), sealed and signed,"
	@echo "                  $(BUILD)/baton.iso, the test guests and the host tools (batonctl, baton-inspect,"
	@echo "                  baton-image); the first build creates a development signing key in $(BUILD)/keys/"
	@echo "  make run        boot the ISO (BIOS and UEFI hybrid) in QEMU with the serial console on this terminal"
	@echo "                  (Ctrl-A X quits); FIRMWARE=uefi boots it through OVMF instead of the BIOS"
	@echo "  make demo       install what is missing, boot with three guests and the Linux guest, drive batonctl,"
	@echo "                  live-update the hypervisor under the running guests: once with a failure that"
	@echo "                  rolls back, then three times for real; show the log"
	@echo "  make test       install what is missing, run unit tests and QEMU tests; last line 'N passed, N failed'"
	@echo "  make unit       build the host unit-test binaries: $(BUILD)/unit_tests (AddressSanitizer, UBSan)"
	@echo "                  and $(BUILD)/unit_tests_tsan (the concurrency tests under ThreadSanitizer)"
	@echo "  make linux-guest  Debian's kernel (vmlinuz, vmlinux with its PVH entry), a busybox initramfs"
	@echo "                  with the test workload and the command line, in $(BUILD)/linux/ (make test builds"
	@echo "                  it; LINUX_KERNEL=/boot/vmlinuz-... or LINUX_DEB=file.deb for another kernel)"
	@echo "  make bench      run the benchmarks: handover codec (encode, validate+decode of 10^6 ranges), then"
	@echo "                  live-update blackout and phases under QEMU side by side: host RAM 1 vs 16 GiB, 1, 2, 4 CPUs, one"
	@echo "                  guest of 64 MiB vs 4 GiB, 1 vs 8 guests (medians, ratios, goals met/missed;"
	@echo "                  $(BUILD)/bench/blackout.json and a gnuplot plot, blackout.png), then Linux's boot"
	@echo "                  to init under Baton against plain QEMU (medians, ratio)"
	@echo "  make soak       $(SOAK_UPDATES) live updates A->B->A... with three guests on $(SOAK_CPUS) CPUs, each checked"
	@echo "                  (SOAK_UPDATES=N, SOAK_CPUS=N),"
	@echo "                  every fourth preceded by an attempt that fails at a random fault and rolls back,"
	@echo "                  then $(SOAK_LINUX_UPDATES) with the Linux guest running (SOAK_LINUX_UPDATES=N)"
	@echo "  make fuzz       long libFuzzer runs of the handover record reader and the image check"
	@echo "  make format     format the C++ sources with .clang-format (make test fails on unformatted code)"
	@echo "  make deps       install missing Debian packages (idempotent; every goal that builds runs it first)"
	@echo "  make clean      remove $(BUILD)/"
	@echo "Variables: CMDLINE='...' (kernel command line in the ISO), QEMU_MEM=$(QEMU_MEM), VARIANT=$(VARIANT),"
	@echo "  FIRMWARE=$(FIRMWARE) (make run: bios or uefi),"
	@echo "  QEMU_DEVICES='-device intel-iommu,aw-bits=48 -device edu' or '-device amd-iommu -device edu' (extra QEMU devices for make run)"
	@echo "  SIGNING_KEY=key.pem (sign the images with this Ed25519 key instead of $(BUILD)/keys/dev-signing.pem),"
	@echo "  TRUSTED_KEYS='old.pem new.pem' (more public keys the hypervisor accepts, for key rotation;"
	@echo "  docs/image-signing.md)"

.PHONY: FORCE host-tools print-portable-sources format
FORCE:

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
