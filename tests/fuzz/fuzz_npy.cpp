// libFuzzer target for the npy reader: any bytes either parse into an array
// or are rejected with a one-line bagnet::Error; nothing else (crashes,
// out-of-bounds reads, other exceptions) may happen.
// Build and run: see tests/fuzz/README.md.
#include <bagnet/io/npy.hpp>

#include <cstddef>
#include <cstdint>

#include "fuzzing.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using bagnet::fuzzing::expect_result_or_error;
    expect_result_or_error([&] { (void)bagnet::io::parse_npy_float(data, size, "fuzz.npy"); });
    expect_result_or_error([&] { (void)bagnet::io::parse_npy_int64(data, size, "fuzz.npy"); });
    return 0;
}
