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
