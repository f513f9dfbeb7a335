#pragma once
// Test inputs and comparisons shared by the test files.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "bagnet/tensor.hpp"

namespace bagnet::testing {

// N x C x H x W standard-normal values, deterministic in `seed`.
inline Tensor4 random_input(std::size_t n, std::size_t c, std::size_t h, std::size_t w, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal;
    Tensor4 x = xt::zeros<float>({n, c, h, w});
    for (auto& v : x) v = normal(rng);
    return x;
}

// Grey images (one channel), as the small configurations take.
inline Tensor4 random_images(std::size_t n, std::size_t h, std::size_t w, std::uint64_t seed) {
    return random_input(n, 1, h, w, seed);
}

// Random, well-scaled parameters for any model: batch-norm statistics far from
// identity, so that folding them into the convolutions is exercised.
template <class Model>
void randomize(Model& model, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> scale(0.5f, 1.5f), shift(-0.2f, 0.2f), var(0.5f, 2.f);
    for (auto& [key, value] : model.mutable_parameters().tensors()) {
        auto ends_with = [&](const std::string& s) {
            return key.size() >= s.size() && key.compare(key.size() - s.size(), s.size(), s) == 0;
        };
        if (ends_with(".running_var")) for (auto& v : value) v = var(rng);
        else if (ends_with(".running_mean") || ends_with("bn1.bias") || ends_with("bn2.bias") || ends_with("bn3.bias") ||
                 ends_with("downsample.1.bias") || key == "fc.bias")
            for (auto& v : value) v = shift(rng);
        else if (value.dimension() == 1 && ends_with(".weight")) for (auto& v : value) v = scale(rng);
    }
}

// max |actual - expected| / max(max |expected|, floor): one number for a whole tensor.
template <class A, class B>
double max_relative_error(const A& actual, const B& expected, double floor = 1e-12) {
    REQUIRE(std::equal(actual.shape().begin(), actual.shape().end(), expected.shape().begin(), expected.shape().end()));
    double scale = 0, error = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        scale = std::max(scale, double(std::abs(expected.data()[i])));
        error = std::max(error, std::abs(double(actual.data()[i]) - double(expected.data()[i])));
    }
    return error / std::max(scale, floor);
}

// |actual - expected| / |expected| in the Euclidean norm: small elements weigh little.
template <class A, class B>
double norm_relative_error(const A& actual, const B& expected) {
    REQUIRE(actual.size() == expected.size());
    double difference = 0, norm = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const double e = expected.data()[i], d = actual.data()[i] - e;
        difference += d * d;
        norm += e * e;
    }
    return std::sqrt(difference) / std::max(std::sqrt(norm), 1e-30);
}

}  // namespace bagnet::testing
