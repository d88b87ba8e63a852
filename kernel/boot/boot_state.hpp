// SPDX-License-Identifier: MIT
// What this image was booted with, for the parts that hand it on (kexec, live update).
#pragma once
#include "boot/boot_info.hpp"
#include "boot/cmdline.hpp"

const BootInfo &boot_information();
const KernelOptions &boot_options();
