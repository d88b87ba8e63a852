// SPDX-License-Identifier: MIT
// The control channel on the second serial port (COM2), polled from the scheduling loop.
#include "control/backend/control_port.hpp"
#include "arch/x86_64/devices/serial.hpp"
#include "arch/x86_64/kexec/kexec.hpp"
#include "control/control_channel.hpp"
#include "lib/new.hpp"

namespace {

Uart com2(Uart::COM2);

class SerialOutput final : public ControlOutput {
public:
    void write(const char *text, usize length) override { com2.write_raw(text, length); }
};

SerialOutput output;
alignas(ControlChannel) u8 channel_storage[sizeof(ControlChannel)];
ControlChannel *channel;
HypervisorControl *hypervisor;

} // namespace

bool control_port_init(HypervisorControl &backend)
{
    if (!com2.init())
        return false;
    hypervisor = &backend;
    channel = new (channel_storage) ControlChannel(backend, output);
    return true;
}

void control_port_poll()
{
    if (channel == nullptr)
        return;
    // Bounded, so a flood of input cannot starve the guests.
    // Nothing after an accepted kexec or live update is read here: a client's next
    // request is for the next image, and an answer from this one would mislead it.
    for (int budget = 256; budget > 0 && !hypervisor->kexec_armed(); budget--) {
        int byte = com2.try_read();
        if (byte < 0)
            break;
        channel->feed(static_cast<char>(byte));
    }
    if (hypervisor->kexec_armed())
        kexec_jump();
}
