#pragma once
// Every problem a user can cause (bad files, shapes, options) is reported as a
// bagnet::Error whose message is one self-contained line; the command line
// prints it and exits non-zero, library users catch it.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace bagnet {

// What the caller can change to get past an error. The library's messages name its
// own terms; a front end with options of its own (the command line's --max-pixels)
// adds the one that applies.
enum class Remedy { none, raise_pixel_limit, skip_undecodable, keep_cosine_length };

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message, Remedy remedy = Remedy::none)
        : std::runtime_error(message), remedy_(remedy) {}
    explicit Error(const char* message) : Error(std::string(message)) {}
    Remedy remedy() const { return remedy_; }

private:
    Remedy remedy_;
};

// Throws Error(message) when the condition does not hold.
inline void require(bool condition, const std::string& message) {
    if (!condition) throw Error(message);
}

// The shortest text that reads back as exactly `value` ("0.1", not "0.100000"):
// for messages, and for descriptions that are compared after a round trip.
inline std::string number_text(double value) {
    char text[32];
    for (int digits = 6; digits <= 17; ++digits) {
        std::snprintf(text, sizeof text, "%.*g", digits, value);
        if (std::strtod(text, nullptr) == value || !std::isfinite(value)) break;
    }
    return text;
}

// "a, b or c" (conjunction "or"), "a, b and c": a list of choices or names in a message.
inline std::string listed(const std::vector<std::string>& items, const std::string& conjunction) {
    std::string text;
    for (std::size_t i = 0; i < items.size(); ++i)
        text += (i == 0 ? "" : i + 1 == items.size() ? " " + conjunction + " " : ", ") + items[i];
    return text;
}

// Throws unless `value` is a finite number and `in_range` (the caller's test of it)
// holds: "<what> must be a finite number <range>, got <value>". NaN fails every
// comparison, so a test such as v >= 0 && v < 1 already rejects it; infinity is
// rejected here.
inline void require_number(const std::string& what, double value, bool in_range, const std::string& range) {
    if (!std::isfinite(value) || !in_range)
        throw Error(what + " must be a finite number " + range + ", got " + number_text(value));
}

}  // namespace bagnet
