// SPDX-License-Identifier: MIT
// batonctl's usage text and its own command forms; the hypervisor's commands come from
// control/command_table.hpp.
#pragma once
#include <string>

// A command batonctl runs its own way (files instead of chunks, a wait for the new image),
// or one it adds; it takes precedence over the protocol command of the same name.
struct ClientForm {
    const char *name;
    const char *synopsis; // after the name
    const char *help;
};

// The form called `name`, or nullptr.
const ClientForm *find_client_form(const std::string &name);

// The text of `batonctl --help`.
std::string usage_text();
