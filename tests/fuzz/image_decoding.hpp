#pragma once
// The PNG and JPEG targets' one body: the decoder on the bytes gives an image whose
// samples fill exactly height x width x channels bytes and convert, or an Error.
#include <bagnet/io/image.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzzing.hpp"

namespace bagnet::fuzzing {

template <class Decode>
void decode_image(Decode decode, const std::uint8_t* data, std::size_t size, const std::string& name) {
    // The pixel limit is checked all the same; at the default (179 million pixels) a
    // header of a few dozen bytes would cost a 700 MB allocation per input and starve the search.
    const auto options = io::DecodeOptions().with_max_pixels(std::uint64_t(1) << 22);
    expect_result_or_error([&] {
        const io::Image image = decode(std::vector<unsigned char>(data, data + size), name, options);
        if (image.pixels.size() != std::size_t(image.height) * std::size_t(image.width) * std::size_t(image.channels))
            __builtin_trap();
        (void)io::convert_channels(image, 3);
    });
}

}  // namespace bagnet::fuzzing
