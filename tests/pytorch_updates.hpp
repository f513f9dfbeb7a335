#pragma once
// Parameter updates against a PyTorch training fixture (make_train_fixture.py,
// make_ddp_fixture.py: float64 results, and tolerance.json, how far PyTorch's own
// float32 run lands from its float64 run, per tensor).
//
// A deep batch-norm net at initialisation is ill-conditioned (the batch-norm backward
// pass cancels most of its incoming gradient), so some tensors' updates are only
// known to 10% or so in float32. Errors are norm-wise (||a - b|| / ||b||): rounding
// flips the ReLU mask of a few activations that sit at zero, which moves a few
// gradient entries by a lot and would dominate a max-norm comparison whichever
// float32 implementation runs. Each tensor must stay within 10x PyTorch's error (plus
// a floor); and typically (the median over tensors) within 2x, which a wrong gradient
// anywhere would not be.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bagnet/arch.hpp"
#include "bagnet/parameters.hpp"
#include "random_tensors.hpp"

namespace bagnet::testing {

// The numbers of a flat JSON object {"key": number, ...}, as tolerance.json holds.
inline std::map<std::string, double> read_tolerances(const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in);
    std::stringstream text;
    text << in.rdbuf();
    std::map<std::string, double> values;
    const std::string s = text.str();
    for (std::size_t at = s.find('"'); at != std::string::npos; at = s.find('"', at)) {
        const std::size_t end = s.find('"', at + 1);
        const std::size_t colon = s.find(':', end);
        values[s.substr(at + 1, end - at - 1)] = std::stod(s.substr(colon + 1));
        at = s.find_first_of(",}", colon);
    }
    return values;
}

// The update from `before` to `trained` against the one from `before` to `expected`.
inline void check_updates_match(const Architecture& arch, const Parameters& before, const Parameters& trained,
                                const Parameters& expected, const std::map<std::string, double>& tolerances) {
    std::size_t compared = 0;
    std::vector<double> ratios;
    for (const auto& slot : parameter_slots(arch)) {
        if (slot.is_counter()) {
            CHECK(trained.at(slot.key)() == expected.at(slot.key)());
            continue;
        }
        const Tensor update = trained.at(slot.key) - before.at(slot.key);
        const Tensor expected_update = expected.at(slot.key) - before.at(slot.key);
        const double calibrated = tolerances.at(slot.key);
        const double error = norm_relative_error(update, expected_update);
        INFO(slot.key << ": relative error of the update " << error << ", PyTorch fp32 " << calibrated);
        CHECK(error < 10 * calibrated + 2e-3);
        ratios.push_back(error / (calibrated + 1e-4));
        ++compared;
    }
    CHECK(compared == tolerances.size());
    std::sort(ratios.begin(), ratios.end());
    INFO("median error relative to PyTorch's own fp32 error: " << ratios[ratios.size() / 2]);
    CHECK(ratios[ratios.size() / 2] < 2);
}

// `trained` (from the fixture's weights.safetensors) against its after.safetensors.
inline void check_updates_match(const Architecture& arch, const std::string& fixture_dir, const Parameters& trained) {
    check_updates_match(arch, Parameters::load(arch, fixture_dir + "/weights.safetensors"), trained,
                        Parameters::load(arch, fixture_dir + "/after.safetensors"),
                        read_tolerances(fixture_dir + "/tolerance.json"));
}

}  // namespace bagnet::testing
