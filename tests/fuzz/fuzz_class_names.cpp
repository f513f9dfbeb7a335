// libFuzzer target for class names. bagnet reads no class-name file: a data set's
// names are an image folder's sub-folder names (any bytes but '/' and NUL), or
// built in (Fashion-MNIST's, ImageNet's). The input is such a list of names,
// '/'-separated; data::ClassNames must name every class of a model with as many
// classes, more, or ImageNet's 1000, refuse any other index with a one-line
// bagnet::Error, and every name must be written as a JSON string with no raw control
// character and without an exception, whatever its bytes (reports and metrics files hold them).
// Build and run: see tests/fuzz/README.md.
#include <bagnet/data/class_names.hpp>
#include <bagnet/io/imagenet_classes.hpp>
#include <bagnet/io/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzzing.hpp"

namespace {

void check_json_string(const std::string& name) {
    const std::string json = bagnet::io::json_line(bagnet::io::Json(name));
    if (json.size() < 2 || json.front() != '"' || json.back() != '"') __builtin_trap();
    for (unsigned char c : json)
        if (c < 0x20) __builtin_trap();
}

void check_names(const bagnet::data::ClassNames& names, int classes) {
    for (int index = -1; index <= classes; ++index)
        bagnet::fuzzing::expect_result_or_error([&] {
            check_json_string(names.name(index));
            check_json_string(names.label(index));
            if (index < 0 || index == classes) __builtin_trap();  // out of range, yet named
        });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::string> names(1);
    for (std::size_t i = 0; i < size; ++i) {
        if (data[i] == '/') names.emplace_back();
        else if (data[i] != '\0') names.back() += char(data[i]);
    }
    const int count = int(names.size());
    check_names(bagnet::data::ClassNames(count, names), count);
    check_names(bagnet::data::ClassNames(count + 1, names), count + 1);
    const int imagenet = int(bagnet::io::imagenet_class_count);
    if (count <= imagenet) check_names(bagnet::data::ClassNames(imagenet, names), imagenet);
    return 0;
}
