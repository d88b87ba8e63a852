// SPDX-License-Identifier: MIT
// Test helper: builds small ELF64 x86-64 executables in memory.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

struct TestSegment {
    uint32_t type = 1; // PT_LOAD; 4 for PT_NOTE
    uint32_t flags = 5; // R X
    uint64_t paddr = 0x100000;
    uint64_t memsz = 0x2000;
    std::vector<uint8_t> bytes = std::vector<uint8_t>(0x100, 0xab);
};

// ELF header, program headers, then each segment's bytes in order (file offsets follow).
inline std::vector<uint8_t> build_elf(const std::vector<TestSegment> &segments, uint64_t entry)
{
    std::vector<uint8_t> file(64 + 56 * segments.size());
    auto put = [&](size_t at, auto value) { std::memcpy(file.data() + at, &value, sizeof(value)); };
    const uint8_t ident[16] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
    std::memcpy(file.data(), ident, 16);
    put(16, uint16_t{2}); // ET_EXEC
    put(18, uint16_t{62}); // EM_X86_64
    put(20, uint32_t{1});
    put(24, entry);
    put(32, uint64_t{64});
    put(52, uint16_t{64});
    put(54, uint16_t{56});
    put(56, static_cast<uint16_t>(segments.size()));
    for (size_t i = 0; i < segments.size(); i++) {
        const TestSegment &s = segments[i];
        size_t ph = 64 + 56 * i;
        uint64_t offset = file.size();
        file.insert(file.end(), s.bytes.begin(), s.bytes.end());
        put(ph, s.type);
        put(ph + 4, s.flags);
        put(ph + 8, offset);
        put(ph + 16, s.paddr);
        put(ph + 24, s.paddr);
        put(ph + 32, static_cast<uint64_t>(s.bytes.size()));
        put(ph + 40, s.memsz);
    }
    return file;
}

// A stand-in Linux vmlinux: one executable segment at 16 MiB (code of `nop`s, 2 MiB in
// memory) and, unless told otherwise, the PVH entry note (Xen, PHYS32_ENTRY) naming
// `pvh_entry`.
inline std::vector<uint8_t> build_pvh_vmlinux(uint32_t pvh_entry = 0x1000850, bool with_note = true)
{
    TestSegment code;
    code.paddr = 0x1000000;
    code.memsz = 0x200000;
    code.bytes = std::vector<uint8_t>(0x1000, 0x90);
    std::vector<TestSegment> segments{code};
    if (with_note) {
        TestSegment note;
        note.type = 4;
        note.flags = 4;
        note.paddr = 0;
        note.bytes = std::vector<uint8_t>(12 + 4 + 4);
        const uint32_t header[3] = {4, 4, 18}; // name size, descriptor size, PHYS32_ENTRY
        std::memcpy(note.bytes.data(), header, sizeof(header));
        std::memcpy(note.bytes.data() + 12, "Xen", 4);
        std::memcpy(note.bytes.data() + 16, &pvh_entry, 4);
        note.memsz = note.bytes.size();
        segments.push_back(note);
    }
    return build_elf(segments, 0x1000000);
}
