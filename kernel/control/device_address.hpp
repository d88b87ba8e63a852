// SPDX-License-Identifier: MIT
// PCI device addresses as the control channel spells them: "BB:DD.F" in hex.
#pragma once
#include "control/control_backend.hpp"
#include "lib/pci_address_text.hpp"

[[nodiscard]] inline bool parse_device_address(const char *text, DeviceAddress &out)
{
    usize length = 0;
    while (length < 8 && text[length] != '\0')
        length++;
    return parse_pci_address_text(text, length, out.bus, out.device, out.function);
}
