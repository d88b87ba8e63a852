// SPDX-License-Identifier: MIT
// batonctl's binary transfers: chunked upload and download with checksums and retries.
#pragma once
#include "connection.hpp"
#include <cstdint>
#include <string>
#include <vector>

using ByteVector = std::vector<std::uint8_t>;

// Sends `data` as `kind` (upload begin / chunk... / end). Resends a chunk the hypervisor
// reports as corrupted (EIO) a few times. Returns the final `ok` message; a refusal is a
// Failure with EXIT_HYPERVISOR_ERROR.
std::string upload(Connection &connection, const std::string &kind, const ByteVector &data, bool show_progress);

// Fetches `kind` (download begin / chunk... / end), checking each chunk and the whole.
ByteVector download(Connection &connection, const std::string &kind, bool show_progress);
