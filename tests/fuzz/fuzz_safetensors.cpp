// libFuzzer target for the safetensors reader: any bytes either parse into
// tensors that load, or are rejected with a one-line bagnet::Error; nothing
// else (crashes, out-of-bounds reads, other exceptions) may happen.
// Build and run: see tests/fuzz/README.md.
#include <bagnet/io/safetensors.hpp>

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
        const bagnet::io::SafetensorsView view(data, size, "fuzz.safetensors");
        (void)view.metadata();
        for (const auto& name : view.names()) {
            (void)view.shape(name);
            (void)view.dtype(name);
            try {
                (void)view.load_float(name);
            } catch (const bagnet::Error& error) {
                check_message(error);
            }
            try {
                (void)view.load_int64(name);
            } catch (const bagnet::Error& error) {
                check_message(error);
            }
        }
    } catch (const bagnet::Error& error) {
        check_message(error);
    }
    return 0;
}
