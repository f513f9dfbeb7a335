#pragma once
// The randomness of the input pipeline. Every random choice (an epoch's order,
// each item's crop and flip) comes from a generator seeded by a pure function
// of (seed, purpose, epoch, index), so it does not depend on which worker thread
// or process computes it, nor on how many there are, nor on what ran before: a
// resumed run, or one split over several processes, draws the same numbers.
#include <cstdint>

namespace bagnet::data {

// SplitMix64's output function (Steele, Lea and Flood, 2014): a bijection of
// 64-bit words whose outputs pass BigCrush even for consecutive inputs.
constexpr std::uint64_t mix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// What a stream of random numbers is for, so that two purposes never share one.
enum class Purpose : std::uint64_t { order = 1, item = 2 };

// The seed of one stream: each field passes through the mixer in turn, so
// neighbouring epochs or indices give unrelated streams.
constexpr std::uint64_t stream_seed(std::uint64_t seed, Purpose purpose, std::uint64_t epoch, std::uint64_t index) {
    return mix64(mix64(mix64(mix64(seed) ^ std::uint64_t(purpose)) ^ epoch) ^ index);
}

// SplitMix64 as a generator: small, fast, and good enough for augmentation.
class Random {
public:
    explicit Random(std::uint64_t seed) : state_(seed) {}

    // SplitMix64's step: the state advances by the golden-ratio increment that mix64 adds.
    std::uint64_t next() {
        const std::uint64_t out = mix64(state_);
        state_ += 0x9E3779B97F4A7C15ull;
        return out;
    }
    // Uniform in [0, 1), 53 random bits.
    double uniform() { return double(next() >> 11) * 0x1.0p-53; }
    double uniform(double low, double high) { return low + (high - low) * uniform(); }
    // Uniform integer in [0, n), n >= 1, without modulo bias.
    std::uint64_t below(std::uint64_t n) {
        const std::uint64_t threshold = (0 - n) % n;  // 2^64 mod n: the values of an incomplete last cycle
        for (;;) {
            const std::uint64_t r = next();
            if (r >= threshold) return r % n;
        }
    }
    bool coin(double p = 0.5) { return uniform() < p; }

private:
    std::uint64_t state_;
};

}  // namespace bagnet::data
