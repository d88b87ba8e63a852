// The control channel on the second serial port (COM2), polled from the scheduling loop.
#pragma once
#include "control/control_backend.hpp"

// Returns false (and the channel stays off) if no UART answers at COM2.
bool control_port_init(ControlBackend &backend);
// Feeds whatever COM2 received to the channel; answers go back out on COM2.
void control_port_poll();
