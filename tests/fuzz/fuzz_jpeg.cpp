// libFuzzer target for the JPEG reader (libjpeg-turbo): any bytes either decode into an
// image or are rejected with a one-line bagnet::Error. Build and run: see tests/fuzz/README.md.
#include <cstddef>
#include <cstdint>

#include "image_decoding.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    bagnet::fuzzing::decode_image(bagnet::io::decode_jpeg, data, size, "fuzz.jpg");
    return 0;
}
