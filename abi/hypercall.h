// SPDX-License-Identifier: MIT
/* The hypercall ABI between Baton and its guests. Shared by the hypervisor and guests;
   C and C++ compatible, freestanding. Changes are additive only: guests built against an
   older header keep working across live updates to newer hypervisors. */
#pragma once
#include <stdint.h>

/* ---- Calling convention --------------------------------------------------------------
   VMMCALL with RAX = call number and arguments in RDI, RSI, RDX, R10, R8 (as for Linux
   system calls). The result comes back in RAX: >= 0 on success, a negated baton_errno
   (abi/errno.h) on failure. All other registers are preserved. Guest buffers are passed
   by guest-physical address and must lie in the guest's RAM (not MMIO, not unmapped);
   the hypervisor checks every address, length and frame number it is given. */

enum baton_hypercall {
    BATON_HC_CONSOLE_WRITE = 0, /* (gpa, length) -> bytes written; length <= BATON_CONSOLE_MAX */
    BATON_HC_YIELD = 1, /* () -> 0: let other vCPUs run */
    BATON_HC_BLOCK = 2, /* (deadline_ns) -> 0: sleep until an unmasked event is pending
                           or BATON_HC_TIME reaches deadline_ns (0: no deadline) */
    BATON_HC_SHARED_INFO_MAP = 3, /* (gfn) -> 0: map this domain's shared-info page at gfn, which
                                     must be a RAM frame of the guest; the RAM page there is
                                     unmapped while the shared-info page covers it */
    BATON_HC_EVTCHN = 4, /* (op, arg0, arg1) -> op-specific; see baton_evtchn_op */
    BATON_HC_DOMAIN_INFO = 5, /* (gpa, size) -> bytes written of struct baton_domain_info */
    BATON_HC_TIME = 6, /* () -> nanoseconds since the host first booted; monotonic and
                          continuous across live updates */
    BATON_HC_SHUTDOWN = 7, /* (reason) -> does not return; see baton_shutdown_reason */
    BATON_HC_VCPU_UP = 8, /* (vcpu, entry, stack) -> 0: start vCPU `vcpu` (1..vcpus-1 of
                             baton_domain_info) like vCPU 0 was started (see "What a guest
                             is started with"), with EIP = entry, ESP = stack and ESI = vcpu.
                             -ENOENT: no such vCPU; -EBUSY: already up; -EFAULT: entry or
                             stack - 1 not in the guest's RAM below 4 GiB */
    BATON_HC_VCPU_INFO_MAP = 9, /* (vcpu, gfn) -> 0: map vCPU `vcpu`'s info page (struct
                                   baton_vcpu_info) at gfn, a RAM frame of the guest, covered
                                   like the shared-info page's (mapping again moves it). From
                                   then on that vCPU's upcall_pending and upcall_mask are the
                                   ones in its info page, not the shared-info page's. -ENOENT:
                                   no such vCPU; -EINVAL: gfn not the guest's RAM; -ENOMEM */
    BATON_HC_COUNT
};

#define BATON_CONSOLE_MAX 1024u

enum baton_evtchn_op {
    BATON_EVTCHN_SET_UPCALL_VECTOR = 0, /* (vector 32..255) -> 0: the interrupt vector events
                                           are delivered on; no delivery until it is set */
    BATON_EVTCHN_BIND_TIMER = 1, /* (period_ns >= BATON_TIMER_MIN_PERIOD_NS) -> port:
                                    a periodic timer event */
    BATON_EVTCHN_ALLOC_UNBOUND = 2, /* (remote_domid) -> port that remote_domid may bind */
    BATON_EVTCHN_BIND_INTERDOMAIN = 3, /* (remote_domid, remote_port) -> local port */
    BATON_EVTCHN_SEND = 4, /* (port) -> 0: make the peer's port pending */
    BATON_EVTCHN_CLOSE = 5, /* (port) -> 0 */
    BATON_EVTCHN_UNMASK = 6, /* (port) -> 0: clear the mask bit and deliver the event
                                if it is pending */
    BATON_EVTCHN_BIND_VCPU = 7, /* (port, vcpu) -> 0: deliver the port's upcalls to vCPU
                                   `vcpu` (every port starts with vCPU 0); it wakes that
                                   vCPU from BATON_HC_BLOCK. -ENOENT: no such vCPU or a
                                   free port */
};

#define BATON_TIMER_MIN_PERIOD_NS 1000000u /* 1 ms */

enum baton_shutdown_reason {
    BATON_SHUTDOWN_POWEROFF = 0, /* the guest finished */
    BATON_SHUTDOWN_CRASH = 1, /* the guest detected a fatal error in itself */
};

/* ---- The shared-info page ------------------------------------------------------------
   One page per domain, allocated by the hypervisor as an extra page (preserved across
   live updates) and mapped where the guest asks. Event channel ports are bits: the
   hypervisor sets a pending bit and, if the port is not masked and upcall_mask is 0,
   sets upcall_pending and injects the upcall vector into the vCPU the port notifies
   (BATON_EVTCHN_BIND_VCPU; vCPU 0 unless bound). upcall_pending and upcall_mask are
   shared by all vCPUs of the domain. The guest clears pending bits (atomically) as it
   handles them. */

#define BATON_EVTCHN_PORTS 256u
#define BATON_EVTCHN_WORDS (BATON_EVTCHN_PORTS / 64u)

struct baton_shared_info {
    uint64_t evtchn_pending[BATON_EVTCHN_WORDS];
    uint64_t evtchn_mask[BATON_EVTCHN_WORDS];
    uint8_t upcall_pending; /* set by the hypervisor before an upcall */
    uint8_t upcall_mask; /* set by the guest to hold off upcalls */
    uint8_t reserved0[6];
    uint64_t time_ns; /* BATON_HC_TIME at the last update of this page */
    uint64_t hypervisor_generation; /* 0 at first boot, +1 after each live update */
    char hypervisor_build_id[32]; /* NUL-terminated build id of the running image */
};

/* ---- The per-vCPU info page ----------------------------------------------------------
   One page per vCPU that asked for it (BATON_HC_VCPU_INFO_MAP), an extra page like the
   shared-info page (preserved across live updates). Its upcall_pending and upcall_mask
   replace the shared-info page's for events that notify this vCPU, so one vCPU masking
   upcalls no longer holds them off for the others. The hypervisor writes vcpu_id when it
   makes the page, and cpu and entries each time the vCPU is scheduled. */

struct baton_vcpu_info {
    uint8_t upcall_pending; /* set by the hypervisor before an upcall to this vCPU */
    uint8_t upcall_mask; /* set by the guest to hold off upcalls to this vCPU */
    uint8_t reserved0[2];
    uint32_t vcpu_id;
    uint32_t cpu; /* the physical CPU it was last scheduled on (0: the bootstrap CPU) */
    uint32_t reserved1;
    uint64_t entries; /* times it was scheduled since the page was made */
};

/* ---- What a guest is started with ----------------------------------------------------
   Like a PVH/multiboot entry: 32-bit protected mode, paging off, flat 4 GiB code and
   data segments, interrupts off, EIP = the ELF entry point, EBX = the guest-physical
   address of struct baton_start_info. Guest RAM starts at guest-physical 0. That is vCPU 0;
   a domain's other vCPUs start down and enter the same way through BATON_HC_VCPU_UP, with
   the entry, stack (ESP) and their index (ESI) it gives. */

#define BATON_START_INFO_MAGIC 0x6e6f74614274696eull /* "initBaton" */
#define BATON_START_INFO_GPA   0x1000u

struct baton_start_info {
    uint64_t magic; /* BATON_START_INFO_MAGIC */
    uint32_t version; /* 1 */
    uint32_t domid;
    uint64_t ram_bytes; /* guest RAM: [0, ram_bytes) */
    uint64_t cmdline_gpa; /* NUL-terminated module string, or 0 */
    uint64_t free_gfn_start; /* first frame after the loaded image, for the guest's use */
};

struct baton_domain_info {
    uint32_t domid;
    uint32_t vcpus; /* vCPUs of the domain (vcpus= of its module or `create`), 1..8 */
    uint64_t ram_bytes;
    char name[32];
    uint64_t hypervisor_generation;
    char hypervisor_build_id[32];
    uint32_t vcpu_id; /* the vCPU that asked (added with multi-vCPU domains) */
    uint32_t reserved0;
};

/* Guest I/O ports the hypervisor emulates: a debug console that prints bytes written to
   it (for guests before they can make hypercalls). Other ports read as all ones. */
#define BATON_DEBUG_CONSOLE_PORT 0xe9u
