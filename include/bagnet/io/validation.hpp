#pragma once
// Small checks shared by the file parsers, which read untrusted bytes: element
// counts that must not overflow, and names taken from a file that must not
// break the one-line error message they end up in.
#include <cstddef>
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

// The product of `factors`, or nothing when it does not fit in std::size_t.
template <class Factors>
std::optional<std::size_t> checked_product(const Factors& factors, std::size_t start = 1) {
    std::size_t product = start;
    for (auto factor : factors) {
        if (__builtin_mul_overflow(product, static_cast<std::size_t>(factor), &product)) return std::nullopt;
    }
    return product;
}

}  // namespace bagnet::io
