// SPDX-License-Identifier: MIT
// The device commands: pci list, pci dma-probe (a diagnostic), iommu status, assign, deassign.
#include "control/arguments.hpp"
#include "control/control_channel.hpp"
#include "control/device_address.hpp"
#include "lib/format.hpp"

void ControlChannel::run_pci(const Words &words)
{
    ReportLines lines(reply_);
    if (word_is(words[1], "list")) {
        if (words.count != 2)
            return reply_.error(BATON_EINVAL, "usage: pci list");
        if (int result = backend_.pci_list(lines, reason_); result < 0)
            return refuse(result, "pci list");
        return reply_.ok();
    }
    if (!word_is(words[1], "dma-probe"))
        return reply_.error(BATON_EINVAL, "pci: unknown operation '%s' (list, dma-probe)", show_word(words[1]).text);
    DeviceAddress device;
    if (words.count < 3 || !parse_device_address(words[2], device))
        return reply_.error(BATON_EINVAL, "pci dma-probe: '%s' is not a device address BB:DD.F (hex, as lspci)",
                            words.count < 3 ? "" : show_word(words[2]).text);
    bool write = true;
    if (words.count == 4) {
        if (word_is(words[3], "read"))
            write = false;
        else if (!word_is(words[3], "write"))
            return reply_.error(BATON_EINVAL, "pci dma-probe: direction '%s' is neither write nor read",
                                show_word(words[3]).text);
    }
    if (int result = backend_.pci_dma_probe(device, write, lines, reason_); result < 0) {
        char what[48];
        format(what, sizeof(what), "pci dma-probe %s", words[2]);
        return refuse(result, what);
    }
    reply_.ok("dma-probe %s done; the IOMMU's verdict is in the fault log", words[2]);
}

void ControlChannel::run_iommu(const Words &words)
{
    if (!word_is(words[1], "status"))
        return reply_.error(BATON_EINVAL, "iommu: unknown operation '%s' (status)", show_word(words[1]).text);
    ReportLines lines(reply_);
    if (int result = backend_.iommu_status(lines, reason_); result < 0)
        return refuse(result, "iommu status");
    reply_.ok();
}

void ControlChannel::run_assign(const Words &words)
{
    const bool assign = word_is(words[0], "assign");
    u32 id = 0;
    if (!parse_domain_id(words[1], id))
        return reply_.error(BATON_EINVAL, "%s: '%s' is not a domain id", words[0], show_word(words[1]).text);
    DeviceAddress device;
    if (!parse_device_address(words[2], device))
        return reply_.error(BATON_EINVAL, "%s: '%s' is not a device address BB:DD.F (hex, as lspci)", words[0],
                            show_word(words[2]).text);
    if (int result = backend_.assign_device(id, device, assign, reason_); result < 0) {
        char what[48];
        format(what, sizeof(what), "%s %u %s", words[0], id, words[2]);
        return refuse(result, what);
    }
    reply_.ok(assign ? "device %s assigned to domain %u" : "device %s taken from domain %u and blocked", words[2], id);
}
