// SPDX-License-Identifier: MIT
// Unit tests for the device commands of the control channel: pci list, pci dma-probe,
// iommu status (argument checks and what reaches the backend).
#include "test_control_support.hpp"
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace {

// A backend with devices: only the device commands do anything.
class DeviceBackend final : public MinimalBackend {
public:
    int pci_list(ReportLines &lines, ControlReason &) override
    {
        lines.line("pci device=00:03.0 vendor=1234 device_id=11e8 dma=blocked iommu=vtd0");
        return 0;
    }
    int iommu_status(ReportLines &lines, ControlReason &) override
    {
        lines.line("iommu units=1 faults=0");
        return 0;
    }
    int pci_dma_probe(const DeviceAddress &device, bool write, ReportLines &lines, ControlReason &reason) override
    {
        probes.push_back({device, write});
        if (device.device != 3) {
            reason.set("dma-probe: no device");
            return -BATON_ENOENT;
        }
        lines.line("dma-probe direction=%s", write ? "write" : "read");
        return 0;
    }

    int assign_device(u32 id, const DeviceAddress &device, bool assign, ControlReason &reason) override
    {
        probes.push_back({device, assign});
        assigned_to.push_back(id);
        if (id != 2) {
            reason.set("no domain %u", id);
            return -BATON_ENOENT;
        }
        return 0;
    }

    struct Probe {
        DeviceAddress device;
        bool write; // assign: true for assign, false for deassign
    };
    std::vector<Probe> probes;
    std::vector<u32> assigned_to;
};

using DeviceHarness = BasicControlHarness<DeviceBackend>;

using Lines = std::vector<std::string>;

} // namespace

TEST(IommuControl, ListAndStatusPassDataLinesThrough)
{
    DeviceHarness harness;
    EXPECT_EQ(harness.send("pci list"),
              (Lines{". pci device=00:03.0 vendor=1234 device_id=11e8 dma=blocked iommu=vtd0", "ok"}));
    EXPECT_EQ(harness.send("iommu status"), (Lines{". iommu units=1 faults=0", "ok"}));
}

TEST(IommuControl, DmaProbeParsesTheDeviceAddressAndDirection)
{
    DeviceHarness harness;
    EXPECT_EQ(
        harness.send("pci dma-probe 00:03.0"),
        (Lines{". dma-probe direction=write", "ok dma-probe 00:03.0 done; the IOMMU's verdict is in the fault log"}));
    EXPECT_EQ(harness.send("pci dma-probe ab:1F.7 read")[0], "error ENOENT dma-probe: no device");
    ASSERT_EQ(harness.backend.probes.size(), 2u);
    EXPECT_EQ(harness.backend.probes[1].device.bus, 0xab);
    EXPECT_EQ(harness.backend.probes[1].device.device, 0x1f);
    EXPECT_EQ(harness.backend.probes[1].device.function, 7);
    EXPECT_FALSE(harness.backend.probes[1].write);

    for (const char *bad : {"pci dma-probe", "pci dma-probe 0:3.0", "pci dma-probe 00:20.0", "pci dma-probe 00:03.8",
                            "pci dma-probe 00-03.0", "pci dma-probe 00:03.0x", "pci dma-probe 00:03.0 sideways",
                            "pci frob", "pci list extra", "iommu reset"}) {
        const Lines lines = harness.send(bad);
        ASSERT_EQ(lines.size(), 1u) << bad;
        EXPECT_EQ(lines[0].rfind("error EINVAL", 0), 0u) << bad << ": " << lines[0];
    }
    EXPECT_EQ(harness.backend.probes.size(), 2u) << "a bad request never reaches the backend";
}

TEST(IommuControl, ImagesWithoutDeviceSupportSayNotSupported)
{
    ControlHarness harness;
    EXPECT_EQ(harness.status("pci list"), "error ENOSYS this image has no PCI support");
    EXPECT_EQ(harness.status("iommu status"), "error ENOSYS this image has no IOMMU support");
    EXPECT_EQ(harness.status("pci dma-probe 00:03.0"), "error ENOSYS this image has no DMA probe");
}

TEST(IommuControl, AssignAndDeassignCheckTheDomainAndTheDevice)
{
    DeviceHarness harness;
    EXPECT_EQ(harness.send("assign 2 00:03.0"), (Lines{"ok device 00:03.0 assigned to domain 2"}));
    EXPECT_EQ(harness.send("deassign 2 00:03.0"), (Lines{"ok device 00:03.0 taken from domain 2 and blocked"}));
    EXPECT_EQ(harness.send("assign 5 00:04.0")[0], "error ENOENT no domain 5");
    ASSERT_EQ(harness.backend.probes.size(), 3u);
    EXPECT_TRUE(harness.backend.probes[0].write);
    EXPECT_FALSE(harness.backend.probes[1].write);
    EXPECT_EQ(harness.backend.probes[2].device.device, 4);
    EXPECT_EQ(harness.backend.assigned_to, (std::vector<u32>{2, 2, 5}));

    for (const char *bad : {"assign", "assign 2", "assign x 00:03.0", "assign 2 00:03", "assign 2 00:20.0",
                            "deassign 2 3.0", "assign 2 00:03.0 extra"}) {
        const Lines lines = harness.send(bad);
        ASSERT_EQ(lines.size(), 1u) << bad;
        EXPECT_EQ(lines[0].rfind("error EINVAL", 0), 0u) << bad << ": " << lines[0];
    }
    EXPECT_EQ(harness.backend.probes.size(), 3u) << "a bad request never reaches the backend";
}

TEST(IommuControl, CreateTakesOneDeviceToAssign)
{
    ControlHarness harness;
    EXPECT_EQ(harness.status("create counter assign=00:03.q").rfind("error EINVAL create: 'assign=00:03.q'", 0), 0u);
    EXPECT_TRUE(harness.backend.calls.empty());
}
