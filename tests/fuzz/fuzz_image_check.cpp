// SPDX-License-Identifier: MIT
// libFuzzer target: the hypervisor's check of a next image on arbitrary bytes.
//
// Every input is judged as the kernel judges an uploaded image (handover/image_check.hpp),
// twice: with a signature required and with lu_require_signature=no, trusting the build's
// signing key (build/gen/trusted_keys.hpp), so a seed signed by the build reaches every
// check. The trailer is not part of the digest: mutations there keep a sealed seed's
// digest valid and feed hostile keys and signatures to Ed25519. ASan and UBSan turn any
// out-of-bounds read or overflow into a crash; the checks below turn a wrong verdict into one.
#include "abi/errno.h"
#include "handover/image_check.hpp"
#include "handover_layout.hpp"
#include "trusted_keys.hpp"
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

void judge(const std::vector<u8> &image, bool require_signature)
{
    const ImagePolicy policy{TRUSTED_KEYS, 1, require_signature};
    ImageInfo info;
    char why[IMAGE_CHECK_MESSAGE_SIZE];
    std::memset(why, 0x55, sizeof(why));
    int error = check_next_image(image.data(), image.size(), handover::schema::HANDOVER_ABI_VERSION, policy, info, why,
                                 sizeof(why));
    if (std::memchr(why, '\0', sizeof(why)) == nullptr)
        abort(); // the reason must always be a terminated string
    if (error > 0 || (error != 0 && why[0] == '\0'))
        abort(); // a refusal always says why
    if (error == 0 && require_signature &&
        (info.signature_state != SignatureState::trusted ||
         std::memcmp(info.signer_key, TRUSTED_KEYS[0], sizeof(info.signer_key)) != 0))
        abort(); // accepted without the trusted signature it requires
    if (error == 0 && std::memcmp(info.digest.bytes, info.note.digest, sizeof(info.note.digest)) != 0)
        abort(); // accepted with a digest that does not match
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    // An exact-size copy: ASan sees any read past the end of the image.
    const std::vector<u8> image(data, data + size);
    judge(image, true);
    judge(image, false);
    return 0;
}
