// SPDX-License-Identifier: MIT
// Hypercall dispatch (abi/hypercall.h): every guest argument checked, errors returned.
#pragma once
#include "lib/types.hpp"

class Domain;
struct Vcpu;

struct HypercallArgs {
    u64 number;
    u64 arg[5]; // rdi, rsi, rdx, r10, r8
    u8 privilege_level; // the guest's CPL when it called
};

// What the vCPU loop does after the call returns its value to the guest.
enum class HypercallAction : u8 { resume, yield, block, stop };

struct HypercallResult {
    i64 value = 0;
    HypercallAction action = HypercallAction::resume;
};

// A hypercall made by `vcpu` (of its domain): blocking, time and start-up act on it.
HypercallResult handle_hypercall(Vcpu &vcpu, const HypercallArgs &args);
