#pragma once
// The two patch defenses and their settings, as small value types with chained setters:
//
//   bagnet::MaskingOptions().threshold(0.2).clip(5)   // robust masking (PatchGuard)
//   bagnet::ClippingOptions()                          // Clipped BagNet: tanh(0.05 L - 1)
//   bagnet::ClippingOptions().clip(2)                  // ... or clip(L, 0, 2)
//
// A Defense is either; validate() throws bagnet::Error naming a bad setting, and
// defense_by_name makes one from the names and settings a front end takes.
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <variant>

#include "bagnet/error.hpp"

namespace bagnet {

namespace detail {
inline std::string setting(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.9g", value);
    return text;
}

inline void require_positive_clip(double clip) {
    require(clip > 0, "the clip value must be positive, got " + setting(clip));  // NaN fails too
}
}  // namespace detail

// Robust masking: evidence u = clip(L, 0, C); a class whose best window holds more than
// T of its total loses that window.
struct MaskingOptions {
    double threshold_ = 0;                                     // T in [0, 1)
    double clip_ = std::numeric_limits<double>::infinity();  // C > 0; infinity: no ceiling

    MaskingOptions& threshold(double value) {
        threshold_ = value;
        return *this;
    }
    MaskingOptions& clip(double value) {
        clip_ = value;
        return *this;
    }
    void validate() const {
        require(threshold_ >= 0 && threshold_ < 1,
                "the masking threshold must be in [0, 1), got " + detail::setting(threshold_));
        detail::require_positive_clip(clip_);
    }
};

// Clipped BagNet: evidence u = tanh(0.05 L - 1), or clip(L, 0, C) when a clip value is set;
// the prediction is the class with the largest mean evidence.
struct ClippingOptions {
    double clip_ = std::numeric_limits<double>::infinity();  // infinity: tanh

    ClippingOptions& clip(double value) {
        clip_ = value;
        return *this;
    }
    bool uses_tanh() const { return std::isinf(clip_); }
    void validate() const { detail::require_positive_clip(clip_); }
};

using Defense = std::variant<MaskingOptions, ClippingOptions>;

inline std::string defense_name(const Defense& defense) {
    return std::holds_alternative<MaskingOptions>(defense) ? "masking" : "clipping";
}

inline void validate(const Defense& defense) {
    std::visit([](const auto& options) { options.validate(); }, defense);
}

// The defense called `name` ("masking" or "clipping", as defense_name says) with a masking
// threshold T (unset: 0; refused for clipping, which has none) and an evidence ceiling
// `clip` (infinity: none, i.e. tanh for clipping); validated.
inline Defense defense_by_name(const std::string& name, std::optional<double> threshold = std::nullopt,
                               double clip = std::numeric_limits<double>::infinity()) {
    Defense defense = MaskingOptions().threshold(threshold.value_or(0)).clip(clip);
    if (name == "clipping") {
        require(!threshold, "a threshold applies to the masking defense only, not to clipping");
        defense = ClippingOptions().clip(clip);
    } else {
        require(name == "masking", "unknown defense '" + name + "' (expected masking or clipping)");
    }
    validate(defense);
    return defense;
}

}  // namespace bagnet
