# SPDX-License-Identifier: MIT
# Host tools (capnpc-baton, baton-inspect), the headers generated from abi/handover.capnp,
# and what the handover tests, the fuzzer and the benchmark need. Included by the
# top-level Makefile before its own rules; recipes may use its later variables.

CAPNP       ?= capnp
CLANGXX     ?= clang++
HANDOVER_SCHEMA := abi/handover.capnp
# A test-only schema: the current schema plus fields, standing in for "a newer writer" (evolution tests).
NEXT_SCHEMA := tests/golden/evolution/handover_next.capnp

CAPNPC_BATON := $(BUILD)/bin/capnpc-baton
BATON_INSPECT := $(BUILD)/bin/baton-inspect
HANDOVER_FUZZER := $(BUILD)/bin/fuzz-handover-reader
HANDOVER_BENCH := $(BUILD)/bin/bench-handover

HOST_TOOLS      += $(CAPNPC_BATON) $(BATON_INSPECT) $(HANDOVER_FUZZER)
GEN_HEADERS     += $(BUILD)/gen/handover_layout.hpp $(BUILD)/gen/handover_next_layout.hpp \
                   $(BUILD)/gen/handover_enums.hpp $(BUILD)/gen/handover_next_enums.hpp \
                   $(BUILD)/gen/abi/handover.capnp.h $(BUILD)/gen/evolution/handover_next.capnp.h
UNIT_EXTRA_OBJS += $(BUILD)/host/gen/handover.capnp.o $(BUILD)/host/gen/handover_next.capnp.o
UNIT_LIBS       += -lcapnp-json -lcapnp -lkj

# The golden-record tests find tests/golden/ from wherever the binary runs.
$(BUILD)/host/tests/unit/test_handover_golden.o $(BUILD)/host/tests/unit/test_update_roundtrip.o: \
    HOST_CXXFLAGS += -DBATON_SOURCE_ROOT='"$(CURDIR)"'

# Host programs are ordinary optimised binaries (the unit tests carry the sanitizers).
TOOL_CXXFLAGS = -std=c++20 -O2 -g $(WARNINGS) -I. -Ikernel -I$(BUILD)/gen -MMD -MP -DBATON_HOST
# libcapnp's generated C++ is not ours to hold to our warning set.
CAPNP_GEN_CXXFLAGS = -std=c++20 -O1 -g -I$(BUILD)/gen -MMD -MP

# ---- capnpc-baton and the generated headers ----------------------------------------------
CAPNPC_BATON_SRCS := $(sort $(wildcard tools/capnpc-baton/*.cpp))

$(CAPNPC_BATON): $(CAPNPC_BATON_SRCS) tools/capnpc-baton/schema_model.hpp
	@mkdir -p $(dir $@)
	$(HOST_CXX) -std=c++20 -O1 -g $(WARNINGS) $(CAPNPC_BATON_SRCS) -lcapnp -lkj -o $@

# One plugin run writes the layout header, the enums header and the canonical schema text.
$(BUILD)/gen/handover_layout.hpp $(BUILD)/gen/handover_enums.hpp &: $(HANDOVER_SCHEMA) $(CAPNPC_BATON)
	@mkdir -p $(dir $@)
	$(CAPNP) compile -o$(CAPNPC_BATON):$(BUILD)/gen $(HANDOVER_SCHEMA)

$(BUILD)/gen/handover_next_layout.hpp $(BUILD)/gen/handover_next_enums.hpp &: $(NEXT_SCHEMA) $(CAPNPC_BATON)
	@mkdir -p $(dir $@)
	$(CAPNP) compile -o$(CAPNPC_BATON):$(BUILD)/gen $(NEXT_SCHEMA)

$(BUILD)/gen/abi/handover.capnp.h $(BUILD)/gen/abi/handover.capnp.c++ &: $(HANDOVER_SCHEMA)
	@mkdir -p $(BUILD)/gen
	$(CAPNP) compile -oc++:$(BUILD)/gen $(HANDOVER_SCHEMA)

$(BUILD)/gen/evolution/handover_next.capnp.h $(BUILD)/gen/evolution/handover_next.capnp.c++ &: $(NEXT_SCHEMA)
	@mkdir -p $(BUILD)/gen
	$(CAPNP) compile --src-prefix=tests/golden -oc++:$(BUILD)/gen $(NEXT_SCHEMA)

# ---- libcapnp's classes for the schemas, for the unit tests (sanitized) and the tools ------
$(BUILD)/host/gen/handover.capnp.o: $(BUILD)/gen/abi/handover.capnp.c++
	@mkdir -p $(dir $@)
	$(HOST_CXX) $(CAPNP_GEN_CXXFLAGS) -fsanitize=address,undefined -x c++ -c $< -o $@

$(BUILD)/host/gen/handover_next.capnp.o: $(BUILD)/gen/evolution/handover_next.capnp.c++
	@mkdir -p $(dir $@)
	$(HOST_CXX) $(CAPNP_GEN_CXXFLAGS) -fsanitize=address,undefined -x c++ -c $< -o $@

$(BUILD)/tools/gen/handover.capnp.o: $(BUILD)/gen/abi/handover.capnp.c++
	@mkdir -p $(dir $@)
	$(HOST_CXX) $(CAPNP_GEN_CXXFLAGS) -O2 -x c++ -c $< -o $@

# ---- baton-inspect ------------------------------------------------------------------------
# The codec and validation only: the rest of handover/ is the live update itself, which
# needs kernel code these host programs do not link.
HANDOVER_SRCS := $(addprefix handover/,wire_reader.cpp wire_builder.cpp record_reader.cpp record_writer.cpp \
                   validate.cpp validate_domain.cpp validate_text.cpp)
INSPECT_SRCS  := $(sort $(wildcard tools/inspect/*.cpp))
INSPECT_OBJS  := $(INSPECT_SRCS:%.cpp=$(BUILD)/tools/%.o) $(HANDOVER_SRCS:%.cpp=$(BUILD)/tools/%.o) \
                 $(BUILD)/tools/kernel/lib/format.o $(BUILD)/tools/gen/handover.capnp.o

$(BUILD)/tools/%.o: %.cpp | $(GEN_HEADERS)
	@mkdir -p $(dir $@)
	$(HOST_CXX) $(TOOL_CXXFLAGS) -c $< -o $@

$(BATON_INSPECT): $(INSPECT_OBJS)
	@mkdir -p $(dir $@)
	$(HOST_CXX) $^ -lcapnp-json -lcapnp -lkj -o $@

# ---- fuzzing: the kernel's record reader under libFuzzer, ASan and UBSan -----------------
FUZZ_SRCS := tests/fuzz/fuzz_handover_reader.cpp $(HANDOVER_SRCS) kernel/lib/format.cpp
FUZZ_CXXFLAGS = -std=c++20 -O1 -g -I. -Ikernel -I$(BUILD)/gen -DBATON_HOST \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_SECONDS ?= 600

$(HANDOVER_FUZZER): $(FUZZ_SRCS) $(wildcard handover/*.hpp) $(BUILD)/gen/handover_layout.hpp | $(GEN_HEADERS)
	@mkdir -p $(dir $@)
	$(CLANGXX) $(FUZZ_CXXFLAGS) $(FUZZ_SRCS) -o $@

# The long run: `make baton-fuzz FUZZ_SECONDS=3600`. New inputs land in the work corpus.
baton-fuzz: $(HANDOVER_FUZZER)
	@mkdir -p $(BUILD)/fuzz/corpus $(BUILD)/fuzz/artifacts
	for f in tests/golden/*/*.bin; do \
	    seed=$(BUILD)/fuzz/corpus/$$(basename $$(dirname $$f))-$$(basename $$f); [ -e $$seed ] || cp $$f $$seed; done
	$(HANDOVER_FUZZER) -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -artifact_prefix=$(BUILD)/fuzz/artifacts/ $(BUILD)/fuzz/corpus
	@$(MAKE) --no-print-directory baton-fuzz-image

# ---- benchmark ----------------------------------------------------------------------------
BENCH_SRCS := tests/bench/bench_handover.cpp $(HANDOVER_SRCS) kernel/lib/format.cpp

$(HANDOVER_BENCH): $(BENCH_SRCS) $(wildcard handover/*.hpp) $(BUILD)/gen/handover_layout.hpp | $(GEN_HEADERS)
	@mkdir -p $(dir $@)
	$(HOST_CXX) -std=c++20 -O2 -g $(WARNINGS) -I. -Ikernel -I$(BUILD)/gen -DBATON_HOST \
	    $(BENCH_SRCS) -lbenchmark -lpthread -o $@

baton-bench: $(HANDOVER_BENCH)
	$(HANDOVER_BENCH) --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

.PHONY: baton-fuzz baton-bench
