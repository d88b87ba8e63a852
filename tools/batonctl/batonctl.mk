# SPDX-License-Identifier: MIT
# batonctl (the control-channel client) and control-test-server (kernel/control/ behind a
# unix socket, for the CLI tests). Included by the top-level Makefile next to tools.mk.

BATONCTL            := $(BUILD)/bin/batonctl
CONTROL_TEST_SERVER := $(BUILD)/bin/control-test-server
HOST_TOOLS          += $(BATONCTL) $(CONTROL_TEST_SERVER)

BATONCTL_CXXFLAGS = -std=c++20 -O2 -g $(WARNINGS) -I. -Ikernel -DBATON_HOST
CONTROL_SRCS      := $(sort $(wildcard kernel/control/*.cpp))
CONTROL_HDRS      := $(wildcard kernel/control/*.hpp) kernel/lib/types.hpp abi/errno.h

# batonctl shares the transfer codec with the kernel (one CRC/base64 for both sides) and the
# command table (kernel/control/command_table.hpp, a header: one vocabulary for both).
BATONCTL_SRCS := tools/batonctl/batonctl.cpp tools/batonctl/connection.cpp tools/batonctl/transfers.cpp \
                 tools/batonctl/usage.cpp \
                 tools/batonctl/live_update.cpp \
                 kernel/control/transfer_codec.cpp

$(BATONCTL): $(BATONCTL_SRCS) $(wildcard tools/batonctl/*.hpp) $(CONTROL_HDRS)
	@mkdir -p $(dir $@)
	$(HOST_CXX) $(BATONCTL_CXXFLAGS) $(BATONCTL_SRCS) -o $@

# The test server runs the real channel code under the sanitizers, so the CLI tests
# exercise it as well.
CONTROL_TEST_SERVER_SRCS := tools/batonctl/control_test_server.cpp $(CONTROL_SRCS) \
                            kernel/lib/format.cpp kernel/lib/log.cpp kernel/boot/cmdline.cpp \
                            kernel/boot/cmdline_number.cpp

$(CONTROL_TEST_SERVER): $(CONTROL_TEST_SERVER_SRCS) $(CONTROL_HDRS) kernel/boot/cmdline.hpp kernel/lib/format.hpp
	@mkdir -p $(dir $@)
	$(HOST_CXX) $(BATONCTL_CXXFLAGS) -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	    $(CONTROL_TEST_SERVER_SRCS) -o $@

.PHONY: batonctl
batonctl: $(BATONCTL) $(CONTROL_TEST_SERVER)
