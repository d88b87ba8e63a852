// SPDX-License-Identifier: MIT
// Decoding the instruction that touched an emulated device's MMIO page, and completing it.
#include "arch/x86_64/platform/insn_decode.hpp"
#include "abi/errno.h"

namespace {

constexpr u8 PREFIX_OPERAND_SIZE = 0x66, PREFIX_ADDRESS_SIZE = 0x67, PREFIX_LOCK = 0xf0, PREFIX_REPNE = 0xf2,
             PREFIX_REP = 0xf3;
constexpr u8 PREFIX_CS = 0x2e, PREFIX_SS = 0x36, PREFIX_DS = 0x3e, PREFIX_ES = 0x26, PREFIX_FS = 0x64, PREFIX_GS = 0x65;
constexpr u8 REX_FIRST = 0x40, REX_LAST = 0x4f, REX_W = 8, REX_R = 4;
constexpr u8 OP_MOV_STORE8 = 0x88, OP_MOV_STORE = 0x89, OP_MOV_LOAD8 = 0x8a, OP_MOV_LOAD = 0x8b;
constexpr u8 OP_MOV_IMM8 = 0xc6, OP_MOV_IMM = 0xc7;
constexpr u8 OP_MOV_AL_MOFFS = 0xa0, OP_MOV_AX_MOFFS = 0xa1, OP_MOV_MOFFS_AL = 0xa2, OP_MOV_MOFFS_AX = 0xa3;
constexpr u8 OP_XCHG8 = 0x86, OP_XCHG = 0x87;
constexpr u8 OP_TWO_BYTE = 0x0f;
constexpr u8 OP2_MOVZX8 = 0xb6, OP2_MOVZX16 = 0xb7, OP2_MOVSX8 = 0xbe, OP2_MOVSX16 = 0xbf;
constexpr u8 MODRM_MOD_REGISTER = 3, MODRM_RM_SIB = 4, MODRM_RM_DISP32 = 5, SIB_BASE_NONE = 5;
constexpr u8 MODRM16_RM_DISP16 = 6;
constexpr usize MAX_PREFIXES = 14; // with the opcode byte, the 15-byte limit
constexpr u8 REG_RAX = 0;

// Reads the instruction byte by byte and keeps count.
class Cursor final {
public:
    Cursor(const u8 *bytes, usize available)
        : bytes_(bytes), available_(available < INSN_MAX_LENGTH ? available : INSN_MAX_LENGTH)
    {}
    bool next(u8 *byte)
    {
        if (at_ >= available_)
            return false;
        *byte = bytes_[at_++];
        return true;
    }
    bool skip(usize count)
    {
        if (count > available_ - at_)
            return false;
        at_ += count;
        return true;
    }
    bool little_endian(usize count, u64 *value)
    {
        u64 result = 0;
        for (usize i = 0; i < count; i++) {
            u8 byte = 0;
            if (!next(&byte))
                return false;
            result |= u64{byte} << (8 * i);
        }
        *value = result;
        return true;
    }
    usize at() const { return at_; }

private:
    const u8 *bytes_;
    usize available_;
    usize at_ = 0;
};

struct Prefixes {
    bool operand_size = false;
    bool address_size = false;
    u8 rex = 0;
};

u8 operand_bytes(CpuMode mode, const Prefixes &p)
{
    if (mode == CpuMode::long64 && (p.rex & REX_W) != 0)
        return 8;
    const bool wide = mode != CpuMode::protected16;
    return (wide != p.operand_size) ? 4 : 2;
}

u8 address_bytes(CpuMode mode, const Prefixes &p)
{
    switch (mode) {
    case CpuMode::long64: return p.address_size ? 4 : 8;
    case CpuMode::protected32: return p.address_size ? 2 : 4;
    case CpuMode::protected16: return p.address_size ? 4 : 2;
    }
    return 4;
}

// Consumes ModRM, SIB and displacement; the register field goes to `reg` (REX.R applied).
// The instruction must name memory.
int memory_operand(Cursor &c, CpuMode mode, const Prefixes &p, u8 *reg)
{
    u8 modrm = 0;
    if (!c.next(&modrm))
        return -BATON_EFAULT;
    const u8 mod = static_cast<u8>(modrm >> 6), rm = modrm & 7;
    *reg = static_cast<u8>(((modrm >> 3) & 7) | ((p.rex & REX_R) != 0 ? 8 : 0));
    if (mod == MODRM_MOD_REGISTER)
        return -BATON_EINVAL;
    usize displacement = 0;
    if (address_bytes(mode, p) == 2) {
        displacement = mod == 1 ? 1 : (mod == 2 || (mod == 0 && rm == MODRM16_RM_DISP16)) ? 2 : 0;
    } else {
        u8 base = rm;
        if (rm == MODRM_RM_SIB) {
            u8 sib = 0;
            if (!c.next(&sib))
                return -BATON_EFAULT;
            base = sib & 7;
        }
        if (mod == 1)
            displacement = 1;
        else if (mod == 2 || (mod == 0 && (rm == MODRM_RM_DISP32 || (rm == MODRM_RM_SIB && base == SIB_BASE_NONE))))
            displacement = 4;
    }
    return c.skip(displacement) ? 0 : -BATON_EFAULT;
}

// 8-bit register names: without REX, 4-7 are AH CH DH BH.
void byte_register(const Prefixes &p, MmioInsn *out)
{
    if (p.rex == 0 && out->reg >= 4 && out->reg < 8) {
        out->reg = static_cast<u8>(out->reg - 4);
        out->high_byte = true;
    }
}

u64 mask_of(u8 bytes) { return bytes >= 8 ? ~u64{0} : (u64{1} << (8 * bytes)) - 1; }

u64 sign_extend(u64 value, u8 from_bytes)
{
    const unsigned shift = 64u - 8u * from_bytes;
    return static_cast<u64>(static_cast<i64>(value << shift) >> shift);
}

int decode_two_byte(Cursor &c, CpuMode mode, const Prefixes &p, MmioInsn *out)
{
    u8 opcode = 0;
    if (!c.next(&opcode))
        return -BATON_EFAULT;
    switch (opcode) {
    case OP2_MOVZX8:
    case OP2_MOVZX16: out->op = MmioOp::load_zero_extend; break;
    case OP2_MOVSX8:
    case OP2_MOVSX16: out->op = MmioOp::load_sign_extend; break;
    default: return -BATON_ENOSYS;
    }
    out->access_bytes = (opcode == OP2_MOVZX8 || opcode == OP2_MOVSX8) ? 1 : 2;
    out->dest_bytes = operand_bytes(mode, p);
    return memory_operand(c, mode, p, &out->reg);
}

int decode_opcode(Cursor &c, u8 opcode, CpuMode mode, const Prefixes &p, MmioInsn *out)
{
    const u8 wide = operand_bytes(mode, p);
    switch (opcode) {
    case OP_MOV_STORE8:
    case OP_MOV_STORE:
    case OP_MOV_LOAD8:
    case OP_MOV_LOAD:
    case OP_XCHG8:
    case OP_XCHG: {
        const bool byte = opcode == OP_MOV_STORE8 || opcode == OP_MOV_LOAD8 || opcode == OP_XCHG8;
        out->op = (opcode == OP_MOV_STORE8 || opcode == OP_MOV_STORE) ? MmioOp::store
                  : (opcode == OP_XCHG8 || opcode == OP_XCHG)         ? MmioOp::exchange
                                                                      : MmioOp::load;
        out->access_bytes = out->dest_bytes = byte ? 1 : wide;
        if (int error = memory_operand(c, mode, p, &out->reg))
            return error;
        if (byte)
            byte_register(p, out);
        return 0;
    }
    case OP_MOV_IMM8:
    case OP_MOV_IMM: {
        u8 reg = 0;
        if (int error = memory_operand(c, mode, p, &reg))
            return error;
        if ((reg & 7) != 0)
            return -BATON_ENOSYS; // C6/C7 with another /digit is not a move
        out->op = MmioOp::store_imm;
        out->access_bytes = opcode == OP_MOV_IMM8 ? 1 : wide;
        const u8 imm_bytes = out->access_bytes == 8 ? 4 : out->access_bytes; // imm32 sign-extended for 64 bits
        u64 imm = 0;
        if (!c.little_endian(imm_bytes, &imm))
            return -BATON_EFAULT;
        out->imm = (out->access_bytes == 8 ? sign_extend(imm, 4) : imm) & mask_of(out->access_bytes);
        return 0;
    }
    case OP_MOV_AL_MOFFS:
    case OP_MOV_AX_MOFFS:
    case OP_MOV_MOFFS_AL:
    case OP_MOV_MOFFS_AX: {
        out->op = (opcode == OP_MOV_AL_MOFFS || opcode == OP_MOV_AX_MOFFS) ? MmioOp::load : MmioOp::store;
        out->access_bytes = out->dest_bytes = (opcode == OP_MOV_AL_MOFFS || opcode == OP_MOV_MOFFS_AL) ? 1 : wide;
        out->reg = REG_RAX;
        return c.skip(address_bytes(mode, p)) ? 0 : -BATON_EFAULT;
    }
    case OP_TWO_BYTE: return decode_two_byte(c, mode, p, out);
    default: return -BATON_ENOSYS;
    }
}

} // namespace

const char *mmio_op_name(MmioOp op)
{
    switch (op) {
    case MmioOp::load: return "load";
    case MmioOp::store: return "store";
    case MmioOp::store_imm: return "store of an immediate";
    case MmioOp::load_zero_extend: return "zero-extending load";
    case MmioOp::load_sign_extend: return "sign-extending load";
    case MmioOp::exchange: return "exchange";
    }
    return "unknown";
}

int decode_mmio(const u8 *bytes, usize available, CpuMode mode, MmioInsn *out)
{
    Cursor c(bytes, available);
    Prefixes p;
    *out = MmioInsn{};
    u8 byte = 0;
    for (usize count = 0;; count++) {
        if (count > MAX_PREFIXES)
            return -BATON_EINVAL;
        if (!c.next(&byte))
            return -BATON_EFAULT;
        if (mode == CpuMode::long64 && byte >= REX_FIRST && byte <= REX_LAST) {
            p.rex = byte; // REX counts only right before the opcode: a later prefix clears it
            continue;
        }
        if (byte == PREFIX_LOCK || byte == PREFIX_REP || byte == PREFIX_REPNE)
            return -BATON_EINVAL;
        if (byte == PREFIX_OPERAND_SIZE)
            p.operand_size = true;
        else if (byte == PREFIX_ADDRESS_SIZE)
            p.address_size = true;
        else if (byte != PREFIX_CS && byte != PREFIX_SS && byte != PREFIX_DS && byte != PREFIX_ES &&
                 byte != PREFIX_FS && byte != PREFIX_GS)
            break;
        p.rex = 0;
    }
    if (int error = decode_opcode(c, byte, mode, p, out))
        return error;
    out->length = static_cast<u8>(c.at());
    return 0;
}

u64 mmio_store_value(const MmioInsn &insn, const u64 (&gpr)[GPR_COUNT])
{
    if (insn.op == MmioOp::store_imm)
        return insn.imm;
    const u64 value = insn.high_byte ? gpr[insn.reg] >> 8 : gpr[insn.reg];
    return value & mask_of(insn.access_bytes);
}

void mmio_complete_load(const MmioInsn &insn, u64 value, u64 (&gpr)[GPR_COUNT])
{
    value &= mask_of(insn.access_bytes);
    if (insn.op == MmioOp::load_sign_extend)
        value = sign_extend(value, insn.access_bytes) & mask_of(insn.dest_bytes);
    u64 &reg = gpr[insn.reg];
    if (insn.high_byte) {
        reg = (reg & ~u64{0xff00}) | (value << 8);
        return;
    }
    switch (insn.dest_bytes) {
    case 1: reg = (reg & ~u64{0xff}) | value; break;
    case 2: reg = (reg & ~u64{0xffff}) | value; break;
    default: reg = value; break; // 8 bytes, and 4: a 32-bit write clears the upper half
    }
}
