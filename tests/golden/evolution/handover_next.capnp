# TEST ONLY: abi/handover.capnp as a future version might look, for the evolution tests.
# It must stay abi/handover.capnp plus additions (the tests check that every field of the
# current version is here unchanged): new fields at new ordinals, a new struct, a new
# enumerant, a new struct list, some with non-zero defaults. When abi/handover.capnp
# gets a new version, this file becomes that version plus the same additions.

@0xeec95a421da7785c;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("baton::record_next");

const handoverMagic :UInt64 = 0x4345524e4f544142;  # "BATONREC" in little-endian bytes
const handoverAbiVersion :UInt32 = 8;               # the version this schema describes
const handoverMinReaderVersion :UInt32 = 7;         # v7 readers may ignore what "v8" added
const altp2mMinReaderVersion :UInt32 = 3;           # v3: a record with alternate p2m views needs a v3
                                                    # reader (a v2 one would drop the views); writers
                                                    # raise minReaderVersion to this when any exist
const pcGuestMinReaderVersion :UInt32 = 4;          # v4: a record with a PC guest needs a v4 reader
                                                    # (an older one would run it without its devices)
const rollbackMinReaderVersion :UInt32 = 5;         # v5: a record that carries a way back (image copies, a
                                                    # rollback kit) needs a v5 reader (an older one would
                                                    # leave them unfreed or free what a rollback needs)
const smpMinReaderVersion :UInt32 = 6;              # v6: a record with a domain of more than one vCPU needs
                                                    # a v6 reader (an older one restores exactly one vCPU and
                                                    # would refuse the domain only after the jump)
const vcpuInfoMinReaderVersion :UInt32 = 7;         # v7: a record with a per-vCPU info page (ExtraPageRole
                                                    # vcpuInfo) needs a v7 reader (an older one made none and
                                                    # would refuse the domain only after the jump)
const altp2mMaxViews :UInt16 = 8;                   # v3: views per domain, numbered 1..altp2mMaxViews
const noDomain :UInt32 = 0xffffffff;                # "owned by no domain"
const noGuestFrame :UInt64 = 0xffffffffffffffff;    # v2: an extra page the guest has not mapped

# Domain flag bits (Domain.flags). Unknown bits are ignored by readers.
const domainFlagPrivileged :UInt32 = 1;             # may use control hypercalls
const domainFlagConsole :UInt32 = 2;                # owns the hypervisor console input

struct Handover {
  magic @0 :UInt64;                   # handoverMagic
  abiVersion @1 :UInt32;              # schema version the writer implemented
  minReaderVersion @2 :UInt32;        # readers older than this must refuse the record
  writerBuildId @3 :Text;             # build id of the image that wrote the record
  writerVersion @4 :Text;             # its version string
  createdTsc @5 :UInt64;              # when the record was written
  tscKhz @6 :UInt64;                  # TSC frequency, to turn ticks into time
  bootmem @7 :FrameRange;             # the live-update bootmem region (lu_bootmem=)
  ram @8 :List(FrameRange);           # machine RAM the writer managed, sorted, disjoint
  domains @9 :List(Domain);
  iommu @10 :List(IommuUnit);         # every IOMMU unit left translating during the update
  preserved @11 :List(PreservedChunk);  # every frame the next image must not reuse
  phases @12 :List(PhaseStamp);       # timestamps of the update so far, in order
  createdUnixSeconds @13 :UInt64;     # wall-clock creation time if known, else 0
  # v2
  timeOriginTsc @14 :UInt64;          # TSC at hypervisor time 0: the reader keeps this clock (0: unknown)
  updateCount @15 :UInt64;            # live updates so far, this one included (1 for the first)
  lastUpdate @16 :List(PhaseStamp);   # the update that started the writer, all phases; empty after a cold boot
  # v5: the update is a transaction (docs/live-update.md, "What can go wrong")
  writerImage @17 :ImageCopy;         # the writer's pristine image: what a rollback enters again
  nextImage @18 :ImageCopy;           # the reader's own pristine image, which it keeps for its own updates
  rollbackKit @19 :FrameRange;        # preserved frames holding the way back; empty: no rollback possible
  rollbackCount @20 :UInt64;          # updates rolled back since the first boot
  lastRollback @21 :Rollback;         # the most recent of them (empty failedBuildId: none yet)
  # v7
  lapicTimerKhz @22 :UInt64;          # the writer's local APIC timer rate (divide by 1), which the
                                      # reader keeps instead of measuring it again (0: unknown)
  hostGeneration @23 :UInt64 = 7;     # added in "v8": a non-zero default
  notes @24 :List(Note);              # added in "v8"
}

struct Note {
  text @0 :Text;
  severity @1 :UInt8 = 3;
}

# v5: a copy of a hypervisor image's ELF file, as it was checked before the jump.
struct ImageCopy {
  address @0 :UInt64;                 # physical address of its first byte
  bytes @1 :UInt64;                   # its size; 0: no copy
  buildId @2 :Text;                   # from its image note
  preserved @3 :Bool;                 # true: in preserved frames of kind hypervisorImage (the
                                      # reader frees it when done); false: a boot module
}

# v5: an update that did not commit, reported by the image it fell back to.
struct Rollback {
  failedBuildId @0 :Text;             # the image that failed
  failedVersion @1 :Text;
  reachedPhase @2 :Phase;             # the last phase it stamped before failing
  reason @3 :Text;                    # what it said: a panic, an exception, a refusal, the watchdog
  failedTsc @4 :UInt64;               # when it gave up
}

# A range of frames [firstFrame, firstFrame + frameCount).
struct FrameRange {
  firstFrame @0 :UInt64;
  frameCount @1 :UInt64;
}

enum DomainState {
  created @0;                         # built, never run
  running @1;
  paused @2;                          # paused by the administrator (not by the update)
  shutdown @3;                        # stopped, kept for inspection
  crashed @4;                         # v2: stopped by a fault, kept for inspection
}

struct Domain {
  id @0 :UInt32;
  name @1 :Text;
  flags @2 :UInt32;                   # domainFlag* bits
  state @3 :DomainState;
  maxFrames @4 :UInt64;               # memory limit in frames
  p2m @5 :List(P2mChunk);             # guest-physical map, ranges sorted by guest frame: the
                                      # base layer, with the guest RAM under mapped extra pages
  extraPages @6 :List(ExtraPage);
  vcpus @7 :List(VcpuState);
  eventChannels @8 :List(EventChannel);  # every port not free, sorted by port
  upcallVector @9 :UInt8;             # vector event-channel upcalls are delivered on
  logDirty @10 :LogDirty;
  nestedPageTableRoot @11 :UInt64;    # machine frame of an adopted NPT root; 0: rebuild
  # v2
  stopReason @12 :Text;               # why a shutdown or crashed domain stopped
  createdTsc @13 :UInt64;             # when the domain was created (0: unknown)
  # v3
  altp2mViews @14 :List(Altp2mView);  # alternate p2m views, sorted by index; empty: none
  # v4
  guestKind @15 :GuestKind;           # what the guest expects of the machine
  pcPlatform @16 :PcPlatform;         # guestKind pc: its emulated devices; unset otherwise
  consoleLine @17 :Text;              # the guest's console output since its last newline, which
                                      # goes on after the update
  priority @18 :UInt32 = 100;         # added in "v8"
  comment @19 :Text;                  # added in "v8"
}

# --- the emulated PC of an unmodified guest (v4, docs/guest-platform.md) -------------------
# Each device's state field for field as its model keeps it (kernel/arch/x86_64/platform/):
# the next image loads it into the same model, which checks every value. Times are guest
# TSC ticks (the guest's TSC is the host's plus the vCPU's offset).

enum GuestKind {
  baton @0;                           # Baton's own guests: hypercalls, start info
  pc @1;                              # an unmodified OS on the emulated PC
}

struct PcPlatform {
  pit @0 :List(PitChannel);           # channels 0, 1, 2
  pitPortB @1 :UInt8;                 # writable bits of port 0x61
  pitIrqLevel @2 :UInt8;
  pic @3 :List(PicChip);              # master, slave
  rtc @4 :RtcState;
  uart @5 :UartState;                 # COM1
  ioapic @6 :IoApicState;
  lapics @7 :List(LapicState);        # one per vCPU, in vCPU order
  tscAux @8 :UInt64;                  # IA32_TSC_AUX as the guest wrote it
}

struct PitChannel {
  start @0 :UInt64;                   # guest TSC at which counting last started or resumed
  held @1 :UInt64;                    # PIT clocks counted before start
  irqAt @2 :UInt64;                   # clocks since the load at which the next IRQ edge falls
  count @3 :UInt16;
  element @4 :UInt16;
  latch @5 :UInt16;
  mode @6 :UInt8;
  access @7 :UInt8;
  bcd @8 :UInt8;
  armed @9 :UInt8;
  counting @10 :UInt8;
  latchBytes @11 :UInt8;
  statusLatched @12 :UInt8;
  status @13 :UInt8;
  readMsb @14 :UInt8;
  writeMsb @15 :UInt8;
  writeLsb @16 :UInt8;
}

struct PicChip {
  irr @0 :UInt8;
  isr @1 :UInt8;
  imr @2 :UInt8;
  lines @3 :UInt8;
  elcr @4 :UInt8;
  vectorBase @5 :UInt8;
  icw3 @6 :UInt8;
  initStep @7 :UInt8;
  icw4Needed @8 :UInt8;
  single @9 :UInt8;
  autoEoi @10 :UInt8;
  rotateOnAeoi @11 :UInt8;
  nested @12 :UInt8;
  specialMask @13 :UInt8;
  readIsr @14 :UInt8;
  poll @15 :UInt8;
  highest @16 :UInt8;
}

struct RtcState {
  seconds @0 :UInt64;                 # Unix time at divider position 0
  epochTsc @1 :UInt64;
  flagsPosition @2 :UInt64;
  epochPhase @3 :UInt32;
  ram @4 :Data;                       # the 128 bytes of CMOS RAM, registers A-D included
  index @5 :UInt8;
  nmiDisabled @6 :UInt8;
  irqLevel @7 :UInt8;
}

struct UartState {
  rx @0 :Data;                        # the receive FIFO's ring
  overruns @1 :UInt32;
  rxHead @2 :UInt8;
  rxCount @3 :UInt8;
  ier @4 :UInt8;
  lcr @5 :UInt8;
  mcr @6 :UInt8;
  lsrErrors @7 :UInt8;
  msrDeltas @8 :UInt8;
  scr @9 :UInt8;
  dll @10 :UInt8;
  dlm @11 :UInt8;
  fcr @12 :UInt8;
  threPending @13 :UInt8;
  irqLevel @14 :UInt8;
}

struct IoApicState {
  redirection @0 :List(UInt64);       # one entry per pin
  id @1 :UInt32;
  select @2 :UInt32;
  levels @3 :UInt32;                  # bit n: pin n is asserted
}

struct LapicState {
  apicBase @0 :UInt64;
  tscDeadline @1 :UInt64;
  timerBase @2 :UInt64;
  timerCount @3 :UInt32;
  timerInitial @4 :UInt32;
  timerDivide @5 :UInt32;
  id @6 :UInt32;
  tpr @7 :UInt32;
  ldr @8 :UInt32;
  dfr @9 :UInt32;
  svr @10 :UInt32;
  esr @11 :UInt32;
  esrPending @12 :UInt32;
  icrLow @13 :UInt32;
  icrHigh @14 :UInt32;
  lvt @15 :List(UInt32);
  isr @16 :List(UInt32);              # 8 words: vectors 32i..32i+31
  tmr @17 :List(UInt32);
  irr @18 :List(UInt32);
  waitForSipi @19 :UInt8;
  sipiPending @20 :UInt8;
  sipiVector @21 :UInt8;
}

# --- p2m -------------------------------------------------------------------------------

enum P2mType {
  invalid @0;                         # a hole: guest accesses fault
  ramRw @1;
  ramRo @2;
  logDirty @3;                        # RAM write-protected to track dirty pages
  mmio @4;                            # device memory passed through
  mmioEmulated @5;                    # v2: no machine frame; every access is emulated
  ramShared @6;                       # added in "v8"
}

# Access rights on top of the type (like Xen's p2m_access_t).
enum P2mAccess {
  n @0;
  r @1;
  w @2;
  rw @3;
  x @4;
  rx @5;
  wx @6;
  rwx @7;
}

struct P2mRange {
  guestFrame @0 :UInt64;
  machineFrame @1 :UInt64;            # ignored for invalid ranges
  frameCount @2 :UInt64;
  type @3 :P2mType;
  access @4 :P2mAccess;
  ownerTag @5 :UInt64;                # added in "v8": the range grows to 5 words
  largePage @6 :Bool = true;          # added in "v8"
}

struct P2mChunk {
  ranges @0 :List(P2mRange);
}

# --- alternate p2m views (v3) ------------------------------------------------------------
# A view is the domain's p2m (the host view, Domain.p2m) seen through overrides: each
# entry gives guest frames [guestFrame, guestFrame + frameCount) other rights and, when
# targetGuestFrame differs from guestFrame, shows there the host view's frames from
# targetGuestFrame on. A view names only the domain's own guest frames, never machine
# frames, so it owns no memory and the log-dirty bitmap (per guest frame) serves all views.

struct Altp2mEntry {
  guestFrame @0 :UInt64;
  frameCount @1 :UInt64;
  targetGuestFrame @2 :UInt64;        # = guestFrame: same frames, other rights; else RAM of the host view
  access @3 :P2mAccess;               # n, r, rw, rx or rwx: x86 tables cannot grant w or x without r
}

struct Altp2mView {
  index @0 :UInt16;                   # 1..altp2mMaxViews
  entries @1 :List(Altp2mEntry);      # sorted by guestFrame, disjoint; empty: same as the host
}

# --- extra pages: hypervisor-allocated, guest-mapped, preserved ---------------------------

enum ExtraPageRole {
  sharedInfo @0;
  vcpuInfo @1;                        # one per vCPU (see ExtraPage.vcpu)
  console @2;                         # the hypercall console ring
}

struct ExtraPage {
  role @0 :ExtraPageRole;
  vcpu @1 :UInt32;                    # for per-vCPU roles; 0 otherwise
  guestFrame @2 :UInt64;              # noGuestFrame while the guest has not mapped it (v2)
  machineFrame @3 :UInt64;
}

# --- vCPU state (AMD SVM; what the guest can observe) --------------------------------------

# A segment register as the VMCB holds it (attributes in the VMCB's packed 12-bit form).
struct Segment {
  selector @0 :UInt16;
  attributes @1 :UInt16;
  limit @2 :UInt32;
  base @3 :UInt64;
}

struct DescriptorTable {
  base @0 :UInt64;
  limit @1 :UInt16;
}

struct Msr {
  index @0 :UInt32;
  value @1 :UInt64;
}

enum EventKind {
  none @0;
  externalInterrupt @1;
  nmi @2;
  exception @3;
  softwareInterrupt @4;
}

# An event being injected into the guest (the VMCB's EVENTINJ / EXITINTINFO).
struct PendingEvent {
  kind @0 :EventKind;
  vector @1 :UInt8;
  hasErrorCode @2 :Bool;
  errorCode @3 :UInt32;
}

# The guest's one-shot/periodic timer set by hypercall.
struct VcpuTimer {
  deadlineTsc @0 :UInt64;             # 0: not armed
  periodTsc @1 :UInt64;               # 0: one-shot
}

enum VcpuRunState {
  runnable @0;
  blocked @1;                         # halted, waiting for an event
  down @2;                            # not yet started or taken offline
}

struct VcpuState {
  id @0 :UInt32;
  runState @1 :VcpuRunState;

  rax @2 :UInt64;
  rbx @3 :UInt64;
  rcx @4 :UInt64;
  rdx @5 :UInt64;
  rsi @6 :UInt64;
  rdi @7 :UInt64;
  rbp @8 :UInt64;
  rsp @9 :UInt64;
  r8 @10 :UInt64;
  r9 @11 :UInt64;
  r10 @12 :UInt64;
  r11 @13 :UInt64;
  r12 @14 :UInt64;
  r13 @15 :UInt64;
  r14 @16 :UInt64;
  r15 @17 :UInt64;
  rip @18 :UInt64;
  rflags @19 :UInt64;

  cr0 @20 :UInt64;
  cr2 @21 :UInt64;
  cr3 @22 :UInt64;
  cr4 @23 :UInt64;
  cr8 @24 :UInt64;
  efer @25 :UInt64;
  xcr0 @26 :UInt64;
  dr0 @27 :UInt64;
  dr1 @28 :UInt64;
  dr2 @29 :UInt64;
  dr3 @30 :UInt64;
  dr6 @31 :UInt64;
  dr7 @32 :UInt64;

  cs @33 :Segment;
  ds @34 :Segment;
  es @35 :Segment;
  fs @36 :Segment;
  gs @37 :Segment;
  ss @38 :Segment;
  tr @39 :Segment;
  ldtr @40 :Segment;
  gdtr @41 :DescriptorTable;
  idtr @42 :DescriptorTable;

  # MSRs the guest can read back.
  star @43 :UInt64;
  lstar @44 :UInt64;
  cstar @45 :UInt64;
  sfmask @46 :UInt64;
  kernelGsBase @47 :UInt64;
  sysenterCs @48 :UInt64;
  sysenterEsp @49 :UInt64;
  sysenterEip @50 :UInt64;
  pat @51 :UInt64;
  debugCtl @52 :UInt64;
  tscAux @53 :UInt64;
  otherMsrs @54 :List(Msr);           # any further MSR the guest wrote, sorted by index

  # Events and interrupt state.
  pendingEvent @55 :PendingEvent;
  interruptShadow @56 :Bool;          # in an STI/MOV SS shadow
  nmiMasked @57 :Bool;
  virqPending @58 :Bool;              # virtual interrupt (V_IRQ) pending
  virqVector @59 :UInt8;
  upcallPending @60 :Bool;            # event-channel upcall not yet delivered

  # Time.
  tscOffset @61 :Int64;               # guest TSC = host TSC + tscOffset
  timer @62 :VcpuTimer;

  fpuState @63 :Data;                 # XSAVE image in the format xcr0 selects; empty if unused
  # v3
  altp2mView @64 :UInt16;             # the p2m view the vCPU runs in: 0 the host p2m, else an
                                      # index in Domain.altp2mViews
  # v6: multi-vCPU domains (Domain.vcpus in id order, every vCPU, down ones too)
  lastCpu @65 :UInt32;                # the physical CPU it last ran on (0: the bootstrap CPU)
}

# --- event channels ---------------------------------------------------------------------

enum EventChannelState {
  free @0;                            # never recorded
  unbound @1;                         # waiting for remoteDomain to bind
  interdomain @2;
  virq @3;
  ipi @4;
  timer @5;                           # v2: a periodic timer bound to a port
}

struct EventChannel {
  port @0 :UInt32;
  state @1 :EventChannelState;
  notifyVcpu @2 :UInt32;
  remoteDomain @3 :UInt32;            # unbound, interdomain
  remotePort @4 :UInt32;              # interdomain
  virq @5 :UInt32;                    # virq
  pending @6 :Bool;
  masked @7 :Bool;
  # v2, timer ports
  timerPeriodNs @8 :UInt64;
  timerDeadlineTsc @9 :UInt64;        # when it next fires (timer ports are periodic, never 0)
}

# --- log-dirty tracking ---------------------------------------------------------------

enum LogDirtyMode {
  off @0;
  enabled @1;
}

struct LogDirty {
  mode @0 :LogDirtyMode;
  bitmap @1 :FrameRange;              # machine frames of the dirty bitmap, one bit per guest frame
  guestFrames @2 :UInt64;             # guest frames the bitmap covers, from guest frame 0
  dirtyCount @3 :UInt64;              # bits set when the record was written
}

# --- IOMMU: tables stay live while devices keep doing DMA -----------------------------

enum IommuKind {
  vtd @0;                             # Intel VT-d remapping unit (DRHD)
  amdVi @1;                           # AMD-Vi IOMMU
}

struct IommuDevice {
  requesterId @0 :UInt16;             # PCI bus << 8 | device << 3 | function
  domainId @1 :UInt32;
  pageTableRoot @2 :UInt64;           # machine frame of the IO page-table root
  pageTableLevels @3 :UInt8;
}

enum IommuFrameKind {
  contextTable @0;                    # VT-d per-bus context table
  pageTable @1;                       # IO page table (domainId says whose)
  commandBuffer @2;                   # AMD-Vi command buffer / VT-d invalidation queue
  eventLog @3;                        # AMD-Vi event log / VT-d fault recording
}

struct IommuFrames {
  kind @0 :IommuFrameKind;
  domainId @1 :UInt32 = 0xffffffff;   # noDomain unless kind == pageTable
  firstFrame @2 :UInt64;
  frameCount @3 :UInt64;
}

struct IommuUnit {
  kind @0 :IommuKind;
  segment @1 :UInt16;                 # PCI segment
  registerBase @2 :UInt64;            # MMIO address of the unit's registers
  rootTable @3 :FrameRange;           # VT-d root table or AMD-Vi device table
  devices @4 :List(IommuDevice);      # sorted by requesterId
  tableFrames @5 :List(IommuFrames);  # every other frame the unit reads or writes
  translationEnabled @6 :Bool;
}

# --- preserved frames -----------------------------------------------------------------

enum PreservedKind {
  guestRam @0;
  extraPage @1;
  nestedPageTable @2;
  iommuTable @3;
  logDirtyBitmap @4;
  handoverRecord @5;                  # the frames holding this record
  # v5
  hypervisorImage @6;                 # a pristine hypervisor image (ImageCopy.preserved)
  rollbackKit @7;                     # the way back to the writer (Handover.rollbackKit)
}

struct PreservedRange {
  firstFrame @0 :UInt64;
  frameCount @1 :UInt64;
  kind @2 :PreservedKind;
  domainId @3 :UInt32 = 0xffffffff;   # the owning domain, or noDomain
}

struct PreservedChunk {
  ranges @0 :List(PreservedRange);    # sorted by firstFrame across all chunks
}

# --- timing ---------------------------------------------------------------------------

enum Phase {
  requested @0;                       # the update was asked for
  imageVerified @1;                   # the next image was accepted
  paused @2;                          # every vCPU stopped: the blackout starts
  serialized @3;                      # this record was written
  # v2: stamped by the next image (they appear in the lastUpdate list of its records)
  entered @4;                         # the next image ran its first instruction
  recordParsed @5;                    # the record was found, checked and parsed
  restored @6;                        # every domain was rebuilt
  resumed @7;                         # guests run again: the blackout ends
}

struct PhaseStamp {
  phase @0 :Phase;
  tsc @1 :UInt64;
}
