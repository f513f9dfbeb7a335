#pragma once
// Definitions for parameters.hpp, which includes this file when header-only; bagnet::compiled
// compiles them once (bagnet/instances.hpp). Included nowhere else.
#include <cmath>
#include <random>
#include <utility>

#include "bagnet/io/safetensors.hpp"

namespace bagnet {

BAGNET_INLINE Parameters Parameters::initial(const Architecture& arch, std::uint64_t seed) {
    Parameters params;
    std::mt19937_64 rng(seed);
    for (const auto& slot : parameter_slots(arch)) {
        Tensor value = xt::zeros<float>(slot.shape);
        switch (slot.initial) {
        case Initial::he_normal: {
            std::normal_distribution<float> normal(0.f, float(std::sqrt(2.0 / double(slot.fan_in))));
            for (auto& v : value) v = normal(rng);
            break;
        }
        case Initial::uniform_fan_in: {
            const float bound = float(1.0 / std::sqrt(double(slot.fan_in)));
            std::uniform_real_distribution<float> uniform(-bound, bound);
            for (auto& v : value) v = uniform(rng);
            break;
        }
        case Initial::ones: value.fill(1.f); break;
        case Initial::zeros: break;
        }
        params.tensors_.emplace(slot.key, std::move(value));
    }
    return params;
}

BAGNET_INLINE Parameters Parameters::load(const Architecture& arch, const std::string& path) {
    io::SafetensorsFile file(path);
    const auto slots = parameter_slots(arch);
    std::vector<std::string> missing;
    for (const auto& slot : slots)
        if (!file.contains(slot.key)) missing.push_back(slot.key);
    std::vector<std::string> unexpected;
    for (const auto& name : file.names()) {
        bool known = false;
        for (const auto& slot : slots) known = known || slot.key == name;
        if (!known) unexpected.push_back(name);
    }
    if (!missing.empty() || !unexpected.empty()) {
        std::string message = path + ": does not match " + arch.name + ":";
        if (!missing.empty()) message += " missing " + std::to_string(missing.size()) + " keys (" + summary(missing) + ")";
        if (!unexpected.empty()) message += " unexpected " + std::to_string(unexpected.size()) + " keys (" + summary(unexpected) + ")";
        throw Error(message);
    }
    Parameters params;
    for (const auto& slot : slots) {
        const Shape found = file.shape(slot.key);
        if (found != slot.shape)
            throw Error(path + ": tensor '" + slot.key + "' has shape " + shape_string(found) + " but " +
                        arch.name + " expects " + shape_string(slot.shape) +
                        " (weights of another architecture, or of another class count?)");
        params.tensors_.emplace(slot.key, finite_tensor(file, path, slot.key));
    }
    return params;
}

BAGNET_INLINE Tensor Parameters::finite_tensor(const io::SafetensorsFile& file, const std::string& path,
                                             const std::string& key) {
    Tensor value = file.load_float(key);
    for (float v : value)
        if (!std::isfinite(v)) throw Error(path + ": tensor '" + key + "' contains non-finite values");
    return value;
}

BAGNET_INLINE void Parameters::save(const Architecture& arch, const std::string& path,
                                    const std::map<std::string, std::string>& metadata) const {
    std::vector<io::NamedTensor> out;
    for (const auto& slot : parameter_slots(arch)) {
        const Tensor& value = at(slot.key);
        out.push_back(slot.is_counter() ? io::int64_scalar(slot.key, std::int64_t(value()))
                                      : io::float32_tensor(slot.key, value));
    }
    io::write_safetensors(path, out, metadata);
}

BAGNET_INLINE std::string Parameters::summary(const std::vector<std::string>& keys) {
    std::string text;
    const std::size_t shown = std::min<std::size_t>(keys.size(), 4);
    for (std::size_t i = 0; i < shown; ++i) text += (i ? ", " : "") + keys[i];
    if (keys.size() > shown) text += ", ...";
    return text;
}

}  // namespace bagnet
