#pragma once
// Scrambling: cut an image into tiles on a grid and shuffle them. A bag of local
// features ignores where its features are, so its decision should barely change;
// a network that relies on global shape should change its mind.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include <xtensor/xview.hpp>

#include "bagnet/explain/heatmap.hpp"
#include "bagnet/instances.hpp"

namespace bagnet {

// The images with their whole tile x tile blocks (a grid from the top-left corner)
// permuted at random, the same permutation for every image; ragged right and
// bottom strips stay in place. Also returns where each block went: block b (row
// major) is moved to block permutation[b].
struct Scrambled {
    Tensor4 x;
    std::vector<std::size_t> permutation;
    int tile = 0;
};

inline Scrambled scramble(const Tensor4& x, int tile, std::uint64_t seed) {
    const int height = int(x.shape()[2]), width = int(x.shape()[3]);
    require(tile >= 1 && tile <= std::min(height, width),
            "the scrambling tile must be 1 to " + std::to_string(std::min(height, width)) + " pixels, got " +
                std::to_string(tile));
    const int rows = height / tile, cols = width / tile;
    Scrambled out{x, std::vector<std::size_t>(std::size_t(rows * cols)), tile};
    std::iota(out.permutation.begin(), out.permutation.end(), std::size_t(0));
    std::mt19937_64 rng(seed);
    std::shuffle(out.permutation.begin(), out.permutation.end(), rng);
    for (std::size_t b = 0; b < out.permutation.size(); ++b) {
        const int from_y = int(b) / cols * tile, from_x = int(b) % cols * tile;
        const int to_y = int(out.permutation[b]) / cols * tile, to_x = int(out.permutation[b]) % cols * tile;
        xt::view(out.x, xt::all(), xt::all(), xt::range(to_y, to_y + tile), xt::range(to_x, to_x + tile)) =
            xt::view(x, xt::all(), xt::all(), xt::range(from_y, from_y + tile), xt::range(from_x, from_x + tile));
    }
    return out;
}

struct ScramblingEffect {
    std::vector<int> original, scrambled;  // top-1 class of each image
    double agreement = 0;                  // fraction of images whose top-1 class is unchanged
};

template <class Backend>
ScramblingEffect scrambling_effect(const Model<Backend>& model, const Tensor4& x, int tile, std::uint64_t seed = 0) {
    const Tensor2 before = logits(model, x), after = logits(model, scramble(x, tile, seed).x);
    ScramblingEffect effect;
    for (std::size_t n = 0; n < x.shape()[0]; ++n) {
        effect.original.push_back(top_classes(before, n, 1)[0]);
        effect.scrambled.push_back(top_classes(after, n, 1)[0]);
        effect.agreement += effect.original.back() == effect.scrambled.back() ? 1.0 : 0.0;
    }
    effect.agreement /= double(x.shape()[0]);
    return effect;
}

// Built once in bagnet::compiled (bagnet/instances.hpp).
#define BAGNET_SCRAMBLING_INSTANCES(prefix, Backend)                                               \
    prefix ScramblingEffect scrambling_effect<Backend>(const Model<Backend>&, const Tensor4&, int, \
        std::uint64_t);
BAGNET_EXTERN_INSTANCES(BAGNET_SCRAMBLING_INSTANCES)

}  // namespace bagnet
