// SPDX-License-Identifier: MIT
// Deliberate failures on request (`selftest=`), proving that faults are reported.
#pragma once
#include "boot/cmdline.hpp"

// Does nothing for Selftest::none; otherwise triggers the failure and does not return.
void run_selftest(Selftest test);
