#pragma once
// Softmax cross-entropy, the classification loss, averaged over the batch.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "bagnet/error.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet::train {

struct LossResult {
    double loss = 0;     // mean over the batch
    Tensor4 gradient;    // d loss / d logits, same shape as the logits
    std::size_t correct = 0;  // images whose top logit is the label
};

// logits: N x K (x 1 x 1). With label smoothing s the target puts 1 - s + s/K on
// the label and s/K elsewhere, as torch.nn.functional.cross_entropy does.
inline LossResult softmax_cross_entropy(const Tensor4& logits, const std::vector<std::int64_t>& labels,
                                        double label_smoothing = 0.0) {
    const std::size_t n = logits.shape()[0], k = logits.size() / std::max<std::size_t>(n, 1);
    require(labels.size() == n, "softmax_cross_entropy: " + std::to_string(labels.size()) + " labels for a batch of " +
                                    std::to_string(n));
    require(label_smoothing >= 0 && label_smoothing < 1, "label smoothing must be in [0, 1)");
    LossResult result{0, Tensor4(xt::zeros<float>(logits.shape())), 0};
    std::vector<double> p(k);
    for (std::size_t i = 0; i < n; ++i) {
        const std::int64_t label = labels[i];
        require(label >= 0 && std::size_t(label) < k,
                "label " + std::to_string(label) + " is out of range for " + std::to_string(k) + " classes");
        const float* z = logits.data() + i * k;
        std::size_t best = 0;
        for (std::size_t j = 1; j < k; ++j)
            if (z[j] > z[best]) best = j;
        result.correct += best == std::size_t(label);
        double total = 0;
        for (std::size_t j = 0; j < k; ++j) total += p[j] = std::exp(double(z[j]) - double(z[best]));
        const double log_total = std::log(total) + double(z[best]);
        for (std::size_t j = 0; j < k; ++j) {
            const double target = label_smoothing / double(k) + (j == std::size_t(label) ? 1 - label_smoothing : 0.0);
            result.loss -= target * (double(z[j]) - log_total);
            result.gradient.data()[i * k + j] = float((p[j] / total - target) / double(n));
        }
    }
    result.loss /= double(n);
    return result;
}

}  // namespace bagnet::train
