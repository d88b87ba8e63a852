// SPDX-License-Identifier: MIT
// 16550 UART driver for the serial console (COM1) and the control channel (COM2).
#pragma once
#include "lib/types.hpp"

class Uart final {
public:
    static constexpr u16 COM1 = 0x3f8;
    static constexpr u16 COM2 = 0x2f8;

    explicit constexpr Uart(u16 port) : port_(port) {}

    // 115200 baud, 8N1, FIFOs on, no interrupts. Returns false if no UART answers.
    [[nodiscard]] bool init();
    // Console text: '\n' goes out as "\r\n" for terminals.
    void write(const char *text, usize length);
    // Bytes exactly as given (the control protocol).
    void write_raw(const char *bytes, usize length);
    // Returns the next received byte, or -1 if none is waiting.
    [[nodiscard]] int try_read();

private:
    void put(char c);
    u16 port_;
    bool present_ = false;
};

Uart &console_uart();
