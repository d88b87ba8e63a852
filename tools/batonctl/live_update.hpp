// SPDX-License-Identifier: MIT
// batonctl live-update: stage the next image, hand over, wait for it, show its report.
#pragma once
#include "connection.hpp"
#include "transfers.hpp"
#include <string>

struct LiveUpdateOptions {
    ByteVector image; // uploaded first, unless `module` names the next image
    std::string module; // a boot module holding the next image; empty: upload `image`
    // Limits both the old image's answer (it pauses and serializes every domain first)
    // and, after that, the wait for the new image to answer.
    double timeout_seconds = 60;
    bool progress = false;
};

// Prints the old image's phase lines, then the new image's version and update report.
// Returns EXIT_OK, or EXIT_HYPERVISOR_ERROR when the update (or the new image's report)
// is refused, or EXIT_ROLLED_BACK when the new image failed and the old one answered
// instead; a new image that never answers is a Failure with EXIT_CHANNEL.
int live_update(Connection &connection, const LiveUpdateOptions &options);
