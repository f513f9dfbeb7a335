// libFuzzer target for the safetensors reader: any bytes either parse into
// tensors that load, or are rejected with a one-line bagnet::Error; nothing
// else (crashes, out-of-bounds reads, other exceptions) may happen.
// Build and run: see tests/fuzz/README.md.
#include <bagnet/io/safetensors.hpp>

#include <cstddef>
#include <cstdint>

#include "fuzzing.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using bagnet::fuzzing::expect_result_or_error;
    expect_result_or_error([&] {
        const bagnet::io::SafetensorsView view(data, size, "fuzz.safetensors");
        (void)view.metadata();
        for (const auto& name : view.names()) {
            (void)view.shape(name);
            (void)view.dtype(name);
            expect_result_or_error([&] { (void)view.load_float(name); });
            expect_result_or_error([&] { (void)view.load_int64(name); });
        }
    });
    return 0;
}
