// SPDX-License-Identifier: MIT
// The control channel on the second serial port (COM2), polled from the scheduling loop.
#pragma once
#include "control/backend/hypervisor_control.hpp"

// Returns false (and the channel stays off) if no UART answers at COM2.
[[nodiscard]] bool control_port_init(HypervisorControl &backend);
// Feeds whatever COM2 received to the channel; answers go back out on COM2. Once a
// `kexec` request has been answered, enters the staged image.
void control_port_poll();
