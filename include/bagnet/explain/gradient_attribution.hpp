#pragma once
// Attribution by backpropagation: plain gradient, gradient x input and
// integrated gradients, as methods for the attribution benchmark.
#include <cmath>
#include <string>

#include "bagnet/explain/attribution_benchmark.hpp"
#include "bagnet/instances.hpp"
#include "bagnet/train/input_gradient.hpp"

namespace bagnet {

// Integrated gradients from the all-zero baseline (the data set's mean once
// normalised): x times the mean gradient along the straight path to x, by the
// midpoint rule with `steps` points, all in one batch. The attributions sum to
// logit(x) - logit(0) up to the quadrature error (completeness).
template <class Backend>
Tensor4 integrated_gradients(const Model<Backend>& model, const Tensor4& image, int class_index, int steps) {
    require(image.shape()[0] == 1, "integrated_gradients explains one image at a time, got a batch of " +
                                       std::to_string(image.shape()[0]));
    require(steps >= 1, "integrated gradients needs at least 1 step, got " + std::to_string(steps));
    Tensor4 path = Tensor4::from_shape({std::size_t(steps), image.shape()[1], image.shape()[2], image.shape()[3]});
    for (int k = 0; k < steps; ++k) xt::view(path, k) = xt::view(image, 0) * ((float(k) + 0.5f) / float(steps));
    const Tensor4 gradients = input_gradient(model, path, class_index);
    Tensor4 attribution = xt::zeros<float>(image.shape());
    for (int k = 0; k < steps; ++k) xt::view(attribution, 0) += xt::view(gradients, k);
    return attribution * image / float(steps);
}

namespace detail {
// 1 x C x H x W -> H x W, summing the channels.
inline Tensor channel_sum(const Tensor4& map) { return xt::sum(xt::view(map, 0), {0}); }
}  // namespace detail

// |d logit / d pixel|, the largest over channels (Simonyan et al.'s saliency).
template <class Backend>
AttributionMethod gradient_method(const Model<Backend>& model) {
    return {"gradient", [&model](const Tensor4& image, int c) {
                return Tensor(xt::amax(xt::abs(xt::view(input_gradient(model, image, c), 0)), {0}));
            }};
}

template <class Backend>
AttributionMethod gradient_times_input_method(const Model<Backend>& model) {
    return {"gradient x input", [&model](const Tensor4& image, int c) {
                return detail::channel_sum(input_gradient(model, image, c) * image);
            }};
}

template <class Backend>
AttributionMethod integrated_gradients_method(const Model<Backend>& model, int steps) {
    return {"integrated gradients (" + std::to_string(steps) + " steps)", [&model, steps](const Tensor4& image, int c) {
                return detail::channel_sum(integrated_gradients(model, image, c, steps));
            }};
}

// Built once in bagnet::compiled (bagnet/instances.hpp).
#define BAGNET_GRADIENT_ATTRIBUTION_INSTANCES(prefix, Backend)                                     \
    prefix Tensor4 integrated_gradients<Backend>(const Model<Backend>&, const Tensor4&, int, int); \
    prefix AttributionMethod gradient_method<Backend>(const Model<Backend>&);                      \
    prefix AttributionMethod gradient_times_input_method<Backend>(const Model<Backend>&);          \
    prefix AttributionMethod integrated_gradients_method<Backend>(const Model<Backend>&, int);
BAGNET_EXTERN_INSTANCES(BAGNET_GRADIENT_ATTRIBUTION_INSTANCES)

}  // namespace bagnet
