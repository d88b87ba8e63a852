// The device commands: pci list, pci dma-probe (a diagnostic) and iommu status.
#include "control/control_channel.hpp"
#include "control/arguments.hpp"
#include "lib/format.hpp"

namespace {

int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// "BB:DD.F" in hex, exactly as lspci prints it: bus 00-ff, device 00-1f, function 0-7.
bool parse_device_address(const char *text, DeviceAddress &out)
{
    for (usize i = 0; i < 7; i++)
        if (text[i] == '\0')
            return false;
    if (text[7] != '\0' || text[2] != ':' || text[5] != '.')
        return false;
    const int b1 = hex_digit(text[0]), b0 = hex_digit(text[1]), d1 = hex_digit(text[3]), d0 = hex_digit(text[4]),
              f = hex_digit(text[6]);
    if (b1 < 0 || b0 < 0 || d1 < 0 || d0 < 0 || f < 0 || f > 7 || d1 * 16 + d0 > 0x1f)
        return false;
    out = {static_cast<u8>(b1 * 16 + b0), static_cast<u8>(d1 * 16 + d0), static_cast<u8>(f)};
    return true;
}

} // namespace

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
