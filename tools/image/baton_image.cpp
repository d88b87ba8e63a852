// SPDX-License-Identifier: MIT
// baton-image: seals, signs (with OpenSSL's help) and checks hypervisor images exactly as
// the running hypervisor checks a next image (docs/image-signing.md).
#include "abi/errno.h"
#include "control/errno_names.hpp"
#include "handover/image_check.hpp"
#include "handover/image_digest.hpp"
#include "handover_layout.hpp"
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace {

constexpr int EXIT_ACCEPTED = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2;

const char usage_text[] = "usage: baton-image COMMAND ARGS...\n"
                          "\n"
                          "  seal IN OUT MSG        write the image digest into IN's note (as OUT) and the message\n"
                          "                         to sign (as MSG); IN is a linked, unsigned image\n"
                          "  attach IN SIG PUBKEY OUT\n"
                          "                         append the signature trailer: SIG is the raw 64-byte Ed25519\n"
                          "                         signature of MSG, PUBKEY the raw 32-byte public key; the result\n"
                          "                         is checked before it is written\n"
                          "  check FILE [--trusted PUBKEY.raw]... [--allow-unsigned] [--record-version N]\n"
                          "                         run the hypervisor's check of a next image (handover/image_check)\n"
                          "                         with these trusted keys; print the verdict; exit 0 if accepted\n"
                          "\n"
                          "exit status: 0 done or accepted, 1 refused or failed, 2 usage error.\n"
                          "See docs/image-signing.md.\n";

// A failure that ends the program with a message and an exit status.
struct Failure {
    int status;
    std::string message;
};

[[noreturn]] void fail(int status, const std::string &message) { throw Failure{status, message}; }

std::vector<uint8_t> read_file(const std::string &path)
{
    std::ifstream file(path, std::ios::binary);
    if (!file)
        fail(EXIT_REFUSED, "cannot read '" + path + "': " + std::strerror(errno));
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

void write_file(const std::string &path, const void *bytes, size_t size)
{
    // Beside the target, then renamed: a failed write never leaves half an image.
    const std::string temporary = path + ".tmp";
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    if (!file.write(static_cast<const char *>(bytes), static_cast<std::streamsize>(size)) || !file.flush())
        fail(EXIT_REFUSED, "cannot write '" + temporary + "': " + std::strerror(errno));
    file.close();
    if (std::rename(temporary.c_str(), path.c_str()) != 0)
        fail(EXIT_REFUSED, "cannot rename '" + temporary + "' to '" + path + "': " + std::strerror(errno));
}

std::string hex(const uint8_t *bytes, size_t size)
{
    std::string text;
    for (size_t i = 0; i < size; i++) {
        text += "0123456789abcdef"[bytes[i] >> 4];
        text += "0123456789abcdef"[bytes[i] & 0xf];
    }
    return text;
}

using PublicKey = std::array<u8, ED25519_PUBLIC_KEY_SIZE>;

struct Check {
    int error = 0;
    ImageInfo info;
    char why[IMAGE_CHECK_MESSAGE_SIZE] = {};
};

Check check_image(const std::vector<uint8_t> &image, const std::vector<PublicKey> &keys, bool require_signature,
                  u32 record_version)
{
    // The policy's shape, as the kernel's generated table has it.
    auto trusted = std::make_unique<u8[][ED25519_PUBLIC_KEY_SIZE]>(keys.size());
    for (size_t i = 0; i < keys.size(); i++)
        std::memcpy(trusted[i], keys[i].data(), ED25519_PUBLIC_KEY_SIZE);
    const ImagePolicy policy{trusted.get(), keys.size(), require_signature};
    Check result;
    result.error = check_next_image(image.data(), image.size(), record_version, policy, result.info, result.why,
                                    sizeof(result.why));
    return result;
}

PublicKey read_public_key(const std::string &path)
{
    std::vector<uint8_t> bytes = read_file(path);
    if (bytes.size() != ED25519_PUBLIC_KEY_SIZE)
        fail(EXIT_REFUSED, "'" + path + "' has " + std::to_string(bytes.size()) +
                               " bytes; a raw Ed25519 public key has 32 (tools/image/keys.sh raw makes one)");
    PublicKey key{};
    std::memcpy(key.data(), bytes.data(), key.size());
    return key;
}

// ---- seal IN OUT MSG --------------------------------------------------------------------

int seal(const std::string &in, const std::string &out, const std::string &message_path)
{
    std::vector<uint8_t> image = read_file(in);
    char why[ELF_MESSAGE_SIZE];
    ElfImage elf;
    if (elf_parse(image.data(), image.size(), elf, why, sizeof(why)) != 0)
        fail(EXIT_REFUSED, in + ": " + why);
    const size_t trailer = BATON_IMAGE_SIGNATURE_SIZE;
    if (image.size() >= trailer && std::memcmp(image.data() + image.size() - trailer, BATON_IMAGE_SIGNATURE_MAGIC,
                                               sizeof(baton_image_signature::magic)) == 0)
        fail(EXIT_REFUSED, in + ": already carries a signature trailer; seal the unsigned image");
    u32 note_size = 0;
    const void *note =
        elf_find_note(image.data(), image.size(), BATON_IMAGE_NOTE_OWNER, BATON_IMAGE_NOTE_TYPE, note_size);
    if (note == nullptr || note_size < sizeof(baton_image_note))
        fail(EXIT_REFUSED, in + ": no Baton image note of version 2 or later (abi/image_note.h)");
    const size_t note_offset = static_cast<size_t>(static_cast<const uint8_t *>(note) - image.data());
    baton_image_note descriptor;
    std::memcpy(&descriptor, note, sizeof(descriptor));
    if (descriptor.note_version < 2)
        fail(EXIT_REFUSED,
             in + ": its note is version " + std::to_string(descriptor.note_version) + ", which has no digest field");

    const Sha256Digest digest = image_digest(image.data(), image.size(), elf, note_offset);
    std::memcpy(image.data() + note_offset + IMAGE_DIGEST_FIELD_OFFSET, digest.bytes, sizeof(digest.bytes));
    std::memcpy(descriptor.digest, digest.bytes, sizeof(digest.bytes));

    // The hypervisor's own check, short of the signature: seal and check must agree.
    Check check = check_image(image, {}, false, handover::schema::HANDOVER_ABI_VERSION);
    if (check.error != 0 || check.info.signature_state != SignatureState::unsigned_image)
        fail(EXIT_REFUSED, in + ": the sealed image does not pass the check: " + check.why);

    u8 message[IMAGE_SIGNED_MESSAGE_SIZE];
    image_signed_message(digest, descriptor, message);
    write_file(out, image.data(), image.size());
    write_file(message_path, message, sizeof(message));
    printf("%s: sealed, digest %s\n", out.c_str(), hex(digest.bytes, sizeof(digest.bytes)).c_str());
    return EXIT_ACCEPTED;
}

// ---- attach IN SIG PUBKEY OUT -------------------------------------------------------------

int attach(const std::string &in, const std::string &signature_path, const std::string &key_path,
           const std::string &out)
{
    std::vector<uint8_t> image = read_file(in);
    std::vector<uint8_t> signature = read_file(signature_path);
    if (signature.size() != ED25519_SIGNATURE_SIZE)
        fail(EXIT_REFUSED, "'" + signature_path + "' has " + std::to_string(signature.size()) +
                               " bytes; an Ed25519 signature has 64");
    const PublicKey key = read_public_key(key_path);

    baton_image_signature trailer{};
    std::memcpy(trailer.magic, BATON_IMAGE_SIGNATURE_MAGIC, sizeof(trailer.magic));
    trailer.version = BATON_IMAGE_SIGNATURE_VERSION;
    trailer.size = BATON_IMAGE_SIGNATURE_SIZE;
    std::memcpy(trailer.public_key, key.data(), sizeof(trailer.public_key));
    std::memcpy(trailer.signature, signature.data(), sizeof(trailer.signature));
    const auto *bytes = reinterpret_cast<const uint8_t *>(&trailer);
    image.insert(image.end(), bytes, bytes + sizeof(trailer));

    // A signature by another key, or of another message, is caught here, not at update time.
    Check check = check_image(image, {key}, true, handover::schema::HANDOVER_ABI_VERSION);
    if (check.error != 0)
        fail(EXIT_REFUSED, in + ": the signed image does not pass the check: " + check.why);
    write_file(out, image.data(), image.size());
    printf("%s: signed by key %s\n", out.c_str(), hex(key.data(), key.size()).c_str());
    return EXIT_ACCEPTED;
}

// ---- check FILE [--trusted KEY]... [--allow-unsigned] [--record-version N] ----------------

int check(const std::vector<std::string> &args)
{
    std::string path;
    std::vector<PublicKey> keys;
    bool require_signature = true;
    u32 record_version = handover::schema::HANDOVER_ABI_VERSION;
    for (size_t i = 0; i < args.size(); i++) {
        const std::string &arg = args[i];
        if ((arg == "--trusted" || arg == "--record-version") && i + 1 == args.size())
            fail(EXIT_USAGE, arg + " needs a value");
        if (arg == "--trusted")
            keys.push_back(read_public_key(args[++i]));
        else if (arg == "--record-version")
            record_version = static_cast<u32>(std::strtoul(args[++i].c_str(), nullptr, 0));
        else if (arg == "--allow-unsigned")
            require_signature = false;
        else if (arg.size() > 1 && arg[0] == '-')
            fail(EXIT_USAGE, "unknown option " + arg);
        else if (path.empty())
            path = arg;
        else
            fail(EXIT_USAGE, "check takes one FILE");
    }
    if (path.empty())
        fail(EXIT_USAGE, "check needs a FILE");

    const std::vector<uint8_t> image = read_file(path);
    Check result = check_image(image, keys, require_signature, record_version);
    if (result.error != 0) {
        printf("%s: refused (%s): %s\n", path.c_str(), errno_name(result.error), result.why);
        return EXIT_REFUSED;
    }
    const ImageInfo &info = result.info;
    printf("%s: accepted: Baton %s (build %s), note v%u, reads records v%u..v%u\n", path.c_str(), info.note.version,
           info.note.build_id, info.note.note_version, info.note.record_read_min, info.note.record_read_max);
    printf("digest %s\n", hex(info.digest.bytes, sizeof(info.digest.bytes)).c_str());
    if (info.signature_state == SignatureState::trusted)
        printf("signature: trusted, key %s\n", hex(info.signer_key, sizeof(info.signer_key)).c_str());
    else
        printf("signature: %s (accepted only because of --allow-unsigned): %s\n",
               signature_state_name(info.signature_state), result.why);
    return EXIT_ACCEPTED;
}

int run(const std::vector<std::string> &args)
{
    if (args.empty())
        fail(EXIT_USAGE, "no command given");
    const std::string &command = args[0];
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    if (command == "help" || command == "--help" || command == "-h")
        return fputs(usage_text, stdout), EXIT_ACCEPTED;
    if (command == "seal" && rest.size() == 3)
        return seal(rest[0], rest[1], rest[2]);
    if (command == "attach" && rest.size() == 4)
        return attach(rest[0], rest[1], rest[2], rest[3]);
    if (command == "check")
        return check(rest);
    if (command == "seal" || command == "attach")
        fail(EXIT_USAGE, "wrong number of arguments for " + command);
    fail(EXIT_USAGE, "unknown command " + command);
}

} // namespace

int main(int argc, char **argv)
{
    try {
        return run(std::vector<std::string>(argv + 1, argv + argc));
    } catch (const Failure &failure) {
        fprintf(stderr, "baton-image: %s\n", failure.message.c_str());
        if (failure.status == EXIT_USAGE)
            fputs("usage: baton-image seal|attach|check ... ('baton-image help')\n", stderr);
        return failure.status;
    }
}
