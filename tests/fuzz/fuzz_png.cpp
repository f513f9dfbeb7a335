// libFuzzer target for the PNG reader (libpng): any bytes either decode into an
// image or are rejected with a one-line bagnet::Error. Build and run: see tests/fuzz/README.md.
#include <cstddef>
#include <cstdint>

#include "image_decoding.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    bagnet::fuzzing::decode_image(bagnet::io::decode_png, data, size, "fuzz.png");
    return 0;
}
