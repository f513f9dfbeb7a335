// npy: bagnet reads what numpy writes (tests/data/make_npy_fixtures.py), writes
// what numpy reads, and reports every malformed file as a one-line
// bagnet::Error naming the file and the problem.
#include <bagnet/io/npy.hpp>

#include "error_matchers.hpp"
#include "test_files.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using bagnet::testing::data_file;
using bagnet::testing::one_line_mentioning;
using bagnet::testing::ScratchDirectory;
using Catch::Contains;

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// An npy file assembled by hand: magic, version, little-endian header length, header, data.
std::string npy_bytes(const std::string& header, const std::string& data = "", int major = 1) {
    std::string bytes = std::string("\x93NUMPY") + static_cast<char>(major) + '\0';
    const int length_size = major == 1 ? 2 : 4;
    for (int i = 0; i < length_size; ++i) bytes += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
    return bytes + header + data;
}

std::string float32_header(const std::string& shape) {
    return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }\n";
}

// Values and shapes as std::vectors, which Catch compares and prints (xtensor's own == confuses it).
std::vector<float> values_of(const bagnet::Tensor& tensor) { return {tensor.begin(), tensor.end()}; }
std::vector<std::size_t> shape_of(const bagnet::Tensor& tensor) {
    return {tensor.shape().begin(), tensor.shape().end()};
}

}  // namespace

TEST_CASE("npy round trip keeps shape and values", "[npy]") {
    ScratchDirectory directory;
    const std::string path = directory.file("x.npy");
    const std::vector<bagnet::Tensor> arrays = {
        bagnet::Tensor{{{1.5f, -2.0f}, {0.0f, 1e-30f}}, {{3e38f, -0.0f}, {7.0f, 8.0f}}},
        bagnet::Tensor(2.5f),
        bagnet::Tensor{1.0f, 2.0f, 3.0f},
        bagnet::Tensor::from_shape({0, 5}),
    };
    for (const auto& array : arrays) {
        CAPTURE(bagnet::shape_string(array.shape()));
        bagnet::io::save_npy(path, array);
        const bagnet::Tensor loaded = bagnet::io::load_npy_float(path);
        CHECK(shape_of(loaded) == shape_of(array));
        CHECK(values_of(loaded) == values_of(array));
    }
    CHECK(directory.entries() == std::vector<std::string>{"x.npy"});
}

TEST_CASE("npy reads the arrays numpy wrote", "[npy]") {
    using bagnet::io::load_npy_float;
    using bagnet::io::load_npy_int64;
    const bagnet::Tensor grid = load_npy_float(data_file("float32_2x3x4.npy"));
    REQUIRE(shape_of(grid) == std::vector<std::size_t>{2, 3, 4});
    for (std::size_t i = 0; i < grid.size(); ++i) CHECK(grid.data()[i] == static_cast<float>(i) / 4 - 2);

    const bagnet::Tensor scalar = load_npy_float(data_file("float32_scalar.npy"));
    CHECK(shape_of(scalar).empty());
    CHECK(scalar() == 2.5f);
    CHECK(values_of(load_npy_float(data_file("float32_v2.npy"))) == std::vector<float>{0.25f, -8.0f, 1e30f});

    const std::vector<std::int64_t> labels = {3, 1, 4, 1, 5, 9, 2, 6};
    CHECK(load_npy_int64(data_file("labels_int64.npy")) == labels);
    CHECK(load_npy_int64(data_file("labels_int32.npy")) == labels);
}

TEST_CASE("npy writes what numpy writes", "[npy]") {
    ScratchDirectory directory;
    const std::string path = directory.file("grid.npy");
    bagnet::io::save_npy(path, bagnet::io::load_npy_float(data_file("float32_2x3x4.npy")));
    const std::string ours = read_bytes(path);
    const std::string numpys = read_bytes(data_file("float32_2x3x4.npy"));

    // Version 1.0 with the dict numpy writes; the data starts on a 64-byte boundary.
    REQUIRE(ours.size() > 10);
    CHECK(ours.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
    const std::size_t header_length = static_cast<unsigned char>(ours[8]) +
                                      256 * static_cast<std::size_t>(static_cast<unsigned char>(ours[9]));
    CHECK((10 + header_length) % 64 == 0);
    const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }";
    CHECK(ours.substr(10, dict.size()) == dict);
    CHECK(ours[10 + header_length - 1] == '\n');
    const std::size_t data_size = 24 * sizeof(float);
    REQUIRE(ours.size() == 10 + header_length + data_size);
    CHECK(ours.substr(ours.size() - data_size) == numpys.substr(numpys.size() - data_size));

    bagnet::io::save_npy(path, bagnet::Tensor{1.0f, 2.0f});
    CHECK(Contains("'shape': (2,), }").match(read_bytes(path)));
    bagnet::io::save_npy(path, bagnet::Tensor(1.0f));
    CHECK(Contains("'shape': (), }").match(read_bytes(path)));
}

TEST_CASE("npy names the dtype or layout it cannot use", "[npy]") {
    using bagnet::io::load_npy_float;
    using bagnet::io::load_npy_int64;
    const std::string float64 = data_file("float64.npy");
    REQUIRE_THROWS_WITH(load_npy_float(float64),
                        one_line_mentioning({float64, "expected float32 data, found float64 ('<f8')"}));
    const std::string int64 = data_file("int64_2x2.npy");
    REQUIRE_THROWS_WITH(load_npy_float(int64),
                        one_line_mentioning({int64, "expected float32 data, found int64 ('<i8')"}));
    REQUIRE_THROWS_WITH(load_npy_int64(int64),
                        one_line_mentioning({int64, "expected a 1-D array of labels, found shape [2, 2]"}));
    const std::string big_endian = data_file("big_endian.npy");
    REQUIRE_THROWS_WITH(load_npy_float(big_endian), Contains("found big-endian float32 ('>f4')"));
    const std::string fortran = data_file("fortran.npy");
    REQUIRE_THROWS_WITH(load_npy_float(fortran),
                        one_line_mentioning({fortran, "Fortran-ordered arrays are not supported"}));
    const std::string grid = data_file("float32_2x3x4.npy");
    REQUIRE_THROWS_WITH(load_npy_int64(grid),
                        one_line_mentioning({grid, "expected int64 or int32 labels, found float32 ('<f4')"}));
}

TEST_CASE("npy rejects each kind of malformed file with a message naming the problem", "[npy]") {
    ScratchDirectory directory;
    const std::string path = directory.file("X.npy");
    const std::string four_floats(16, '\0');
    struct Case {
        const char* what;
        std::string bytes;
        std::string problem;
    };
    const std::vector<Case> cases = {
        {"empty file", "", "not an npy file"},
        {"wrong magic", "\x93NUMPX\x01\x00\x00\x00", "not an npy file"},
        {"no version", "\x93NUMPY", "ends inside its version number"},
        {"no header length", std::string("\x93NUMPY\x01\x00\x05", 9), "ends inside its header length"},
        {"version 4.0", npy_bytes(float32_header("(4,)"), four_floats, 4),
         "unsupported npy format version 4.0"},
        {"header past the end", std::string("\x93NUMPY\x01\x00\xff\x00{}", 12),
         "npy header length 255 runs past the end"},
        {"version 2 header past the end", std::string("\x93NUMPY\x02\x00\x00\x00\x01\x00{}", 14),
         "npy header length 65536 runs past the end"},
        {"not a dict", npy_bytes("[1, 2]\n"), "npy header is not a dict"},
        {"truncated dict", npy_bytes("{'descr': '<f4', "),
         "not a valid Python dict literal: expected a string as dict key at its end"},
        {"unterminated string", npy_bytes("{'descr: 1}"), "unterminated string"},
        {"missing shape", npy_bytes("{'descr': '<f4', 'fortran_order': False}"),
         "lacks one of 'descr', 'fortran_order', 'shape'"},
        {"unexpected key", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'extra': 1}"),
         "unexpected key 'extra'"},
        {"duplicate key", npy_bytes("{'descr': '<f4', 'descr': '<f4'}"), "duplicate key 'descr'"},
        {"structured dtype", npy_bytes("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,)}"),
         "structured arrays"},
        {"descr not a string", npy_bytes("{'descr': 4, 'fortran_order': False, 'shape': (1,)}"),
         "'descr' is not a string"},
        {"fortran_order not a bool", npy_bytes("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}"),
         "'fortran_order' is not True or False"},
        {"shape a list", npy_bytes(float32_header("[4]"), four_floats), "'shape' is not a tuple"},
        {"shape a parenthesized integer", npy_bytes(float32_header("(4)"), four_floats),
         "'shape' is not a tuple"},
        {"negative dimension", npy_bytes(float32_header("(-4,)"), four_floats),
         "other than non-negative integers"},
        {"dimension not an integer", npy_bytes(float32_header("('4',)"), four_floats),
         "other than non-negative integers"},
        {"too little data", npy_bytes(float32_header("(3,)"), std::string(8, '\0')),
         "holds 8 bytes of data, but shape [3] of float32 ('<f4') needs 12"},
        {"too much data", npy_bytes(float32_header("(3,)"), four_floats),
         "holds 16 bytes of data, but shape [3]"},
        {"overflowing shape", npy_bytes(float32_header("(4294967296, 4294967296)"), four_floats),
         "cannot be addressed"},
        {"overflowing bytes", npy_bytes(float32_header("(2305843009213693952,)"), four_floats),
         "more than 2^63 bytes"},
        // Zero elements, but the other dimensions' strides overflow (found by tests/fuzz/fuzz_npy.cpp).
        {"zero dimension before overflowing ones",
         npy_bytes(float32_header("(0, 3, 4, 4444444444440, 3, 4, 44444444444444, 44)")), "cannot be addressed"},
        {"integer out of range", npy_bytes(float32_header("(99999999999999999999,)")),
         "integer out of the 64-bit range"},
        {"deep nesting", npy_bytes("{'shape': " + std::string(100, '(') + std::string(100, ')') + "}"),
         "nested deeper than 32 levels"},
        {"text after the dict", npy_bytes(float32_header("(4,)") + "x", four_floats),
         "unexpected text after the end"},
        {"unknown word", npy_bytes("{'descr': true}"), "unexpected character 't'"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.what);
        write_bytes(path, c.bytes);
        REQUIRE_THROWS_WITH(bagnet::io::load_npy_float(path), one_line_mentioning({path, c.problem}));
    }
}

TEST_CASE("an npy header whose zero dimension hides overflowing strides is refused", "[npy][fuzz]") {
    // The 128-byte file tests/fuzz/fuzz_npy.cpp found (tests/fuzz/corpus/npy/zero_dimension_overflow.npy):
    // its element count is 0, so it used to pass the size checks and overflow xtensor's strides.
    const std::string bytes =
        npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3, 4, 4444444444440, 3, 4, 44444444444444, "
                  "44), }" + std::string(14, ' ') + "\n");
    REQUIRE(bytes.size() == 128);
    const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
    REQUIRE_THROWS_WITH(bagnet::io::parse_npy_float(data, bytes.size(), "z.npy"),
                        one_line_mentioning({"z.npy", "cannot be addressed"}));
    // An empty array whose other dimensions are addressable still loads.
    const std::string empty = npy_bytes(float32_header("(0, 3, 4)"));
    const auto loaded = bagnet::io::parse_npy_float(reinterpret_cast<const unsigned char*>(empty.data()),
                                                    empty.size(), "e.npy");
    CHECK(shape_of(loaded) == std::vector<std::size_t>{0, 3, 4});
}

TEST_CASE("npy messages about a 100,000-dimension shape stay one short line", "[npy]") {
    ScratchDirectory directory;
    const std::string path = directory.file("deep.npy");
    std::string shape = "(1";
    for (int i = 1; i < 100000; ++i) shape += ", 1";
    write_bytes(path, npy_bytes(float32_header(shape + ")"), "", 2));
    try {
        bagnet::io::load_npy_float(path);
        FAIL("an npy file without its data was accepted");
    } catch (const bagnet::Error& e) {
        CHECK_THAT(e.what(), one_line_mentioning({path, "holds 0 bytes", "... (100000 dimensions)]"}));
        CHECK(std::string(e.what()).size() < 300);
    }
}

TEST_CASE("npy refuses to write NaN or infinity", "[npy]") {
    ScratchDirectory directory;
    const std::string path = directory.file("out.npy");
    REQUIRE_THROWS_WITH(bagnet::io::save_npy(path, bagnet::Tensor{1.0f, std::nanf("")}),
                        one_line_mentioning({path, "NaN or infinity"}));
    CHECK(directory.entries().empty());
}

TEST_CASE("npy reports missing files, directories and unwritable paths", "[npy]") {
    ScratchDirectory directory;
    const std::string missing = directory.file("missing.npy");
    REQUIRE_THROWS_WITH(bagnet::io::load_npy_float(missing),
                        one_line_mentioning({missing, "cannot open: No such file or directory"}));
    REQUIRE_THROWS_WITH(bagnet::io::load_npy_int64(directory.file(".")),
                        Contains("is a directory, not a file"));
    const std::string nowhere = directory.file("absent/out.npy");
    REQUIRE_THROWS_WITH(bagnet::io::save_npy(nowhere, bagnet::Tensor{1.0f}),
                        one_line_mentioning({nowhere, "cannot create a temporary file"}));
}
