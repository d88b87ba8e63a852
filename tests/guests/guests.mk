# SPDX-License-Identifier: MIT
# The test guests: tiny freestanding 64-bit programs that Baton runs as domains (see
# docs/guests.md). Each guest is one folder (its .cpp and .S files) linked with the
# shared runtime in lib/. Included by the top-level Makefile before its own rules.

GUEST_DIR   := tests/guests
GUEST_NAMES := counter memcheck events hostile views dma fpu remap

GUEST_CXXFLAGS := -std=c++20 -O2 -g $(WARNINGS) -ffreestanding -fno-exceptions -fno-rtti \
    -fno-threadsafe-statics -fno-use-cxa-atexit -fno-stack-protector -fno-pic -fno-pie \
    -mno-red-zone -mgeneral-regs-only -fno-tree-loop-distribute-patterns \
    -fno-asynchronous-unwind-tables \
    -nostdinc -isystem $(shell $(CXX) -print-file-name=include) -I. -I$(GUEST_DIR) -MMD -MP
GUEST_ASFLAGS  := -g -I. -I$(GUEST_DIR) -MMD -MP
GUEST_LDFLAGS  := -nostdlib -static -no-pie -z max-page-size=0x1000 -z noexecstack \
    -Wl,--no-undefined -Wl,--build-id=none -T $(GUEST_DIR)/lib/linker.ld

guest_objects = $(patsubst $(GUEST_DIR)/%,$(BUILD)/guests/%.o,$(basename \
    $(sort $(wildcard $(GUEST_DIR)/$(1)/*.cpp $(GUEST_DIR)/$(1)/*.S))))
# The runtime, plus what the guests share with the hypervisor (one copy, docs/architecture.md).
GUEST_SHARED_SRCS := kernel/arch/x86_64/common/interrupt_entry.S
GUEST_LIB_OBJS := $(call guest_objects,lib) $(GUEST_SHARED_SRCS:%.S=$(BUILD)/guests/shared/%.o)

GUEST_IMAGES += $(GUEST_NAMES:%=$(BUILD)/guests/%.elf)

$(BUILD)/guests/%.o: $(GUEST_DIR)/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(GUEST_CXXFLAGS) -c $< -o $@

$(BUILD)/guests/%.o: $(GUEST_DIR)/%.S
	@mkdir -p $(dir $@)
	$(CXX) $(GUEST_ASFLAGS) -c $< -o $@

$(BUILD)/guests/shared/%.o: %.S
	@mkdir -p $(dir $@)
	$(CXX) $(GUEST_ASFLAGS) -c $< -o $@

# Each image's objects (named here, so make keeps them), then one rule that links any image.
$(foreach guest,$(GUEST_NAMES),$(eval $(BUILD)/guests/$(guest).elf: $(call guest_objects,$(guest)) $(GUEST_LIB_OBJS)))

$(BUILD)/guests/%.elf: $(GUEST_DIR)/lib/linker.ld
	$(CXX) $(GUEST_LDFLAGS) $(filter %.o,$^) -o $@
	@if nm -u $@ | grep -q .; then echo "undefined symbols in $@:"; nm -u $@; exit 1; fi

.PHONY: guests
guests: $(GUEST_IMAGES)
