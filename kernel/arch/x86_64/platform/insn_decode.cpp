// SPDX-License-Identifier: MIT
// Decoder for the x86 instruction that touched an emulated device's MMIO page.
#include "arch/x86_64/platform/insn_decode.hpp"
#include "abi/errno.h"

// Encodings: Intel SDM vol. 2, chapter 2 (instruction format) and appendix A (opcode map);
// AMD APM vol. 3, chapter 1.
namespace {

// Legacy prefixes. Segment overrides do not matter: the fault reports the address.
constexpr u8 PREFIX_OPERAND_SIZE = 0x66;
constexpr u8 PREFIX_ADDRESS_SIZE = 0x67;
constexpr u8 PREFIX_LOCK = 0xf0;
constexpr u8 PREFIX_REPNE = 0xf2;
constexpr u8 PREFIX_REP = 0xf3;
constexpr u8 PREFIX_CS = 0x2e;
constexpr u8 PREFIX_SS = 0x36;
constexpr u8 PREFIX_DS = 0x3e;
constexpr u8 PREFIX_ES = 0x26;
constexpr u8 PREFIX_FS = 0x64;
constexpr u8 PREFIX_GS = 0x65;
// One per prefix group; compilers never emit more, so more is a sign of garbage.
constexpr unsigned MAX_LEGACY_PREFIXES = 4;

// REX (64-bit mode only; in other modes 40-4F are INC/DEC and refused as opcodes).
constexpr u8 REX_FIRST = 0x40;
constexpr u8 REX_LAST = 0x4f;
constexpr u8 REX_W = 1 << 3; // 64-bit operand size
constexpr u8 REX_R = 1 << 2; // extends ModRM.reg
constexpr unsigned REX_R_SHIFT = 1; // REX.R (bit 2) lands on register bit 3

// One-byte opcodes.
constexpr u8 OP_XCHG_8 = 0x86;
constexpr u8 OP_XCHG = 0x87;
constexpr u8 OP_MOV_STORE_8 = 0x88;
constexpr u8 OP_MOV_STORE = 0x89;
constexpr u8 OP_MOV_LOAD_8 = 0x8a;
constexpr u8 OP_MOV_LOAD = 0x8b;
constexpr u8 OP_MOV_LOAD_MOFFS_8 = 0xa0;
constexpr u8 OP_MOV_LOAD_MOFFS = 0xa1;
constexpr u8 OP_MOV_STORE_MOFFS_8 = 0xa2;
constexpr u8 OP_MOV_STORE_MOFFS = 0xa3;
constexpr u8 OP_MOV_IMM_8 = 0xc6;
constexpr u8 OP_MOV_IMM = 0xc7;
constexpr u8 OP_ESCAPE = 0x0f;
// Two-byte opcodes (after 0F).
constexpr u8 OP2_MOVZX_8 = 0xb6;
constexpr u8 OP2_MOVZX_16 = 0xb7;
constexpr u8 OP2_MOVSX_8 = 0xbe;
constexpr u8 OP2_MOVSX_16 = 0xbf;
// C6/C7 are group 11: ModRM.reg selects the operation and only /0 is MOV.
constexpr u8 GROUP11_MOV = 0;

// ModRM and SIB fields.
constexpr unsigned MOD_SHIFT = 6;
constexpr unsigned REG_SHIFT = 3;
constexpr u8 FIELD_MASK = 7;
constexpr u8 MOD_NO_DISP = 0;
constexpr u8 MOD_DISP8 = 1;
constexpr u8 MOD_DISP_FULL = 2;
constexpr u8 MOD_REGISTER = 3;
constexpr u8 RM_SIB = 4; // 32/64-bit addressing: a SIB byte follows
constexpr u8 RM_DISP32 = 5; // with mod 0: disp32 (64-bit mode: RIP-relative)
constexpr u8 SIB_BASE_NONE = 5; // with mod 0: no base, disp32
constexpr u8 RM16_DISP16 = 6; // 16-bit addressing with mod 0: disp16 only
// Without REX, byte registers 4-7 are AH CH DH BH, the second byte of registers 0-3.
constexpr u8 FIRST_HIGH_BYTE_REG = 4;

constexpr u8 BYTE = 1;
constexpr u8 WORD = 2;
constexpr u8 DWORD = 4;
constexpr u8 QWORD = 8;
constexpr unsigned BITS_PER_BYTE = 8;
constexpr unsigned HIGH_BYTE_SHIFT = 8;

constexpr u64 width_mask(unsigned bytes) { return bytes >= QWORD ? ~u64{0} : (u64{1} << (bytes * BITS_PER_BYTE)) - 1; }
constexpr u64 sign_extend(u64 value, unsigned bytes)
{
    const unsigned unused = (QWORD - bytes) * BITS_PER_BYTE;
    return static_cast<u64>(static_cast<i64>(value << unused) >> unused);
}

// The instruction bytes, read front to back with both limits checked on every read.
class Cursor final {
public:
    Cursor(const u8 *bytes, usize available) : bytes_(bytes), available_(available) {}

    // Reads `count` bytes as a little-endian value.
    [[nodiscard]] int take(unsigned count, u64 *value)
    {
        const unsigned end = position_ + count;
        if (end > INSN_MAX_BYTES)
            return -BATON_EINVAL;
        if (end > available_) {
            needed_ = end;
            return -BATON_ERANGE;
        }
        u64 result = 0;
        for (unsigned i = 0; i < count; i++)
            result |= u64{bytes_[position_ + i]} << (i * BITS_PER_BYTE);
        position_ = end;
        *value = result;
        return 0;
    }
    [[nodiscard]] int take_byte(u8 *byte)
    {
        u64 value = 0;
        const int status = take(BYTE, &value);
        *byte = static_cast<u8>(value);
        return status;
    }
    unsigned position() const { return position_; }
    unsigned needed() const { return needed_; }

private:
    const u8 *bytes_;
    usize available_;
    unsigned position_ = 0;
    unsigned needed_ = 0;
};

struct Prefixes {
    bool operand_size = false;
    bool address_size = false;
    u8 rex = 0; // 0: none
};

constexpr bool is_ignored_segment(u8 byte)
{
    return byte == PREFIX_CS || byte == PREFIX_SS || byte == PREFIX_DS || byte == PREFIX_ES || byte == PREFIX_FS ||
           byte == PREFIX_GS;
}

// Reads the prefixes and the first opcode byte.
[[nodiscard]] int read_prefixes(Cursor &cursor, CpuMode mode, Prefixes *prefixes, u8 *opcode)
{
    unsigned legacy = 0;
    for (;;) {
        u8 byte = 0;
        if (const int status = cursor.take_byte(&byte); status != 0)
            return status;
        const bool is_rex = mode == CpuMode::long64 && byte >= REX_FIRST && byte <= REX_LAST;
        const bool is_legacy = byte == PREFIX_OPERAND_SIZE || byte == PREFIX_ADDRESS_SIZE || is_ignored_segment(byte) ||
                               byte == PREFIX_LOCK || byte == PREFIX_REP || byte == PREFIX_REPNE;
        if (!is_rex && !is_legacy) {
            *opcode = byte;
            return 0;
        }
        // The CPU ignores a REX that is not right before the opcode; no compiler emits
        // one, so such bytes are not what a kernel's MMIO accessor looks like.
        if (prefixes->rex != 0)
            return -BATON_EINVAL;
        if (is_rex) {
            prefixes->rex = byte;
            continue;
        }
        if (byte == PREFIX_LOCK || byte == PREFIX_REP || byte == PREFIX_REPNE)
            return -BATON_EINVAL;
        if (++legacy > MAX_LEGACY_PREFIXES)
            return -BATON_EINVAL;
        prefixes->operand_size |= byte == PREFIX_OPERAND_SIZE;
        prefixes->address_size |= byte == PREFIX_ADDRESS_SIZE;
    }
}

u8 operand_bytes(CpuMode mode, const Prefixes &prefixes)
{
    if (mode == CpuMode::long64 && (prefixes.rex & REX_W) != 0)
        return QWORD; // REX.W wins over 66
    const bool default_16 = mode == CpuMode::protected16;
    return default_16 != prefixes.operand_size ? WORD : DWORD;
}

u8 address_bytes(CpuMode mode, const Prefixes &prefixes)
{
    if (mode == CpuMode::long64)
        return prefixes.address_size ? DWORD : QWORD;
    const bool default_16 = mode == CpuMode::protected16;
    return default_16 != prefixes.address_size ? WORD : DWORD;
}

// What one accepted opcode does, before its operands are read.
struct Form {
    MmioOp op = MmioOp::load;
    u8 access_bytes = 0;
    u8 dest_bytes = 0;
    bool byte_register = false; // the register operand is 8-bit (AH-style names possible)
    bool moffs = false; // no ModRM: an absolute address of address size follows
    bool group11 = false; // ModRM.reg is an opcode extension, an immediate follows
};

bool one_byte_form(u8 opcode, u8 operand, Form *form)
{
    switch (opcode) {
    case OP_MOV_STORE_8: *form = {MmioOp::store, BYTE, 0, true, false, false}; return true;
    case OP_MOV_STORE: *form = {MmioOp::store, operand, 0, false, false, false}; return true;
    case OP_MOV_LOAD_8: *form = {MmioOp::load, BYTE, BYTE, true, false, false}; return true;
    case OP_MOV_LOAD: *form = {MmioOp::load, operand, operand, false, false, false}; return true;
    case OP_XCHG_8: *form = {MmioOp::exchange, BYTE, BYTE, true, false, false}; return true;
    case OP_XCHG: *form = {MmioOp::exchange, operand, operand, false, false, false}; return true;
    case OP_MOV_IMM_8: *form = {MmioOp::store_imm, BYTE, 0, false, false, true}; return true;
    case OP_MOV_IMM: *form = {MmioOp::store_imm, operand, 0, false, false, true}; return true;
    // The moffs forms always use AL/rAX: the register is 0 and never a high byte.
    case OP_MOV_LOAD_MOFFS_8: *form = {MmioOp::load, BYTE, BYTE, true, true, false}; return true;
    case OP_MOV_LOAD_MOFFS: *form = {MmioOp::load, operand, operand, false, true, false}; return true;
    case OP_MOV_STORE_MOFFS_8: *form = {MmioOp::store, BYTE, 0, true, true, false}; return true;
    case OP_MOV_STORE_MOFFS: *form = {MmioOp::store, operand, 0, false, true, false}; return true;
    default: return false;
    }
}

bool two_byte_form(u8 opcode, u8 operand, Form *form)
{
    switch (opcode) {
    case OP2_MOVZX_8: *form = {MmioOp::load_zero_extend, BYTE, operand, false, false, false}; return true;
    case OP2_MOVZX_16: *form = {MmioOp::load_zero_extend, WORD, operand, false, false, false}; return true;
    case OP2_MOVSX_8: *form = {MmioOp::load_sign_extend, BYTE, operand, false, false, false}; return true;
    case OP2_MOVSX_16: *form = {MmioOp::load_sign_extend, WORD, operand, false, false, false}; return true;
    default: return false;
    }
}

// Skips what follows ModRM up to the immediate: SIB and displacement.
[[nodiscard]] int skip_address(Cursor &cursor, u8 modrm, u8 address)
{
    const u8 mod = static_cast<u8>(modrm >> MOD_SHIFT);
    const u8 rm = modrm & FIELD_MASK;
    unsigned displacement = 0;
    if (address == WORD) {
        // 16-bit addressing has no SIB; mod 0 with rm 6 is a bare disp16.
        if (mod == MOD_DISP8)
            displacement = BYTE;
        else if (mod == MOD_DISP_FULL || (mod == MOD_NO_DISP && rm == RM16_DISP16))
            displacement = WORD;
    } else {
        if (rm == RM_SIB) {
            u8 sib = 0;
            if (const int status = cursor.take_byte(&sib); status != 0)
                return status;
            if (mod == MOD_NO_DISP && (sib & FIELD_MASK) == SIB_BASE_NONE)
                displacement = DWORD;
        }
        if (mod == MOD_DISP8)
            displacement = BYTE;
        else if (mod == MOD_DISP_FULL || (mod == MOD_NO_DISP && rm == RM_DISP32))
            displacement = DWORD;
    }
    u64 ignored = 0;
    return displacement == 0 ? 0 : cursor.take(displacement, &ignored);
}

// Reads ModRM with its address bytes and sets the register operand.
[[nodiscard]] int read_modrm(Cursor &cursor, const Form &form, const Prefixes &prefixes, u8 address, MmioInsn *out)
{
    u8 modrm = 0;
    if (const int status = cursor.take_byte(&modrm); status != 0)
        return status;
    if ((modrm >> MOD_SHIFT) == MOD_REGISTER)
        return -BATON_EINVAL; // a register operand: this instruction did not touch memory
    const u8 field = (modrm >> REG_SHIFT) & FIELD_MASK;
    if (form.group11) {
        if (field != GROUP11_MOV)
            return -BATON_EINVAL;
    } else {
        const u8 rex_r = static_cast<u8>((prefixes.rex & REX_R) << REX_R_SHIFT);
        out->reg = static_cast<u8>(field | rex_r);
        if (form.byte_register && prefixes.rex == 0 && field >= FIRST_HIGH_BYTE_REG) {
            out->reg = static_cast<u8>(field - FIRST_HIGH_BYTE_REG);
            out->high_byte = true;
        }
    }
    return skip_address(cursor, modrm, address);
}

} // namespace

int decode_mmio(const u8 *bytes, usize available, CpuMode mode, MmioInsn *out)
{
    *out = {};
    if (mode == CpuMode::real)
        return -BATON_EINVAL;
    Cursor cursor(bytes, available);
    Prefixes prefixes;
    u8 opcode = 0;
    int status = read_prefixes(cursor, mode, &prefixes, &opcode);
    const u8 operand = operand_bytes(mode, prefixes);
    const u8 address = address_bytes(mode, prefixes);
    Form form;
    if (status == 0) {
        if (opcode == OP_ESCAPE) {
            status = cursor.take_byte(&opcode);
            if (status == 0 && !two_byte_form(opcode, operand, &form))
                status = -BATON_EINVAL;
        } else if (!one_byte_form(opcode, operand, &form)) {
            status = -BATON_EINVAL;
        }
    }
    if (status == 0) {
        u64 ignored = 0;
        status = form.moffs ? cursor.take(address, &ignored) : read_modrm(cursor, form, prefixes, address, out);
    }
    if (status == 0 && form.group11) {
        // The immediate is at most 32 bits; a 64-bit store sign-extends it.
        const u8 imm_bytes = form.access_bytes == QWORD ? DWORD : form.access_bytes;
        u64 imm = 0;
        status = cursor.take(imm_bytes, &imm);
        out->imm = sign_extend(imm, imm_bytes) & width_mask(form.access_bytes);
    }
    if (status == -BATON_ERANGE) {
        const MmioInsn truncated{.length = static_cast<u8>(cursor.needed())};
        *out = truncated;
        return status;
    }
    if (status != 0) {
        *out = {};
        return status;
    }
    out->op = form.op;
    out->access_bytes = form.access_bytes;
    out->dest_bytes = form.dest_bytes;
    out->length = static_cast<u8>(cursor.position());
    return 0;
}

u64 mmio_store_value(const MmioInsn &insn, const u64 gpr[GPR_COUNT])
{
    if (insn.op == MmioOp::store_imm)
        return insn.imm & width_mask(insn.access_bytes);
    if (!mmio_writes(insn.op) || insn.reg >= GPR_COUNT)
        return 0;
    const u64 value = insn.high_byte ? gpr[insn.reg] >> HIGH_BYTE_SHIFT : gpr[insn.reg];
    return value & width_mask(insn.access_bytes);
}

void mmio_complete_load(const MmioInsn &insn, u64 value, u64 gpr[GPR_COUNT])
{
    if (!mmio_reads(insn.op) || insn.reg >= GPR_COUNT)
        return;
    u64 result = value & width_mask(insn.access_bytes);
    if (insn.op == MmioOp::load_sign_extend)
        result = sign_extend(result, insn.access_bytes);
    u64 &target = gpr[insn.reg];
    switch (insn.dest_bytes) {
    case BYTE:
    case WORD: {
        // Narrow writes leave the rest of the register alone.
        const unsigned shift = insn.high_byte ? HIGH_BYTE_SHIFT : 0;
        const u64 mask = width_mask(insn.dest_bytes) << shift;
        target = (target & ~mask) | ((result << shift) & mask);
        break;
    }
    case DWORD: target = result & width_mask(DWORD); break; // 32-bit writes clear bits 63:32
    case QWORD: target = result; break;
    default: break;
    }
}

const char *mmio_op_name(MmioOp op)
{
    switch (op) {
    case MmioOp::load: return "load";
    case MmioOp::store: return "store";
    case MmioOp::store_imm: return "store immediate";
    case MmioOp::load_zero_extend: return "load zero-extended";
    case MmioOp::load_sign_extend: return "load sign-extended";
    case MmioOp::exchange: return "exchange";
    }
    return "unknown";
}
