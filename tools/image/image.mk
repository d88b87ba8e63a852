# SPDX-License-Identifier: MIT
# Signed hypervisor images (docs/image-signing.md): the signing key (a development key
# made once under build/keys/ unless SIGNING_KEY=PATH is given), the trusted-keys header
# the kernel compiles in, the host tool baton-image, the sealed and signed
# build/baton.elf and build/baton-b.elf, and the image checker's fuzzer. Included by the
# top-level Makefile before its own rules; recipes may use its later variables.

OPENSSL ?= openssl
# An Ed25519 private key in PEM; empty: the development key below.
SIGNING_KEY ?=
# Extra Ed25519 keys (PEM, public or private; only the public half is used) the kernel
# trusts besides the signing key: the next release's or the previous one's, for rotation.
TRUSTED_KEYS ?=

KEYS_DIR        := $(BUILD)/keys
DEV_SIGNING_KEY := $(KEYS_DIR)/dev-signing.pem
SIGNING_KEY_FILE := $(if $(SIGNING_KEY),$(SIGNING_KEY),$(DEV_SIGNING_KEY))
SIGNING_PUBLIC_KEY := $(KEYS_DIR)/signing-public.raw
TRUSTED_KEYS_HEADER := $(BUILD)/gen/trusted_keys.hpp
BATON_IMAGE     := $(BUILD)/bin/baton-image
IMAGE_FUZZER    := $(BUILD)/bin/fuzz-image-check
SIGNED_IMAGES   := $(BUILD)/baton.elf $(BUILD)/baton-b.elf

HOST_TOOLS += $(BATON_IMAGE) $(IMAGE_FUZZER)

# ---- keys -----------------------------------------------------------------------------
# The stamp holds which keys this build uses. It is rewritten only when that changes, so
# `make SIGNING_KEY=other.pem` regenerates the public key and the trusted-keys header and
# re-signs the images, and a plain `make` after it goes back to the development key.
KEY_STAMP := $(KEYS_DIR)/keys.stamp
KEY_STAMP_TEXT := signing=$(abspath $(SIGNING_KEY_FILE)) trusted=$(abspath $(TRUSTED_KEYS))

$(KEY_STAMP): FORCE
	@mkdir -p $(dir $@)
	@if [ "$$(cat $@ 2>/dev/null)" != '$(KEY_STAMP_TEXT)' ]; then echo '$(KEY_STAMP_TEXT)' > $@; fi

# Made once: a later `make` keeps it, so images stay signed by the same key.
$(DEV_SIGNING_KEY):
	@mkdir -p $(dir $@)
	@echo "keys: creating the development signing key $@ (make SIGNING_KEY=PATH signs with another)"
	umask 077 && $(OPENSSL) genpkey -algorithm ed25519 -out $@

$(SIGNING_PUBLIC_KEY): $(SIGNING_KEY_FILE) $(KEY_STAMP) tools/image/keys.sh
	tools/image/keys.sh raw $(SIGNING_KEY_FILE) $@

$(TRUSTED_KEYS_HEADER): $(SIGNING_KEY_FILE) $(TRUSTED_KEYS) $(KEY_STAMP) tools/image/keys.sh
	@mkdir -p $(dir $@)
	tools/image/keys.sh header $@ $(SIGNING_KEY_FILE) $(TRUSTED_KEYS)

# Who includes the generated header: the control back end (the kernel's policy), the unit
# tests and the fuzzer. Normal prerequisites, so a new key recompiles them.
$(BUILD)/kobj/kernel/control/backend/hypervisor_control.o: $(TRUSTED_KEYS_HEADER)
$(BUILD)/host/tests/unit/test_image_signature.o: $(TRUSTED_KEYS_HEADER)
$(BUILD)/host/tests/unit/test_image_signature.o: HOST_CXXFLAGS += -DBATON_BUILD_DIR='"$(abspath $(BUILD))"'

# ---- baton-image --------------------------------------------------------------------------
# The image checks exactly as the kernel compiles them, with the freestanding crypto.
IMAGE_CHECK_SRCS := handover/image_check.cpp handover/image_digest.cpp kernel/lib/elf.cpp kernel/lib/format.cpp \
                    $(sort $(wildcard kernel/lib/crypto/*.cpp))
BATON_IMAGE_SRCS := tools/image/baton_image.cpp kernel/control/errno_names.cpp $(IMAGE_CHECK_SRCS)

$(BATON_IMAGE): $(BATON_IMAGE_SRCS:%.cpp=$(BUILD)/tools/%.o)
	@mkdir -p $(dir $@)
	$(HOST_CXX) $^ -o $@

# ---- the signed images ------------------------------------------------------------------
# Link (the Makefile's $(BUILD)/baton.unsigned.elf), seal (digest into the note, the
# message to sign), sign with OpenSSL, append the trailer; attach checks the result with
# the signing key before it writes it.
SIGN_DIR := $(BUILD)/sign
$(SIGNED_IMAGES): $(BUILD)/%.elf: $(BUILD)/%.unsigned.elf $(BATON_IMAGE) $(SIGNING_KEY_FILE) $(SIGNING_PUBLIC_KEY) \
                                  $(KEY_STAMP)
	@mkdir -p $(SIGN_DIR)
	$(BATON_IMAGE) seal $< $(SIGN_DIR)/$*.sealed.elf $(SIGN_DIR)/$*.message
	$(OPENSSL) pkeyutl -sign -rawin -inkey $(SIGNING_KEY_FILE) -in $(SIGN_DIR)/$*.message -out $(SIGN_DIR)/$*.signature
	$(BATON_IMAGE) attach $(SIGN_DIR)/$*.sealed.elf $(SIGN_DIR)/$*.signature $(SIGNING_PUBLIC_KEY) $@
	@rm -f $(SIGN_DIR)/$*.sealed.elf $(SIGN_DIR)/$*.message $(SIGN_DIR)/$*.signature

# One unit test checks both built images with the build's trusted keys.
$(BUILD)/unit_tests: | $(SIGNED_IMAGES)

# ---- fuzzing the image check ------------------------------------------------------------------
IMAGE_FUZZ_SRCS := tests/fuzz/fuzz_image_check.cpp $(IMAGE_CHECK_SRCS)

$(IMAGE_FUZZER): $(IMAGE_FUZZ_SRCS) $(wildcard handover/image_*.hpp kernel/lib/*.hpp kernel/lib/crypto/*.hpp abi/*.h) \
                 $(TRUSTED_KEYS_HEADER) | $(GEN_HEADERS)
	@mkdir -p $(dir $@)
	$(CLANGXX) $(FUZZ_CXXFLAGS) $(IMAGE_FUZZ_SRCS) -o $@

# The long run, after the record reader's (baton-fuzz): seeded with the signed images.
baton-fuzz-image: $(IMAGE_FUZZER) $(SIGNED_IMAGES)
	@mkdir -p $(BUILD)/fuzz/image-corpus $(BUILD)/fuzz/image-artifacts
	cp $(SIGNED_IMAGES) $(BUILD)/fuzz/image-corpus/
	$(IMAGE_FUZZER) -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(BUILD)/fuzz/image-artifacts/ \
	    $(BUILD)/fuzz/image-corpus

.PHONY: baton-fuzz-image
