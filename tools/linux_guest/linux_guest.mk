# SPDX-License-Identifier: MIT
# The real Linux test guest (docs/linux-guest.md): Debian's kernel, a busybox initramfs with
# the workload of tests/guests/linux/, and the command line, all in $(BUILD)/linux/.
# Included by the top-level Makefile. Not part of `all`: `make test` builds it after
# everything else (see there), so a plain `make` never downloads a kernel.
#
# Variables: LINUX_KERNEL=/boot/vmlinuz-... (a bzImage of your own), LINUX_DEB=path.deb (a
# linux-image package of your own), BUSYBOX_DEB=path.deb. Otherwise the packages are
# fetched with apt-get download into $(LINUX_DIR)/debs, which is kept across rebuilds.

LINUX_DIR       := $(BUILD)/linux
LINUX_SRC       := tests/guests/linux
LINUX_TOOL      := tools/linux_guest/build_guest.py
LINUX_TOOL_DEPS := $(LINUX_TOOL) tools/linux_guest/kernel_image.py
LINUX_GUEST     := $(LINUX_DIR)/vmlinuz $(LINUX_DIR)/vmlinux $(LINUX_DIR)/initramfs.cpio.gz $(LINUX_DIR)/cmdline
LINUX_KERNEL    ?=
LINUX_DEB       ?=
BUSYBOX_DEB     ?=

.PHONY: linux-guest
linux-guest: $(LINUX_GUEST)

# Which kernel and busybox were asked for: rewritten only when that changes, so that
# `make linux-guest LINUX_KERNEL=...` rebuilds and a repeated `make linux-guest` does nothing.
define linux_choice
	@mkdir -p $(dir $@)
	@echo '$(1)' | cmp -s - $@ || echo '$(1)' > $@
endef
$(LINUX_DIR)/kernel.choice: FORCE
	$(call linux_choice,LINUX_KERNEL=$(LINUX_KERNEL) LINUX_DEB=$(LINUX_DEB))
$(LINUX_DIR)/busybox.choice: FORCE
	$(call linux_choice,BUSYBOX_DEB=$(BUSYBOX_DEB))

# One step writes both (vmlinuz last), hence a grouped target.
$(LINUX_DIR)/vmlinuz $(LINUX_DIR)/vmlinux &: $(LINUX_DIR)/kernel.choice $(LINUX_TOOL_DEPS) $(LINUX_KERNEL) $(LINUX_DEB)
	nice $(PYTHON) $(LINUX_TOOL) kernel --out $(LINUX_DIR) --cache $(LINUX_DIR)/debs \
	    $(if $(LINUX_KERNEL),--kernel $(LINUX_KERNEL)) $(if $(LINUX_DEB),--linux-deb $(LINUX_DEB))

# The workload's programs: static, since the initramfs has no libc.
$(LINUX_DIR)/bin/clockgap: $(LINUX_SRC)/clockgap.c
	@mkdir -p $(dir $@)
	gcc -static -O2 -Wall -Wextra -Werror -o $@ $<

$(LINUX_DIR)/initramfs.cpio.gz: $(LINUX_DIR)/busybox.choice $(LINUX_TOOL_DEPS) $(LINUX_SRC)/init.sh \
                                $(LINUX_DIR)/bin/clockgap $(BUSYBOX_DEB)
	nice $(PYTHON) $(LINUX_TOOL) initramfs --out $@ --cache $(LINUX_DIR)/debs --init $(LINUX_SRC)/init.sh \
	    --program $(LINUX_DIR)/bin/clockgap $(if $(BUSYBOX_DEB),--busybox-deb $(BUSYBOX_DEB))

$(LINUX_DIR)/cmdline: $(LINUX_SRC)/cmdline $(LINUX_TOOL_DEPS)
	$(PYTHON) $(LINUX_TOOL) cmdline --source $< --out $@
