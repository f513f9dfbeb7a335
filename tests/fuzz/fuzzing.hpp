#pragma once
// What every fuzz target holds a reader to: any bytes give a result or a one-line
// bagnet::Error. Another exception escapes LLVMFuzzerTestOneInput and aborts, a
// sanitizer report ends the run, and an error with a newline traps: each is a finding.
#include <bagnet/error.hpp>

#include <cstring>

namespace bagnet::fuzzing {

template <class Read>
void expect_result_or_error(Read&& read) {
    try {
        read();
    } catch (const bagnet::Error& error) {
        if (std::strchr(error.what(), '\n') != nullptr) __builtin_trap();
    }
}

}  // namespace bagnet::fuzzing
