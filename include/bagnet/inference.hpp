#pragma once
// Inference as free functions over a model and a batch of images.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include "bagnet/instances.hpp"
#include "bagnet/model.hpp"

namespace bagnet {

// Checks that x has a shape the architecture takes; throws a one-line Error otherwise.
inline void check_input_shape(const Architecture& arch, const ImagesView& x) {
    const auto& s = x.shape();
    require(s[0] >= 1, "the input batch is empty");
    require(int(s[1]) == arch.in_channels, arch.name + " expects " + std::to_string(arch.in_channels) +
                                                " input channels, got " + std::to_string(s[1]) + " (input shape " +
                                                shape_string(s) + ")");
    const int minimum = arch.min_input_size();
    require(int(s[2]) >= minimum && int(s[3]) >= minimum,
            arch.name + " needs inputs of at least " + std::to_string(minimum) + " x " + std::to_string(minimum) +
                " pixels, got " + std::to_string(s[2]) + " x " + std::to_string(s[3]));
}

// Checks that x can be fed to the architecture (shape, and no NaN or infinity).
inline void check_input(const Architecture& arch, const ImagesView& x) {
    check_input_shape(arch, x);
    require(all_finite(x.data(), x.size()), "the input contains non-finite values (NaN or infinity)");
}

// Whether a backend's executor finds non-finite inputs itself, on its device (where
// the scan costs nothing), and reports them with check_input's words.
template <class E, class = void>
struct checks_finiteness : std::false_type {};
template <class E>
struct checks_finiteness<E, std::enable_if_t<E::checks_finiteness>> : std::true_type {};

// check_input for a model's backend.
template <class Backend>
void check_input(const Model<Backend>& model, const ImagesView& x) {
    if constexpr (checks_finiteness<Executor<Backend>>::value) check_input_shape(model.architecture(), x);
    else check_input(model.architecture(), x);
}

// N x C x H x W (normalised) -> N x classes: the spatial mean of the logit map.
// x is a Tensor4 or a view of the caller's own memory, read in place.
template <class Backend>
Tensor2 logits(const Model<Backend>& model, const ImagesView& x) {
    check_input(model, x);
    return with_backend_errors<Backend>(
        [&] { return model.executor().logits(model.architecture(), model.parameters(), x, model.precision()); });
}

// N x C x H x W -> N x H' x W' x classes: class evidence of every q x q patch
// (the patch at map (i, j) starts at pixel (8i, 8j) for the ImageNet models).
template <class Backend>
Tensor4 logit_map(const Model<Backend>& model, const ImagesView& x) {
    check_input(model, x);
    return with_backend_errors<Backend>(
        [&] { return model.executor().logit_map(model.architecture(), model.parameters(), x, model.precision()); });
}

// Row-wise softmax of N x classes logits: class probabilities (computed in double,
// shifted by the row's largest logit so that nothing overflows).
inline Tensor2 softmax(const Tensor2& logits) {
    Tensor2 p = Tensor2::from_shape(logits.shape());
    const std::size_t classes = logits.shape()[1];
    for (std::size_t n = 0; n < logits.shape()[0]; ++n) {
        const float* row = logits.data() + n * classes;
        const double top = classes ? *std::max_element(row, row + classes) : 0.0;
        double total = 0;
        for (std::size_t k = 0; k < classes; ++k) total += std::exp(double(row[k]) - top);
        for (std::size_t k = 0; k < classes; ++k) p(n, k) = float(std::exp(double(row[k]) - top) / total);
    }
    return p;
}

// The k classes with the highest scores in row `row`, best first; of equal scores
// the lower class index ranks first.
inline std::vector<int> top_classes(const Tensor2& scores, std::size_t row, int k) {
    std::vector<int> order(scores.shape()[1]);
    std::iota(order.begin(), order.end(), 0);
    k = std::clamp(k, 0, int(order.size()));
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int a, int b) {
        const float sa = scores(row, std::size_t(a)), sb = scores(row, std::size_t(b));
        return sa > sb || (sa == sb && a < b);
    });
    order.resize(std::size_t(k));
    return order;
}

// One class of a prediction: its index and its probability.
struct ClassProbability {
    int index;
    double probability;
};

// Per image of `x`, the k most probable classes, best first (softmax of the logits).
template <class Backend>
std::vector<std::vector<ClassProbability>> top_predictions(const Model<Backend>& model, const ImagesView& x, int k) {
    const Architecture& arch = model.architecture();
    require(k >= 1 && k <= arch.classes(), "cannot show the top " + std::to_string(k) + " of the " +
                                               std::to_string(arch.classes()) + " classes of " + arch.name);
    const Tensor2 probabilities = softmax(logits(model, x));
    std::vector<std::vector<ClassProbability>> out(x.shape()[0]);
    for (std::size_t n = 0; n < out.size(); ++n)
        for (int c : top_classes(probabilities, n, k)) out[n].push_back({c, double(probabilities(n, std::size_t(c)))});
    return out;
}

#define BAGNET_INFERENCE_INSTANCES(prefix, Backend)                                                   \
    prefix Tensor2 logits<Backend>(const Model<Backend>&, const ImagesView&);                         \
    prefix Tensor4 logit_map<Backend>(const Model<Backend>&, const ImagesView&);                      \
    prefix std::vector<std::vector<ClassProbability>> top_predictions<Backend>(const Model<Backend>&, \
        const ImagesView&, int);
BAGNET_EXTERN_INSTANCES(BAGNET_INFERENCE_INSTANCES)

}  // namespace bagnet
