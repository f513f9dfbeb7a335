// libFuzzer target for the npy reader: any bytes either parse into an array
// or are rejected with a one-line bagnet::Error; nothing else (crashes,
// out-of-bounds reads, other exceptions) may happen.
// Build and run: see tests/fuzz/README.md.
#include <bagnet/io/npy.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace {

// Errors are the expected answer to malformed input, but must stay one line.
void check_message(const bagnet::Error& error) {
    if (std::strchr(error.what(), '\n') != nullptr) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        (void)bagnet::io::parse_npy_float(data, size, "fuzz.npy");
    } catch (const bagnet::Error& error) {
        check_message(error);
    }
    try {
        (void)bagnet::io::parse_npy_int64(data, size, "fuzz.npy");
    } catch (const bagnet::Error& error) {
        check_message(error);
    }
    return 0;
}
