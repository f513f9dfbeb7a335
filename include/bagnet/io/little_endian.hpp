#pragma once
// The file formats bagnet reads and writes (safetensors, npy) store numbers
// little-endian. Every host bagnet targets (x86-64, AArch64) is little-endian
// too, so values are copied byte for byte and whole tensors with one memcpy;
// a big-endian host is refused at compile time rather than reading garbage.
#include <cstring>
#include <ostream>
#include <type_traits>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "bagnet's file formats are little-endian and it copies them unconverted: big-endian hosts are "
              "not supported");

namespace bagnet::io {

// Reads a T from possibly unaligned bytes.
template <class T>
T load_little_endian(const unsigned char* bytes) {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    std::memcpy(&value, bytes, sizeof(T));
    return value;
}

template <class T>
void write_little_endian(std::ostream& out, T value) {
    static_assert(std::is_trivially_copyable_v<T>);
    out.write(reinterpret_cast<const char*>(&value), sizeof(T));
}

}  // namespace bagnet::io
