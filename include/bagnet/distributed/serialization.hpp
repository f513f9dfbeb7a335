#pragma once
// Results sent between processes as bytes: numbers, strings and float tensors
// packed one after the other, read back in the same order. Both ends are the
// same program, so the layout is the machine's own.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bagnet/error.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet::distributed {

class Writer {
public:
    template <class T>
    Writer& number(T value) {
        static_assert(std::is_arithmetic<T>::value, "Writer::number takes numbers");
        bytes_.append(reinterpret_cast<const char*>(&value), sizeof value);
        return *this;
    }
    Writer& text(const std::string& value) {
        number(std::uint64_t(value.size()));
        bytes_ += value;
        return *this;
    }
    // Shape and values.
    Writer& tensor(const Tensor& value) {
        number(std::uint64_t(value.dimension()));
        for (auto d : value.shape()) number(std::uint64_t(d));
        bytes_.append(reinterpret_cast<const char*>(value.data()), value.size() * sizeof(float));
        return *this;
    }
    const std::string& bytes() const { return bytes_; }

private:
    std::string bytes_;
};

class Reader {
public:
    explicit Reader(const std::string& bytes) : bytes_(bytes) {}
    template <class T>
    T number() {
        T value;
        std::memcpy(&value, take(sizeof value), sizeof value);
        return value;
    }
    std::string text() {
        const auto size = std::size_t(number<std::uint64_t>());
        return std::string(take(size), size);
    }
    Tensor tensor() {
        std::vector<std::size_t> shape(std::size_t(number<std::uint64_t>()));
        for (auto& d : shape) d = std::size_t(number<std::uint64_t>());
        Tensor value = Tensor::from_shape(shape);
        std::memcpy(value.data(), take(value.size() * sizeof(float)), value.size() * sizeof(float));
        return value;
    }
    bool done() const { return offset_ == bytes_.size(); }

private:
    const char* take(std::size_t count) {
        require(count <= bytes_.size() - offset_, "internal: a message between processes ended early");
        const char* at = bytes_.data() + offset_;
        offset_ += count;
        return at;
    }
    const std::string& bytes_;
    std::size_t offset_ = 0;
};

}  // namespace bagnet::distributed
