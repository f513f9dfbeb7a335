#pragma once
// NumPy .npy arrays, the way images, logits and labels enter and leave the
// command line. The format: the magic "\x93NUMPY", a version byte pair, a
// little-endian header length (2 bytes in version 1.0, 4 in 2.0 and 3.0), a
// Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and a newline, then the raw data. The reader is written
// by hand (not xt::load_npy) so that every malformed file is reported as a
// bagnet::Error naming the file and the problem, and never read out of bounds.
#include <bagnet/error.hpp>
#include <bagnet/io/atomic_file.hpp>
#include <bagnet/io/literal_parser.hpp>
#include <bagnet/io/little_endian.hpp>
#include <bagnet/io/mapped_file.hpp>
#include <bagnet/io/validation.hpp>
#include <bagnet/tensor.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace bagnet::io {

namespace detail {

// An npy file's header, checked, and where its data lies.
struct NpyArray {
    std::string descr;  // numpy's dtype string, e.g. "<f4"
    std::vector<std::size_t> shape;
    const unsigned char* data = nullptr;
    std::size_t data_size = 0;
};

inline NpyArray read_npy(const unsigned char* bytes, std::size_t size, const std::string& source) {
    using Kind = literal::Value::Kind;
    static const char magic[] = "\x93NUMPY";
    constexpr std::size_t magic_size = sizeof(magic) - 1;
    require(size >= magic_size && std::memcmp(bytes, magic, magic_size) == 0,
            source + ": not an npy file (it does not start with \\x93NUMPY)");
    require(size >= magic_size + 2, source + ": npy file ends inside its version number");
    const unsigned major = bytes[magic_size];
    const unsigned minor = bytes[magic_size + 1];
    require(minor == 0 && major >= 1 && major <= 3, source + ": unsupported npy format version " +
                                                        std::to_string(major) + "." + std::to_string(minor));
    // Version 1.0 stores the header length in 2 bytes; 2.0 and 3.0 in 4.
    const std::size_t length_size = major == 1 ? 2 : 4;
    const std::size_t header_start = magic_size + 2 + length_size;
    require(size >= header_start, source + ": npy file ends inside its header length");
    const std::size_t header_size = major == 1 ? load_little_endian<std::uint16_t>(bytes + magic_size + 2)
                                               : load_little_endian<std::uint32_t>(bytes + magic_size + 2);
    require(header_size <= size - header_start,
            source + ": npy header length " + std::to_string(header_size) +
                " runs past the end of the file (" + std::to_string(size) + " bytes)");

    const auto header =
        literal::parse(literal::Syntax::python, reinterpret_cast<const char*>(bytes + header_start),
                       header_size, source + ": npy header is not a valid Python dict literal");
    require(header.kind == Kind::object, source + ": npy header is not a dict");
    const literal::Value* descr = nullptr;
    const literal::Value* fortran_order = nullptr;
    const literal::Value* shape = nullptr;
    for (std::size_t i = 0; i < header.keys.size(); ++i) {
        const auto& key = header.keys[i];
        if (key == "descr")
            descr = &header.items[i];
        else if (key == "fortran_order")
            fortran_order = &header.items[i];
        else if (key == "shape")
            shape = &header.items[i];
        else
            throw Error(source + ": npy header has unexpected key " + io::quoted(key));
    }
    require(descr && fortran_order && shape,
            source + ": npy header lacks one of 'descr', 'fortran_order', 'shape'");
    require(descr->kind != Kind::array, source + ": structured arrays (a list as 'descr') are not supported");
    require(descr->kind == Kind::string, source + ": npy header 'descr' is not a string");
    require(fortran_order->kind == Kind::boolean,
            source + ": npy header 'fortran_order' is not True or False");
    require(!fortran_order->boolean,
            source + ": Fortran-ordered arrays are not supported (save np.ascontiguousarray(x) instead)");
    require(shape->kind == Kind::tuple, source + ": npy header 'shape' is not a tuple");

    NpyArray array;
    array.descr = descr->text;
    for (const auto& dimension : shape->items) {
        require(dimension.kind == Kind::integer && dimension.integer >= 0,
                source + ": npy header 'shape' holds something other than non-negative integers");
        array.shape.push_back(static_cast<std::size_t>(dimension.integer));
    }
    array.data = bytes + header_start + header_size;
    array.data_size = size - header_start - header_size;
    return array;
}

// How an error message names a dtype string: "int64 ('<i8')".
inline std::string describe_npy_dtype(const std::string& descr) {
    static const std::map<std::string, std::string> names = {
        {"b1", "bool"},    {"i1", "int8"},    {"u1", "uint8"},     {"i2", "int16"},      {"u2", "uint16"},
        {"f2", "float16"}, {"i4", "int32"},   {"u4", "uint32"},    {"f4", "float32"},    {"i8", "int64"},
        {"u8", "uint64"},  {"f8", "float64"}, {"c8", "complex64"}, {"c16", "complex128"}};
    const auto found = descr.empty() ? names.end() : names.find(descr.substr(1));
    if (found == names.end()) return io::quoted(descr);
    return (descr[0] == '>' ? "big-endian " : "") + found->second + " (" + io::quoted(descr) + ")";
}

inline void require_npy_data_size(const NpyArray& array, std::size_t element_size,
                                  const std::string& source) {
    const auto needed = checked_product(array.shape, element_size);
    require(needed.has_value(), source + ": npy header shape " + shape_string(array.shape) + " of " +
                                    describe_npy_dtype(array.descr) +
                                    " cannot be addressed (its nonzero dimensions make more than 2^63 bytes)");
    require(*needed == array.data_size,
            source + ": holds " + std::to_string(array.data_size) + " bytes of data, but shape " +
                shape_string(array.shape) + " of " + describe_npy_dtype(array.descr) + " needs " +
                std::to_string(*needed));
}

}  // namespace detail

// A float32 ('<f4') array of any shape from npy bytes; `source` names them in errors.
inline Tensor parse_npy_float(const unsigned char* bytes, std::size_t size, const std::string& source) {
    const auto array = detail::read_npy(bytes, size, source);
    require(array.descr == "<f4",
            source + ": expected float32 data, found " + detail::describe_npy_dtype(array.descr));
    detail::require_npy_data_size(array, sizeof(float), source);
    Tensor result = Tensor::from_shape(array.shape);
    if (array.data_size > 0) std::memcpy(result.data(), array.data, array.data_size);
    return result;
}

// Labels: a 1-D int64 ('<i8') or int32 ('<i4') array from npy bytes.
inline std::vector<std::int64_t> parse_npy_int64(const unsigned char* bytes, std::size_t size,
                                                 const std::string& source) {
    const auto array = detail::read_npy(bytes, size, source);
    const bool wide = array.descr == "<i8";
    require(wide || array.descr == "<i4",
            source + ": expected int64 or int32 labels, found " + detail::describe_npy_dtype(array.descr));
    require(array.shape.size() == 1,
            source + ": expected a 1-D array of labels, found shape " + shape_string(array.shape));
    const std::size_t element_size = wide ? 8 : 4;
    detail::require_npy_data_size(array, element_size, source);
    std::vector<std::int64_t> labels(array.shape[0]);
    for (std::size_t i = 0; i < labels.size(); ++i) {
        labels[i] = wide ? load_little_endian<std::int64_t>(array.data + 8 * i)
                         : load_little_endian<std::int32_t>(array.data + 4 * i);
    }
    return labels;
}

inline Tensor load_npy_float(const std::string& path) {
    const MappedFile file(path);
    return parse_npy_float(file.data(), file.size(), path);
}

inline std::vector<std::int64_t> load_npy_int64(const std::string& path) {
    const MappedFile file(path);
    return parse_npy_int64(file.data(), file.size(), path);
}

// A float32 N x C x H x W npy file of images.
inline Tensor4 load_npy_images(const std::string& path) {
    const Tensor array = load_npy_float(path);
    require(array.dimension() == 4,
            path + ": expected a float32 N x C x H x W array, got shape " + shape_string(array.shape()));
    return Tensor4(array);
}

// Writes `values` as a float32 C-order npy file, atomically. Version 1.0 as
// numpy writes it (2.0 only when the header outgrows 65535 bytes), with the
// data aligned to 64 bytes so that numpy can map it.
inline void save_npy(const std::string& path, const Tensor& values) {
    require(all_finite(values.data(), values.size()),
            path + ": the array contains NaN or infinity; refusing to write it");
    std::string shape = "(";
    for (std::size_t axis = 0; axis < values.dimension(); ++axis) {
        shape += (axis == 0 ? "" : ", ") + std::to_string(values.shape()[axis]);
    }
    shape += values.dimension() == 1 ? ",)" : ")";
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
    const bool version_1 = header.size() + 64 <= 0xFFFF;
    const std::size_t preamble_size = version_1 ? 10 : 12;
    header.append((64 - (preamble_size + header.size() + 1) % 64) % 64, ' ');
    header += '\n';

    write_file_atomically(path, [&](std::ostream& out) {
        out.write("\x93NUMPY", 6);
        out.put(static_cast<char>(version_1 ? 1 : 2));
        out.put(0);
        if (version_1)
            write_little_endian<std::uint16_t>(out, static_cast<std::uint16_t>(header.size()));
        else
            write_little_endian<std::uint32_t>(out, static_cast<std::uint32_t>(header.size()));
        out.write(header.data(), static_cast<std::streamsize>(header.size()));
        out.write(reinterpret_cast<const char*>(values.data()),
                  static_cast<std::streamsize>(values.size() * sizeof(float)));
    });
}

}  // namespace bagnet::io
