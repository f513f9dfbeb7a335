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
#include <bagnet/io/little_endian.hpp>
#include <bagnet/io/mapped_file.hpp>
#include <bagnet/io/validation.hpp>
#include <bagnet/tensor.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace bagnet::io {

namespace detail::python {

// A value of the Python literal subset npy headers use: dicts, tuples and
// lists, strings, integers, True, False and None.
struct Value {
    enum class Kind { dict, tuple, list, string, integer, boolean, none };
    Kind kind = Kind::none;
    std::int64_t integer = 0;
    bool boolean = false;
    std::string text;               // a string's characters
    std::vector<std::string> keys;  // a dict's keys, in file order
    std::vector<Value> items;       // a tuple's or list's elements, or the values belonging to `keys`
};

class Parser {
public:
    // `source` names the file in error messages.
    Parser(const char* text, std::size_t size, const std::string& source)
        : text_(text), size_(size), source_(source) {}

    Value parse_document() {
        Value document = parse_value(0);
        skip_whitespace();
        if (position_ != size_) fail("unexpected text after the end of the dict");
        return document;
    }

private:
    // Deeply nested input would otherwise overflow the stack of this recursive parser.
    static constexpr int max_depth = 32;

    Value parse_value(int depth) {
        if (depth > max_depth) fail("nested deeper than " + std::to_string(max_depth) + " levels");
        skip_whitespace();
        if (position_ == size_) fail("expected a value");
        const char next = text_[position_];
        if (next == '{') return parse_dict(depth);
        if (next == '(') return parse_sequence(depth, Value::Kind::tuple, ')');
        if (next == '[') return parse_sequence(depth, Value::Kind::list, ']');
        Value value;
        if (next == '\'' || next == '"') {
            value.kind = Value::Kind::string;
            value.text = parse_string();
        } else if (next == '-' || is_digit(next)) {
            value.kind = Value::Kind::integer;
            value.integer = parse_integer();
        } else if (consume_word("True")) {
            value.kind = Value::Kind::boolean;
            value.boolean = true;
        } else if (consume_word("False")) {
            value.kind = Value::Kind::boolean;
        } else if (consume_word("None")) {
            value.kind = Value::Kind::none;
        } else {
            fail("unexpected character " + io::quoted(std::string(1, next)));
        }
        return value;
    }

    Value parse_dict(int depth) {
        Value dict;
        dict.kind = Value::Kind::dict;
        std::set<std::string> seen;
        ++position_;  // '{'
        while (true) {
            skip_whitespace();
            if (consume('}')) return dict;
            if (position_ == size_ || (text_[position_] != '\'' && text_[position_] != '"')) {
                fail("expected a string as dict key");
            }
            std::string key = parse_string();
            if (!seen.insert(key).second) fail("duplicate key " + io::quoted(key));
            skip_whitespace();
            if (!consume(':')) fail("expected ':' after key " + io::quoted(key));
            dict.items.push_back(parse_value(depth + 1));
            dict.keys.push_back(std::move(key));
            skip_whitespace();
            if (!consume(',')) {
                if (!consume('}')) fail("expected ',' or '}' in a dict");
                return dict;
            }
        }
    }

    // A tuple or list; Python's trailing comma is allowed, and "(x)" without
    // one is just x in parentheses, not a tuple.
    Value parse_sequence(int depth, Value::Kind kind, char closing) {
        Value sequence;
        sequence.kind = kind;
        ++position_;  // opening bracket
        bool saw_comma = false;
        while (true) {
            skip_whitespace();
            if (consume(closing)) break;
            sequence.items.push_back(parse_value(depth + 1));
            skip_whitespace();
            if (consume(',')) {
                saw_comma = true;
                continue;
            }
            if (!consume(closing)) fail(std::string("expected ',' or '") + closing + "'");
            break;
        }
        if (kind == Value::Kind::tuple && sequence.items.size() == 1 && !saw_comma)
            return sequence.items.front();
        return sequence;
    }

    std::string parse_string() {
        const char quote = text_[position_++];
        std::string text;
        while (true) {
            if (position_ == size_ || text_[position_] == '\n') fail("unterminated string");
            const char c = text_[position_++];
            if (c == quote) return text;
            if (c == '\\') {
                if (position_ == size_) fail("unterminated string");
                const char escaped = text_[position_++];
                if (escaped != '\\' && escaped != '\'' && escaped != '"')
                    fail("unsupported escape in a string");
                text += escaped;
            } else {
                text += c;
            }
        }
    }

    std::int64_t parse_integer() {
        const bool negative = consume('-');
        if (position_ == size_ || !is_digit(text_[position_])) fail("expected a digit");
        // The magnitude may reach 2^63 only when negative (INT64_MIN).
        const std::uint64_t limit = static_cast<std::uint64_t>(INT64_MAX) + (negative ? 1 : 0);
        std::uint64_t magnitude = 0;
        while (position_ < size_ && is_digit(text_[position_])) {
            const auto digit = static_cast<std::uint64_t>(text_[position_++] - '0');
            if (magnitude > (limit - digit) / 10) fail("integer out of the 64-bit range");
            magnitude = magnitude * 10 + digit;
        }
        if (!negative) return static_cast<std::int64_t>(magnitude);
        return magnitude == 0 ? 0 : -static_cast<std::int64_t>(magnitude - 1) - 1;
    }

    bool consume_word(const char* word) {
        const std::size_t length = std::strlen(word);
        if (size_ - position_ < length || std::memcmp(text_ + position_, word, length) != 0) return false;
        position_ += length;
        return true;
    }

    void skip_whitespace() {
        while (position_ < size_ && (text_[position_] == ' ' || text_[position_] == '\t' ||
                                     text_[position_] == '\n' || text_[position_] == '\r')) {
            ++position_;
        }
    }

    bool consume(char expected) {
        if (position_ == size_ || text_[position_] != expected) return false;
        ++position_;
        return true;
    }

    static bool is_digit(char c) { return c >= '0' && c <= '9'; }

    [[noreturn]] void fail(const std::string& problem) const {
        const std::string where =
            position_ == size_ ? "at its end (byte " + std::to_string(size_) + ")"
                               : "at byte " + std::to_string(position_) + " of " + std::to_string(size_);
        throw Error(source_ + ": npy header is not a valid Python dict literal: " + problem + " " + where);
    }

    const char* text_;
    std::size_t size_;
    const std::string& source_;
    std::size_t position_ = 0;
};

}  // namespace detail::python

namespace detail {

// An npy file's header, checked, and where its data lies.
struct NpyArray {
    std::string descr;  // numpy's dtype string, e.g. "<f4"
    std::vector<std::size_t> shape;
    const unsigned char* data = nullptr;
    std::size_t data_size = 0;
};

inline NpyArray read_npy(const unsigned char* bytes, std::size_t size, const std::string& source) {
    using Kind = python::Value::Kind;
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
        python::Parser(reinterpret_cast<const char*>(bytes + header_start), header_size, source)
            .parse_document();
    require(header.kind == Kind::dict, source + ": npy header is not a dict");
    const python::Value* descr = nullptr;
    const python::Value* fortran_order = nullptr;
    const python::Value* shape = nullptr;
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
    require(descr->kind != Kind::list, source + ": structured arrays (a list as 'descr') are not supported");
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
    require(needed && *needed == array.data_size,
            source + ": holds " + std::to_string(array.data_size) + " bytes of data, but shape " +
                shape_string(array.shape) + " of " + describe_npy_dtype(array.descr) + " needs " +
                (needed ? std::to_string(*needed) : "more than 2^64"));
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

// Writes `values` as a float32 C-order npy file, atomically. Version 1.0 as
// numpy writes it (2.0 only when the header outgrows 65535 bytes), with the
// data aligned to 64 bytes so that numpy can map it.
inline void save_npy(const std::string& path, const Tensor& values) {
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
