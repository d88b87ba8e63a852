// SPDX-License-Identifier: MIT
// Placement new for objects built in memory from the kernel heap or frame allocator.
#pragma once
#ifdef BATON_HOST
#include <new>
#else
#include "lib/types.hpp"
inline void *operator new(usize, void *where) noexcept { return where; }
#endif
