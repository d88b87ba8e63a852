// SPDX-License-Identifier: MIT
// Names of the protocol's enumerations.
#include "control/protocol.hpp"
#include "control/words.hpp"

namespace {
constexpr const char *transfer_kind_names[] = {"image", "record", "snapshot"};
static_assert(sizeof(transfer_kind_names) / sizeof(transfer_kind_names[0]) == static_cast<usize>(TransferKind::count));
} // namespace

const char *transfer_kind_name(TransferKind kind)
{
    usize index = static_cast<usize>(kind);
    return index < static_cast<usize>(TransferKind::count) ? transfer_kind_names[index] : "unknown";
}

bool parse_transfer_kind(const char *text, TransferKind &kind)
{
    for (usize i = 0; i < static_cast<usize>(TransferKind::count); i++) {
        if (word_is(text, transfer_kind_names[i])) {
            kind = static_cast<TransferKind>(i);
            return true;
        }
    }
    return false;
}
