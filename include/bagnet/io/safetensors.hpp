#pragma once
// safetensors, the weight format: an 8-byte little-endian header length N, N
// bytes of JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value"}}
// and then the raw little-endian data, offsets counted from the byte after the
// header. Files come from anywhere, so every length, offset and count is
// checked against the bytes actually present before anything is read.
#include <bagnet/error.hpp>
#include <bagnet/io/atomic_file.hpp>
#include <bagnet/io/json.hpp>
#include <bagnet/io/literal_parser.hpp>
#include <bagnet/io/little_endian.hpp>
#include <bagnet/io/mapped_file.hpp>
#include <bagnet/io/validation.hpp>
#include <bagnet/tensor.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace bagnet::io {

namespace detail {

// Every element type the safetensors format defines, so that a file holding
// types bagnet cannot convert still opens and its other tensors load.
inline std::size_t safetensors_dtype_size(const std::string& dtype) {
    static const std::map<std::string, std::size_t> sizes = {
        {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
        {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
        {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8}};
    const auto found = sizes.find(dtype);
    return found == sizes.end() ? 0 : found->second;
}

inline float half_to_float(std::uint16_t half) {
    const float sign = (half & 0x8000u) != 0 ? -1.0f : 1.0f;
    const unsigned exponent = (half >> 10) & 0x1Fu;
    const unsigned mantissa = half & 0x3FFu;
    if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -24);  // zero or subnormal
    if (exponent == 0x1F) return mantissa == 0 ? sign * INFINITY : NAN;
    return sign * std::ldexp(static_cast<float>(mantissa | 0x400u), static_cast<int>(exponent) - 25);
}

// bfloat16 is the upper half of a float32.
inline float bfloat16_to_float(std::uint16_t bfloat) {
    const std::uint32_t bits = static_cast<std::uint32_t>(bfloat) << 16;
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

template <class Source, class Convert>
void convert_elements(const unsigned char* bytes, std::size_t count, float* out, Convert convert) {
    for (std::size_t i = 0; i < count; ++i)
        out[i] = convert(load_little_endian<Source>(bytes + i * sizeof(Source)));
}

}  // namespace detail

// A validated, read-only view of safetensors bytes held elsewhere (a mapped
// file, or a buffer in tests and fuzzing). Copies share the same bytes.
class SafetensorsView {
public:
    // Parses and checks the whole header; `source` names the bytes in error messages.
    SafetensorsView(const unsigned char* bytes, std::size_t size, std::string source)
        : source_(std::move(source)) {
        constexpr std::uint64_t largest_header = 100'000'000;  // the reference implementation's limit
        require(size >= 8, source_ + ": file is " + std::to_string(size) +
                               " bytes long, too short for the 8-byte header length of a safetensors file");
        const auto header_size = load_little_endian<std::uint64_t>(bytes);
        require(header_size <= size - 8, source_ + ": header length " + std::to_string(header_size) +
                                             " runs past the end of the file (" + std::to_string(size) +
                                             " bytes)");
        require(header_size <= largest_header, source_ + ": header length " + std::to_string(header_size) +
                                                   " is larger than the limit of " +
                                                   std::to_string(largest_header));
        const auto header_length = static_cast<std::size_t>(header_size);
        const unsigned char* data = bytes + 8 + header_length;
        const std::size_t data_size = size - 8 - header_length;

        require(is_utf8(bytes + 8, header_length), source_ + ": header is not valid UTF-8");
        const auto header =
            detail::literal::parse(detail::literal::Syntax::json, reinterpret_cast<const char*>(bytes + 8),
                                   header_length, source_ + ": header is not valid JSON");
        require(header.kind == detail::literal::Value::Kind::object,
                source_ + ": header is not a JSON object");
        for (std::size_t i = 0; i < header.keys.size(); ++i) {
            if (header.keys[i] == "__metadata__") {
                read_metadata(header.items[i]);
            } else {
                entries_.emplace(header.keys[i],
                                 read_entry(header.keys[i], header.items[i], data, data_size));
            }
        }
        check_layout(data, data_size);
    }

    const std::string& source() const { return source_; }

    // Tensor names, sorted.
    std::vector<std::string> names() const {
        std::vector<std::string> result;
        result.reserve(entries_.size());
        for (const auto& entry : entries_) result.push_back(entry.first);
        return result;
    }

    bool contains(const std::string& name) const { return entries_.count(name) != 0; }
    const std::vector<std::size_t>& shape(const std::string& name) const { return entry(name).shape; }
    // The element type as the file spells it: "F32", "BF16", "I64", ...
    const std::string& dtype(const std::string& name) const { return entry(name).dtype; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

    // The tensor converted to float from F32, F64, F16, BF16, I64 or I32.
    Tensor load_float(const std::string& name) const {
        const Entry& e = entry(name);
        Tensor result = Tensor::from_shape(e.shape);
        if (e.element_count == 0) return result;
        float* out = result.data();
        using detail::convert_elements;
        if (e.dtype == "F32") {
            std::memcpy(out, e.bytes, e.element_count * sizeof(float));
        } else if (e.dtype == "F64") {
            convert_elements<double>(e.bytes, e.element_count, out,
                                     [](double v) { return static_cast<float>(v); });
        } else if (e.dtype == "F16") {
            convert_elements<std::uint16_t>(e.bytes, e.element_count, out, detail::half_to_float);
        } else if (e.dtype == "BF16") {
            convert_elements<std::uint16_t>(e.bytes, e.element_count, out, detail::bfloat16_to_float);
        } else if (e.dtype == "I64") {
            convert_elements<std::int64_t>(e.bytes, e.element_count, out,
                                           [](std::int64_t v) { return static_cast<float>(v); });
        } else if (e.dtype == "I32") {
            convert_elements<std::int32_t>(e.bytes, e.element_count, out,
                                           [](std::int32_t v) { return static_cast<float>(v); });
        } else {
            throw Error(source_ + ": tensor " + io::quoted(name) + " has dtype " + e.dtype +
                        ", which cannot be converted to float (F32, F64, F16, BF16, I64 and I32 can)");
        }
        return result;
    }

    // The tensor's elements, row-major, from I64 or I32: exact where float is
    // not (step counters beyond 2^24).
    std::vector<std::int64_t> load_int64(const std::string& name) const {
        const Entry& e = entry(name);
        const bool wide = e.dtype == "I64";
        require(wide || e.dtype == "I32", source_ + ": tensor " + io::quoted(name) + " has dtype " + e.dtype +
                                              ", not an integer type (I64 or I32)");
        std::vector<std::int64_t> result(e.element_count);
        for (std::size_t i = 0; i < e.element_count; ++i) {
            result[i] = wide ? load_little_endian<std::int64_t>(e.bytes + 8 * i)
                             : load_little_endian<std::int32_t>(e.bytes + 4 * i);
        }
        return result;
    }

private:
    struct Entry {
        std::string dtype;
        std::vector<std::size_t> shape;
        std::size_t element_count = 0;
        std::size_t element_size = 0;
        const unsigned char* bytes = nullptr;
        std::size_t byte_count() const { return element_count * element_size; }
    };

    const Entry& entry(const std::string& name) const {
        const auto found = entries_.find(name);
        if (found == entries_.end()) throw Error(source_ + ": no tensor named " + io::quoted(name));
        return found->second;
    }

    Entry read_entry(const std::string& name, const detail::literal::Value& description,
                     const unsigned char* data, std::size_t data_size) const {
        using Kind = detail::literal::Value::Kind;
        const std::string tensor = source_ + ": tensor " + io::quoted(name);
        require(description.kind == Kind::object, tensor + " is not described by a JSON object");
        auto field = [&](const char* key) -> const detail::literal::Value& {
            const auto* value = description.find(key);
            require(value != nullptr, tensor + " has no '" + key + "'");
            return *value;
        };
        auto integers = [&](const char* key) {
            const auto& value = field(key);
            const bool all_integers =
                value.kind == Kind::array &&
                std::all_of(value.items.begin(), value.items.end(),
                            [](const auto& item) { return item.kind == Kind::integer; });
            require(all_integers, tensor + " has a '" + key + "' that is not an array of integers");
            std::vector<std::int64_t> result;
            for (const auto& item : value.items) result.push_back(item.integer);
            return result;
        };

        Entry entry;
        const auto& dtype = field("dtype");
        require(dtype.kind == Kind::string, tensor + " has a 'dtype' that is not a string");
        entry.dtype = dtype.text;
        const std::size_t dtype_size = detail::safetensors_dtype_size(entry.dtype);
        require(dtype_size != 0, tensor + " has unknown dtype " + io::quoted(entry.dtype));
        entry.element_size = dtype_size;

        const auto dimensions = integers("shape");
        // Messages are built only on failure: a hostile shape may have 100,000 dimensions.
        const bool non_negative = std::all_of(dimensions.begin(), dimensions.end(), [](auto d) { return d >= 0; });
        if (!non_negative) throw Error(tensor + " has a negative dimension in shape " + shape_string(dimensions));
        entry.shape.assign(dimensions.begin(), dimensions.end());
        const auto element_count = checked_product(entry.shape);
        const auto byte_count = checked_product(entry.shape, dtype_size);
        if (!element_count || !byte_count)
            throw Error(tensor + " has shape " + shape_string(dimensions) + ", too many elements to address (its nonzero dimensions make more than 2^63 bytes)");
        entry.element_count = *element_count;

        const auto offsets = integers("data_offsets");
        const auto offsets_text = [&] { return "data_offsets " + shape_string(offsets); };
        if (offsets.size() != 2) throw Error(tensor + " has " + offsets_text() + ", expected [begin, end]");
        if (offsets[0] < 0 || offsets[1] < 0) throw Error(tensor + " has negative " + offsets_text());
        if (offsets[0] > offsets[1]) throw Error(tensor + " " + offsets_text() + " begin after they end");
        const auto begin = static_cast<std::uint64_t>(offsets[0]);
        const auto end = static_cast<std::uint64_t>(offsets[1]);
        if (end > data_size)
            throw Error(tensor + " " + offsets_text() + " run past the end of the data (" +
                        std::to_string(data_size) + " bytes)");
        if (end - begin != *byte_count)
            throw Error(tensor + " " + offsets_text() + " hold " + std::to_string(end - begin) +
                        " bytes, but shape " + shape_string(dimensions) + " of " + entry.dtype + " needs " +
                        std::to_string(*byte_count));
        entry.bytes = data + begin;
        return entry;
    }

    // As the reference implementation requires: the tensors, in the order of their
    // offsets, tile the data region exactly, with no byte shared, skipped or left over.
    void check_layout(const unsigned char* data, std::size_t data_size) const {
        struct Extent {
            std::size_t begin, end;
            const std::string* name;
            bool operator<(const Extent& other) const { return std::tie(begin, end) < std::tie(other.begin, other.end); }
        };
        std::vector<Extent> extents;
        for (const auto& [name, e] : entries_) {
            const auto begin = static_cast<std::size_t>(e.bytes - data);
            extents.push_back({begin, begin + e.byte_count(), &name});
        }
        std::sort(extents.begin(), extents.end());
        std::size_t expected = 0;  // where the next tensor must begin
        for (const Extent& e : extents) {
            if (e.begin < expected)
                throw Error(source_ + ": tensor " + io::quoted(*e.name) + " overlaps another tensor's bytes (it begins at " +
                            std::to_string(e.begin) + ", before " + std::to_string(expected) + ")");
            if (e.begin > expected)
                throw Error(source_ + ": tensor " + io::quoted(*e.name) + " begins at " + std::to_string(e.begin) +
                            ", leaving data bytes " + std::to_string(expected) + " to " + std::to_string(e.begin) +
                            " unused");
            expected = e.end;
        }
        if (expected != data_size)
            throw Error(source_ + ": " + std::to_string(data_size - expected) +
                        " bytes follow the last tensor's data, which belong to no tensor");
    }

    void read_metadata(const detail::literal::Value& metadata) {
        using Kind = detail::literal::Value::Kind;
        require(metadata.kind == Kind::object, source_ + ": '__metadata__' is not a JSON object");
        for (std::size_t i = 0; i < metadata.keys.size(); ++i) {
            require(
                metadata.items[i].kind == Kind::string,
                source_ + ": '__metadata__' value of " + io::quoted(metadata.keys[i]) + " is not a string");
            metadata_.emplace(metadata.keys[i], metadata.items[i].text);
        }
    }

    std::string source_;
    std::map<std::string, Entry> entries_;
    std::map<std::string, std::string> metadata_;
};

// A safetensors file, mapped read-only and validated on opening. Movable, not
// copyable; views into it stay valid while it lives.
//
// The mapping is a private base (not a member) so that it exists before the
// SafetensorsView base parses it.
class SafetensorsFile : private MappedFile, public SafetensorsView {
public:
    explicit SafetensorsFile(const std::string& path)
        : MappedFile(path), SafetensorsView(data(), size(), path) {}
};

// A tensor to write: raw little-endian row-major bytes with their dtype
// ("F32", "I64", or any other safetensors dtype).
struct NamedTensor {
    std::string name;
    std::vector<std::size_t> shape;
    std::string dtype;
    std::vector<unsigned char> bytes;
};

inline NamedTensor float32_tensor(std::string name, const Tensor& values) {
    NamedTensor tensor{std::move(name),
                       {values.shape().begin(), values.shape().end()},
                       "F32",
                       std::vector<unsigned char>(values.size() * sizeof(float))};
    if (!tensor.bytes.empty()) std::memcpy(tensor.bytes.data(), values.data(), tensor.bytes.size());
    return tensor;
}

inline NamedTensor int64_tensor(std::string name, std::vector<std::size_t> shape,
                                const std::vector<std::int64_t>& values) {
    const auto count = checked_product(shape);
    require(count && *count == values.size(), "int64 tensor " + io::quoted(name) + ": shape " +
                                                  shape_string(shape) + " does not hold " +
                                                  std::to_string(values.size()) + " values");
    NamedTensor tensor{std::move(name), std::move(shape), "I64",
                       std::vector<unsigned char>(values.size() * sizeof(std::int64_t))};
    if (!tensor.bytes.empty()) std::memcpy(tensor.bytes.data(), values.data(), tensor.bytes.size());
    return tensor;
}

// A 0-dimensional I64 tensor, like PyTorch's batch-norm num_batches_tracked.
inline NamedTensor int64_scalar(std::string name, std::int64_t value) {
    return int64_tensor(std::move(name), {}, {value});
}

// Writes `tensors` atomically. The header lists them sorted by name and is
// padded with spaces to a multiple of 8 bytes; the data is ordered by element
// size, largest first, so every tensor starts aligned to its element size, as
// the reference implementation does.
inline void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
    std::vector<const NamedTensor*> by_name;
    for (const auto& tensor : tensors) {
        const std::string described = path + ": tensor " + io::quoted(tensor.name);
        require(!tensor.name.empty() && tensor.name != "__metadata__", described + " has a reserved name");
        const std::size_t dtype_size = detail::safetensors_dtype_size(tensor.dtype);
        require(dtype_size != 0, described + " has unknown dtype " + io::quoted(tensor.dtype));
        const auto byte_count = checked_product(tensor.shape, dtype_size);
        require(byte_count && *byte_count == tensor.bytes.size(),
                described + " has " + std::to_string(tensor.bytes.size()) +
                    " bytes, which do not fit shape " + shape_string(tensor.shape) + " of " + tensor.dtype);
        // Weights full of NaN load without complaint into most tools and poison every later use.
        require(tensor.dtype != "F32" ||
                    all_finite(reinterpret_cast<const float*>(tensor.bytes.data()), tensor.bytes.size() / 4),
                described + " contains NaN or infinity; refusing to write it");
        by_name.push_back(&tensor);
    }
    std::sort(by_name.begin(), by_name.end(), [](auto a, auto b) { return a->name < b->name; });
    const auto repeated =
        std::adjacent_find(by_name.begin(), by_name.end(), [](auto a, auto b) { return a->name == b->name; });
    if (repeated != by_name.end())
        throw Error(path + ": tensor name " + io::quoted((*repeated)->name) + " appears twice");

    std::vector<const NamedTensor*> in_data_order = by_name;
    std::stable_sort(in_data_order.begin(), in_data_order.end(), [](auto a, auto b) {
        return detail::safetensors_dtype_size(a->dtype) > detail::safetensors_dtype_size(b->dtype);
    });
    std::map<const NamedTensor*, std::pair<std::size_t, std::size_t>> offsets;
    std::size_t data_size = 0;
    for (const auto* tensor : in_data_order) {
        offsets[tensor] = {data_size, data_size + tensor->bytes.size()};
        data_size += tensor->bytes.size();
    }

    Json members = Json::object();
    if (!metadata.empty()) {
        Json& fields = members["__metadata__"] = Json::object();
        for (const auto& [key, value] : metadata) fields[key] = value;
    }
    for (const auto* tensor : by_name) {
        const auto [begin, end] = offsets[tensor];
        members[tensor->name] = {{"dtype", tensor->dtype}, {"shape", tensor->shape}, {"data_offsets", {begin, end}}};
    }
    std::string header = json_line(members);
    header.append((8 - header.size() % 8) % 8, ' ');

    write_file_atomically(path, [&](std::ostream& out) {
        write_little_endian<std::uint64_t>(out, header.size());
        out.write(header.data(), static_cast<std::streamsize>(header.size()));
        for (const auto* tensor : in_data_order) {
            out.write(reinterpret_cast<const char*>(tensor->bytes.data()),
                      static_cast<std::streamsize>(tensor->bytes.size()));
        }
    });
}

}  // namespace bagnet::io
