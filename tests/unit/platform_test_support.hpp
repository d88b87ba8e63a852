// SPDX-License-Identifier: MIT
// Test helper: an interrupt line that remembers what a device model drove on it.
#pragma once
#include "arch/x86_64/platform/device_model.hpp"
#include <utility>
#include <vector>

struct IrqRecorder final : IrqSink {
    std::vector<std::pair<u32, bool>> events; // (line, level), every call in order
    bool level = false;
    int rising = 0; // low-to-high transitions
    u32 line = 0; // the line last driven
    void set_irq(u32 irq, bool high) override
    {
        events.emplace_back(irq, high);
        line = irq;
        if (high && !level)
            ++rising;
        level = high;
    }
};
