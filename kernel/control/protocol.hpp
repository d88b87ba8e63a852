// SPDX-License-Identifier: MIT
// Control-channel protocol limits and names, shared by the hypervisor and batonctl.
#pragma once
#include "lib/types.hpp"

// Bumped when a change would confuse an older client; `version` reports it.
inline constexpr u32 CONTROL_PROTOCOL_VERSION = 1;

// Characters in one request or response line, the newline excluded. Longer requests
// are refused whole (E2BIG); longer response lines are cut short by the writer.
inline constexpr usize CONTROL_LINE_MAX = 1024;
// Words in one request line: "create MODULE" plus every create option fits easily.
inline constexpr usize CONTROL_MAX_WORDS = 12;
// A Ctrl-U (NAK) drops whatever part of a line has arrived, silently, as on a terminal.
// Clients send it before their first request: the port may hold half a stale line.
inline constexpr char CONTROL_CANCEL_LINE = 0x15;

inline constexpr u32 CONTROL_MAX_DOMAIN_ID = 32767;
inline constexpr u32 CONTROL_MAX_VCPUS = 64;
inline constexpr usize CONTROL_DOMAIN_NAME_MAX = 31;
inline constexpr usize CONTROL_MODULE_NAME_MAX = 63;
inline constexpr usize CONTROL_NONCE_MAX = 64;
inline constexpr usize CONTROL_FAULT_NAME_MAX = 31;
// A refusal message from the backend (after "error ENAME ").
inline constexpr usize CONTROL_REASON_MAX = 200;

// Binary transfers travel as numbered chunks of this many bytes (the last one may be
// shorter), each a base64 word with its own CRC-32; the whole transfer has one too.
inline constexpr usize TRANSFER_CHUNK_SIZE = 512;
inline constexpr usize TRANSFER_CHUNK_TEXT_MAX = (TRANSFER_CHUNK_SIZE + 2) / 3 * 4;
inline constexpr u64 TRANSFER_MAX_SIZE = 1 * GiB;

// What a transfer carries; the backend decides which direction each kind allows.
enum class TransferKind : u8 {
    image, // a hypervisor image for live update (host -> hypervisor)
    record, // the handover record this image was started from (hypervisor -> host)
    snapshot, // a record serialized on request from the running state (hypervisor -> host)
    count,
};

const char *transfer_kind_name(TransferKind kind);
// Returns false for an unknown name.
[[nodiscard]] bool parse_transfer_kind(const char *text, TransferKind &kind);
