// safetensors: bagnet's writer and reader agree with each other, with a file
// written by Python (tests/data/make_tiny_safetensors.py), and with the format's
// byte layout; every malformed file is a one-line bagnet::Error naming the file
// and the problem.
#include <bagnet/io/safetensors.hpp>

#include "error_matchers.hpp"
#include "test_files.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

namespace {

using bagnet::io::SafetensorsFile;
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

// The 8-byte little-endian length, written out byte by byte independently of the library.
std::string length_prefix(std::uint64_t length) {
    std::string prefix;
    for (int i = 0; i < 8; ++i) prefix += static_cast<char>((length >> (8 * i)) & 0xFF);
    return prefix;
}

std::string safetensors_bytes(const std::string& header, const std::string& data = "") {
    return length_prefix(header.size()) + header + data;
}

// A header describing one tensor `name` with the given JSON fragments.
std::string one_tensor(const std::string& name, const std::string& dtype, const std::string& shape,
                       const std::string& offsets) {
    return "{\"" + name + "\": {\"dtype\": " + dtype + ", \"shape\": " + shape +
           ", \"data_offsets\": " + offsets + "}}";
}

template <class T>
std::string raw(const std::vector<T>& values) {
    return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// Values and shapes as std::vectors, which Catch compares and prints (xtensor's own == confuses it).
std::vector<float> values_of(const bagnet::Tensor& tensor) { return {tensor.begin(), tensor.end()}; }
std::vector<std::size_t> shape_of(const bagnet::Tensor& tensor) {
    return {tensor.shape().begin(), tensor.shape().end()};
}

}  // namespace

TEST_CASE("safetensors round trip keeps names, shapes, dtypes, values and metadata", "[safetensors]") {
    using namespace bagnet::io;
    ScratchDirectory directory;
    const std::string path = directory.file("model.safetensors");
    const bagnet::Tensor weight = {{1.5f, -2.0f, 0.0f}, {3.25f, 1e-30f, -7e20f}};
    const bagnet::Tensor bias = {0.5f, -0.25f};
    const bagnet::Tensor scalar = 42.0f;
    const bagnet::Tensor empty = bagnet::Tensor::from_shape({0, 3});
    const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "quote \" and\nnewline"}};
    write_safetensors(
        path,
        {float32_tensor("fc.weight", weight), float32_tensor("fc.bias", bias),
         int64_scalar("bn1.num_batches_tracked", 12345678901), int64_tensor("step", {2}, {1, -2}),
         float32_tensor("scale", scalar), float32_tensor("empty", empty)},
        metadata);

    const SafetensorsFile file(path);
    CHECK(file.names() == std::vector<std::string>{"bn1.num_batches_tracked", "empty", "fc.bias", "fc.weight",
                                                   "scale", "step"});
    CHECK(file.metadata() == metadata);
    CHECK(file.dtype("fc.weight") == "F32");
    CHECK(file.dtype("step") == "I64");
    CHECK(file.shape("fc.weight") == std::vector<std::size_t>{2, 3});
    CHECK(file.shape("bn1.num_batches_tracked").empty());
    CHECK(file.shape("empty") == std::vector<std::size_t>{0, 3});
    CHECK(shape_of(file.load_float("fc.weight")) == shape_of(weight));
    CHECK(values_of(file.load_float("fc.weight")) == values_of(weight));
    CHECK(values_of(file.load_float("fc.bias")) == values_of(bias));
    CHECK(shape_of(file.load_float("scale")).empty());
    CHECK(values_of(file.load_float("scale")) == values_of(scalar));
    CHECK(shape_of(file.load_float("empty")) == std::vector<std::size_t>{0, 3});
    CHECK(file.load_int64("bn1.num_batches_tracked") == std::vector<std::int64_t>{12345678901});
    CHECK(file.load_int64("step") == std::vector<std::int64_t>{1, -2});
    CHECK(values_of(file.load_float("step")) == std::vector<float>{1.0f, -2.0f});
    CHECK(file.contains("fc.bias"));
    CHECK_FALSE(file.contains("fc"));

    // The layout the reference implementation writes: a header padded to 8 bytes, then the data with
    // the 8-byte tensors first (sorted by name), so every tensor is aligned to its element size.
    const std::string bytes = read_bytes(path);
    std::uint64_t header_length = 0;
    for (int i = 7; i >= 0; --i) header_length = header_length * 256 + static_cast<unsigned char>(bytes[i]);
    CHECK(header_length % 8 == 0);
    CHECK(bytes.at(8) == '{');
    CHECK(bytes.size() == 8 + header_length + 8 + 16 + 6 * 4 + 2 * 4 + 4);
    CHECK(bytes.substr(8 + header_length, 8) == raw(std::vector<std::int64_t>{12345678901}));
    CHECK(directory.entries() == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("safetensors reads the fixture written by Python with numpy", "[safetensors]") {
    const SafetensorsFile file(bagnet::testing::data_file("tiny.safetensors"));
    CHECK(file.metadata() ==
          std::map<std::string, std::string>{{"format", "pt"}, {"note", "made by make_tiny_safetensors.py"}});
    CHECK(file.names().size() == 8);

    const bagnet::Tensor expected_conv = {{-1.0f, -0.5f, 0.0f}, {0.5f, 1.0f, 1.5f}};
    CHECK(shape_of(file.load_float("conv.weight")) == std::vector<std::size_t>{2, 3});
    CHECK(values_of(file.load_float("conv.weight")) == values_of(expected_conv));
    CHECK(file.dtype("half") == "F16");
    CHECK(values_of(file.load_float("half")) ==
          std::vector<float>{1.0f, -2.5f, 65504.0f, std::ldexp(1.0f, -24)});
    CHECK(file.dtype("bfloat") == "BF16");
    CHECK(values_of(file.load_float("bfloat")) == std::vector<float>{1.0f, -3.0f, 0.15625f});
    CHECK(file.shape("double") == std::vector<std::size_t>{2, 2});
    CHECK(values_of(file.load_float("double")) ==
          std::vector<float>{static_cast<float>(0.1), -1e10f, 3.5f, static_cast<float>(1e-3)});
    CHECK(values_of(file.load_float("int32")) == std::vector<float>{-7.0f, 0.0f, 2147483648.0f});
    CHECK(file.load_int64("int32") == std::vector<std::int64_t>{-7, 0, 2147483647});
    CHECK(file.load_int64("bn.num_batches_tracked") == std::vector<std::int64_t>{12345678901});
    CHECK(file.load_float("bn.num_batches_tracked")() == static_cast<float>(12345678901));
    CHECK(file.shape("empty") == std::vector<std::size_t>{0, 4});
    CHECK(file.load_float("empty").size() == 0);
    CHECK(values_of(file.load_float("unicode.\xc3\xa9")) == std::vector<float>{7.0f});
}

TEST_CASE("safetensors converts the special values of F16 and BF16", "[safetensors]") {
    const std::vector<std::uint16_t> halves = {0x7C00, 0xFC00, 0x8000, 0x0200, 0x3555, 0x7E00};
    const std::vector<std::uint16_t> bfloats = {0x7F80, 0xC2F7, 0xFFC0};
    const std::string header =
        "{\"h\": {\"dtype\": \"F16\", \"shape\": [6], \"data_offsets\": [0, 12]}, "
        "\"b\": {\"dtype\": \"BF16\", \"shape\": [3], \"data_offsets\": [12, 18]}}";
    const std::string bytes = safetensors_bytes(header, raw(halves) + raw(bfloats));
    const bagnet::io::SafetensorsView view(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                                           "memory");

    const auto h = values_of(view.load_float("h"));
    CHECK(h[0] == std::numeric_limits<float>::infinity());
    CHECK(h[1] == -std::numeric_limits<float>::infinity());
    CHECK((h[2] == 0.0f && std::signbit(h[2])));
    CHECK(h[3] == std::ldexp(1.0f, -15));  // subnormal: 0x200 * 2^-24
    CHECK(h[4] == 0.333251953125f);        // 1 + 0x155/1024, times 2^-2
    CHECK(std::isnan(h[5]));
    const auto b = values_of(view.load_float("b"));
    CHECK(b[0] == std::numeric_limits<float>::infinity());
    CHECK(b[1] == -123.5f);
    CHECK(std::isnan(b[2]));
}

TEST_CASE("safetensors file handles move with their mapping", "[safetensors]") {
    const std::string path = bagnet::testing::data_file("tiny.safetensors");
    SafetensorsFile original(path);
    SafetensorsFile moved(std::move(original));
    CHECK(moved.load_int64("int32") == std::vector<std::int64_t>{-7, 0, 2147483647});
    SafetensorsFile assigned(path);
    assigned = std::move(moved);
    CHECK(assigned.load_int64("int32") == std::vector<std::int64_t>{-7, 0, 2147483647});
    CHECK(assigned.source() == path);
}

TEST_CASE("safetensors rejects each kind of malformed file with a message naming the problem",
          "[safetensors]") {
    ScratchDirectory directory;
    const std::string path = directory.file("weights.safetensors");
    const std::string deep = std::string(1000, '[') + std::string(1000, ']');
    struct Case {
        const char* what;
        std::string bytes;
        std::string problem;
    };
    const std::vector<Case> cases = {
        {"empty file", "", "0 bytes long, too short"},
        {"short file", std::string("\x10\0\0\0\0", 5), "5 bytes long, too short"},
        {"header past the end", length_prefix(1000) + "{}",
         "header length 1000 runs past the end of the file (10 bytes)"},
        {"huge header length", length_prefix(~std::uint64_t{0}) + "{}", "runs past the end of the file"},
        {"truncated JSON", safetensors_bytes("{\"w\": "),
         "header is not valid JSON: expected a value at its end (byte 6)"},
        {"empty header", safetensors_bytes(""),
         "header is not valid JSON: expected a value at its end (byte 0)"},
        {"not an object", safetensors_bytes("[1, 2]"), "header is not a JSON object"},
        {"text after the object", safetensors_bytes("{} x"), "unexpected text after the end"},
        {"entry not an object", safetensors_bytes("{\"w\": 5}"),
         "tensor 'w' is not described by a JSON object"},
        {"missing dtype",
         safetensors_bytes("{\"w\": {\"shape\": [], \"data_offsets\": [0, 4]}}", std::string(4, '\0')),
         "tensor 'w' has no 'dtype'"},
        {"missing shape",
         safetensors_bytes("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", std::string(4, '\0')),
         "tensor 'w' has no 'shape'"},
        {"missing offsets", safetensors_bytes("{\"w\": {\"dtype\": \"F32\", \"shape\": []}}"),
         "tensor 'w' has no 'data_offsets'"},
        {"dtype not a string",
         safetensors_bytes(one_tensor("w", "5", "[4]", "[0, 16]"), std::string(16, '\0')),
         "'dtype' that is not a string"},
        {"unknown dtype",
         safetensors_bytes(one_tensor("w", "\"F7\"", "[4]", "[0, 16]"), std::string(16, '\0')),
         "tensor 'w' has unknown dtype 'F7'"},
        {"shape not an array",
         safetensors_bytes(one_tensor("w", "\"F32\"", "\"2x2\"", "[0, 16]"), std::string(16, '\0')),
         "tensor 'w' has a 'shape' that is not an array of integers"},
        {"negative dimension",
         safetensors_bytes(one_tensor("w", "\"F32\"", "[2, -3]", "[0, 16]"), std::string(16, '\0')),
         "negative dimension in shape [2, -3]"},
        {"overflowing shape",
         safetensors_bytes(one_tensor("w", "\"F32\"", "[4294967296, 4294967296, 4294967296]", "[0, 16]"),
                           std::string(16, '\0')),
         "too many elements"},
        {"overflowing bytes",
         safetensors_bytes(one_tensor("w", "\"F64\"", "[4611686018427387904]", "[0, 16]"),
                           std::string(16, '\0')),
         "too many elements"},
        {"zero dimension before overflowing ones",
         safetensors_bytes(one_tensor("w", "\"F32\"", "[0, 3, 4, 4444444444440, 3, 4, 44444444444444, 44]", "[0, 0]"),
                           ""),
         "too many elements"},
        {"fractional dimension",
         safetensors_bytes(one_tensor("w", "\"F32\"", "[1.5]", "[0, 4]"), std::string(4, '\0')),
         "not an integer"},
        {"integer out of range",
         safetensors_bytes(one_tensor("w", "\"F32\"", "[99999999999999999999]", "[0, 4]")),
         "integer out of the 64-bit range"},
        {"offsets past the end",
         safetensors_bytes(one_tensor("fc.bias", "\"F32\"", "[1024]", "[0, 4096]"), std::string(4000, '\0')),
         "tensor 'fc.bias' data_offsets [0, 4096] run past the end of the data (4000 bytes)"},
        {"offsets reversed",
         safetensors_bytes(one_tensor("w", "\"F32\"", "[1]", "[8, 4]"), std::string(16, '\0')),
         "data_offsets [8, 4] begin after they end"},
        {"negative offsets",
         safetensors_bytes(one_tensor("w", "\"F32\"", "[1]", "[-4, 0]"), std::string(16, '\0')),
         "negative data_offsets [-4, 0]"},
        {"three offsets",
         safetensors_bytes(one_tensor("w", "\"F32\"", "[1]", "[0, 4, 8]"), std::string(16, '\0')),
         "data_offsets [0, 4, 8], expected [begin, end]"},
        {"size mismatch",
         safetensors_bytes(one_tensor("w", "\"F32\"", "[2, 2]", "[0, 12]"), std::string(16, '\0')),
         "data_offsets [0, 12] hold 12 bytes, but shape [2, 2] of F32 needs 16"},
        {"metadata not an object", safetensors_bytes("{\"__metadata__\": [1]}"),
         "'__metadata__' is not a JSON object"},
        {"metadata value not a string", safetensors_bytes("{\"__metadata__\": {\"epoch\": 3}}"),
         "'__metadata__' value of 'epoch' is not a string"},
        {"duplicate tensor", safetensors_bytes("{\"w\": {}, \"w\": {}}"), "duplicate key 'w'"},
        {"deep nesting", safetensors_bytes("{\"__metadata__\": " + deep + "}"),
         "nested deeper than 64 levels"},
        {"invalid escape", safetensors_bytes("{\"a\\q\": 1}"), "invalid escape '\\q'"},
        {"escaped raw newline", safetensors_bytes("{\"a\\\n\": 1}"), "invalid escape '\\\\x0a'"},
        {"lone surrogate", safetensors_bytes("{\"\\ud800\": 1}"), "unpaired high surrogate"},
        {"raw control character", safetensors_bytes("{\"a\tb\": 1}"), "control character inside a string"},
        {"leading zero", safetensors_bytes(one_tensor("w", "\"F32\"", "[01]", "[0, 4]")), "leading zero"},
        {"boolean", safetensors_bytes("{\"__metadata__\": true}"), "unexpected character 't'"},
        {"two tensors sharing bytes",
         safetensors_bytes("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
                           "\"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                           std::string(4, '\0')),
         "tensor 'b' overlaps another tensor's bytes"},
        {"a gap between tensors",
         safetensors_bytes("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
                           "\"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}",
                           std::string(12, '\0')),
         "tensor 'b' begins at 8, leaving data bytes 4 to 8 unused"},
        {"a gap before the first tensor",
         safetensors_bytes(one_tensor("w", "\"F32\"", "[1]", "[4, 8]"), std::string(8, '\0')),
         "tensor 'w' begins at 4, leaving data bytes 0 to 4 unused"},
        {"bytes after the last tensor",
         safetensors_bytes(one_tensor("w", "\"F32\"", "[1]", "[0, 4]"), std::string(12, '\0')),
         "8 bytes follow the last tensor's data"},
        {"bytes and no tensor", safetensors_bytes("{}", std::string(4, '\0')), "4 bytes follow"},
        {"non-UTF-8 header",
         safetensors_bytes(one_tensor("w\xff", "\"F32\"", "[1]", "[0, 4]"), std::string(4, '\0')),
         "header is not valid UTF-8"},
        {"overlong UTF-8", safetensors_bytes(one_tensor("w\xc0\xaf", "\"F32\"", "[1]", "[0, 4]"), std::string(4, '\0')),
         "header is not valid UTF-8"},
        {"name with a newline",
         safetensors_bytes(one_tensor("a\\nb", "\"F7\"", "[1]", "[0, 4]"), std::string(4, '\0')),
         "tensor 'a\\x0ab' has unknown dtype"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.what);
        write_bytes(path, c.bytes);
        REQUIRE_THROWS_WITH(SafetensorsFile(path), one_line_mentioning({path, c.problem}));
    }
}

TEST_CASE("a shape of 100,000 dimensions loads, and messages about it stay one short line", "[safetensors]") {
    ScratchDirectory directory;
    const std::string path = directory.file("deep.safetensors");
    std::string shape = "[1";
    for (int i = 1; i < 100000; ++i) shape += ",1";
    write_bytes(path, safetensors_bytes(one_tensor("w", "\"F32\"", shape + "]", "[0, 4]"), std::string(4, '\0')));
    const SafetensorsFile file(path);
    REQUIRE(file.shape("w").size() == 100000);
    const std::string text = bagnet::shape_string(file.shape("w"));
    CHECK(text == "[1, 1, 1, 1, 1, 1, 1, 1, ... (100000 dimensions)]");
    std::string negative = shape + ",-1]";
    write_bytes(path, safetensors_bytes(one_tensor("w", "\"F32\"", negative, "[0, 4]"), std::string(4, '\0')));
    try {
        SafetensorsFile{path};
        FAIL("a negative dimension was accepted");
    } catch (const bagnet::Error& e) {
        CHECK_THAT(e.what(), one_line_mentioning({path, "negative dimension", "(100001 dimensions)"}));
        CHECK(std::string(e.what()).size() < 300);
    }
}

TEST_CASE("safetensors reports missing files, directories and unknown or unconvertible tensors",
          "[safetensors]") {
    ScratchDirectory directory;
    const std::string missing = directory.file("missing.safetensors");
    REQUIRE_THROWS_WITH(SafetensorsFile(missing),
                        one_line_mentioning({missing, "cannot open: No such file or directory"}));
    REQUIRE_THROWS_WITH(SafetensorsFile(directory.file(".")), Contains("is a directory"));

    const std::string path = directory.file("bytes.safetensors");
    write_bytes(path,
                safetensors_bytes(one_tensor("mask", "\"U8\"", "[2]", "[0, 2]"), std::string("\x01\x00", 2)));
    const SafetensorsFile file(path);
    CHECK(file.dtype("mask") == "U8");
    REQUIRE_THROWS_WITH(file.load_float("nope"), one_line_mentioning({path, "no tensor named 'nope'"}));
    REQUIRE_THROWS_WITH(file.shape("nope"), Contains("no tensor named 'nope'"));
    REQUIRE_THROWS_WITH(file.load_float("mask"),
                        one_line_mentioning({path, "tensor 'mask' has dtype U8, which cannot be converted"}));
    REQUIRE_THROWS_WITH(file.load_int64("mask"), Contains("not an integer type"));
}

TEST_CASE("write_safetensors refuses inconsistent tensors and writes nothing", "[safetensors]") {
    using namespace bagnet::io;
    ScratchDirectory directory;
    const std::string path = directory.file("out.safetensors");
    const NamedTensor short_bytes{"w", {2, 2}, "F32", std::vector<unsigned char>(12)};
    REQUIRE_THROWS_WITH(
        write_safetensors(path, {short_bytes}),
        one_line_mentioning({path, "tensor 'w' has 12 bytes, which do not fit shape [2, 2] of F32"}));
    const NamedTensor odd_dtype{"w", {1}, "F33", std::vector<unsigned char>(4)};
    REQUIRE_THROWS_WITH(write_safetensors(path, {odd_dtype}), Contains("unknown dtype 'F33'"));
    const auto one = float32_tensor("w", bagnet::Tensor{1.0f});
    REQUIRE_THROWS_WITH(write_safetensors(path, {one, one}), Contains("tensor name 'w' appears twice"));
    REQUIRE_THROWS_WITH(write_safetensors(path, {float32_tensor("__metadata__", bagnet::Tensor{1.0f})}),
                        Contains("reserved name"));
    REQUIRE_THROWS_WITH(int64_tensor("n", {3}, {1, 2}), Contains("shape [3] does not hold 2 values"));
    const auto poisoned = float32_tensor("layer1.0.bn1.weight", bagnet::Tensor{1.0f, std::nanf(""), 2.0f});
    REQUIRE_THROWS_WITH(write_safetensors(path, {one, poisoned}),
                        one_line_mentioning({path, "tensor 'layer1.0.bn1.weight' contains NaN or infinity"}));
    const auto infinite = float32_tensor("w", bagnet::Tensor{std::numeric_limits<float>::infinity()});
    REQUIRE_THROWS_WITH(write_safetensors(path, {infinite}), Contains("contains NaN or infinity"));
    CHECK(directory.entries().empty());

    const std::string nowhere = directory.file("no/such/directory/out.safetensors");
    REQUIRE_THROWS_WITH(write_safetensors(nowhere, {one}),
                        one_line_mentioning({nowhere, "cannot create a temporary file"}));
}
