#pragma once
// Every problem a user can cause (bad files, shapes, options) is reported as a
// bagnet::Error whose message is one self-contained line; the command line
// prints it and exits non-zero, library users catch it.
#include <stdexcept>
#include <string>

namespace bagnet {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Throws Error(message) when the condition does not hold.
inline void require(bool condition, const std::string& message) {
    if (!condition) throw Error(message);
}

}  // namespace bagnet
