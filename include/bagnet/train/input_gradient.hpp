#pragma once
// The gradient of class logits with respect to the input image, in evaluation
// mode (running batch-norm statistics): the plain saliency map, and the building
// block of gradient-based attribution methods.
#include <vector>

#include "bagnet/inference.hpp"
#include "bagnet/instances.hpp"
#include "bagnet/train/backends.hpp"
#include "bagnet/train/backprop.hpp"

namespace bagnet {

// d (sum over i and c of weights[i, c] logit[i, c]) / d x: each image's gradient is that of
// its own weighting of the classes (a margin between two classes: +1 and -1).
template <class Backend>
Tensor4 input_gradient(const Model<Backend>& model, const ImagesView& x, const Tensor2& weights) {
    const Architecture& arch = model.architecture();
    check_input(arch, x);
    require(weights.shape()[0] == x.shape()[0] && int(weights.shape()[1]) == arch.classes(),
            "input_gradient: class weights of shape " + shape_string(weights.shape()) + " for a batch of " +
                std::to_string(x.shape()[0]) + " and " + std::to_string(arch.classes()) + " classes");
    const Graph& graph = arch.graph;
    auto& ops = train::training_ops<Backend>();
    const auto tape = train::forward(ops, graph, model.parameters(), x, train::Mode::evaluation);
    Tensor4 seed = xt::zeros<float>(tape.output().shape());
    for (std::size_t i = 0; i < weights.shape()[0]; ++i)
        for (std::size_t c = 0; c < weights.shape()[1]; ++c) seed(i, c, 0, 0) = weights(i, c);
    train::BackwardOptions options;
    options.input_gradient = true;
    options.parameter_gradients = false;
    return train::backward(ops, graph, model.parameters(), tape, seed, options).input;
}

// d (sum over i of logit[i, classes[i]]) / d x: image i's gradient is that of its own class's logit.
template <class Backend>
Tensor4 input_gradient(const Model<Backend>& model, const ImagesView& x, const std::vector<int>& classes) {
    const Architecture& arch = model.architecture();
    require(classes.size() == x.shape()[0], "input_gradient: " + std::to_string(classes.size()) +
                                                " class indices for a batch of " + std::to_string(x.shape()[0]));
    Tensor2 weights = xt::zeros<float>({x.shape()[0], std::size_t(arch.classes())});
    for (std::size_t i = 0; i < classes.size(); ++i) {
        const int c = classes[i];
        require(c >= 0 && c < arch.classes(), "class " + std::to_string(c) + " is out of range for " + arch.name +
                                                  " with " + std::to_string(arch.classes()) + " classes");
        weights(i, std::size_t(c)) = 1.f;
    }
    return input_gradient(model, x, weights);
}

// d (sum over the batch of logit[i, class_index]) / d x.
template <class Backend>
Tensor4 input_gradient(const Model<Backend>& model, const ImagesView& x, int class_index) {
    return input_gradient(model, x, std::vector<int>(x.shape()[0], class_index));
}

// Built once in bagnet::compiled (bagnet/instances.hpp).
#define BAGNET_INPUT_GRADIENT_INSTANCES(prefix, Backend)                                                    \
    prefix Tensor4 input_gradient<Backend>(const Model<Backend>&, const ImagesView&, const Tensor2&);          \
    prefix Tensor4 input_gradient<Backend>(const Model<Backend>&, const ImagesView&, const std::vector<int>&); \
    prefix Tensor4 input_gradient<Backend>(const Model<Backend>&, const ImagesView&, int);
BAGNET_EXTERN_INSTANCES(BAGNET_INPUT_GRADIENT_INSTANCES)

}  // namespace bagnet
