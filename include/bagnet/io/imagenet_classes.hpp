#pragma once
// The 1000 ImageNet category names, in the order of the published models'
// logits ("tench" is class 0). The list is generated from torchvision by
// tools/make_class_names.py into imagenet_class_names.inc.
#include <bagnet/error.hpp>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace bagnet::io {

inline constexpr std::size_t imagenet_class_count = 1000;

namespace detail {

inline constexpr std::array<const char*, imagenet_class_count> imagenet_class_table{{
#include "imagenet_class_names.inc"
}};

// Too many names fail to compile; too few would leave null entries at the end.
static_assert(
    imagenet_class_table.back() != nullptr,
    "imagenet_class_names.inc has fewer than 1000 names: regenerate it with tools/make_class_names.py");

}  // namespace detail

inline const std::array<const char*, imagenet_class_count>& imagenet_class_names() {
    return detail::imagenet_class_table;
}

// The name of class index; an index outside [0, 1000) is an Error.
inline std::string_view imagenet_class_name(int index) {
    require(index >= 0 && static_cast<std::size_t>(index) < imagenet_class_count,
            "ImageNet class index " + std::to_string(index) + " is out of range [0, " +
                std::to_string(imagenet_class_count) + ")");
    return detail::imagenet_class_table[static_cast<std::size_t>(index)];
}

}  // namespace bagnet::io
