#pragma once
// Small checks shared by the file parsers, which read untrusted bytes: element
// counts that must not overflow, and names taken from a file that must not
// break the one-line error message they end up in.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace bagnet::io {

// Quotes text read from a file for an error message: control characters are
// escaped (a newline would split the message) and very long text is cut short.
inline std::string quoted(const std::string& text) {
    constexpr std::size_t shown = 80;
    std::string out = "'";
    for (std::size_t i = 0; i < text.size() && i < shown; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7f) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned>(c));
            out += escaped;
        } else {
            out += static_cast<char>(c);
        }
    }
    if (text.size() > shown) out += "...";
    return out + "'";
}

// Whether `bytes` are well-formed UTF-8: no stray continuation bytes, no overlong
// encodings, no surrogates, nothing above U+10FFFF (RFC 3629).
inline bool is_utf8(const unsigned char* bytes, std::size_t size) {
    std::size_t i = 0;
    while (i < size) {
        const unsigned char lead = bytes[i];
        if (lead < 0x80) {
            ++i;
            continue;
        }
        std::size_t length = 0;
        unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
        if (lead >= 0xC2 && lead <= 0xDF) length = 2;
        else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            if (lead == 0xE0) low = 0xA0;   // overlong
            if (lead == 0xED) high = 0x9F;  // surrogates
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            if (lead == 0xF0) low = 0x90;   // overlong
            if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
        } else {
            return false;
        }
        if (size - i < length || bytes[i + 1] < low || bytes[i + 1] > high) return false;
        for (std::size_t k = 2; k < length; ++k)
            if ((bytes[i + k] & 0xC0) != 0x80) return false;
        i += length;
    }
    return true;
}

// The product of `factors` times `start` (an element size, or 1), or nothing when an
// array of that shape could not be addressed: when the product of its nonzero factors
// (times `start`) does not fit in std::ptrdiff_t. Zeros are left out of that test because
// a zero dimension makes the product 0 while an array library still multiplies the other
// dimensions into strides (xtensor from the last dimension inward): a header promising
// shape (0, 2^40, 2^40) holds no data, passes every size check, and then overflows there.
template <class Factors>
std::optional<std::size_t> checked_product(const Factors& factors, std::size_t start = 1) {
    constexpr auto limit = static_cast<std::size_t>(PTRDIFF_MAX);
    std::size_t nonzero = start;
    bool empty = start == 0;
    for (auto factor : factors) {
        const auto value = static_cast<std::size_t>(factor);
        if (value == 0) {
            empty = true;
            continue;
        }
        if (__builtin_mul_overflow(nonzero, value, &nonzero) || nonzero > limit) return std::nullopt;
    }
    if (nonzero > limit) return std::nullopt;
    return empty ? 0 : nonzero;
}

}  // namespace bagnet::io
