#pragma once
// A BagNet evaluated at every pixel: the a-trous version of its graph
// (layers/a_trous.hpp) with the head cut to the classes asked for. Its logit map
// over the image zero-padded by (q - 1) / 2 on every side is the dense heatmap:
// entry (y, x) is the evidence of the q x q patch centred on pixel (y, x).
#include <algorithm>
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "bagnet/arch.hpp"
#include "bagnet/backend/backend.hpp"
#include "bagnet/layers/a_trous.hpp"
#include "bagnet/parameters.hpp"

namespace bagnet {

class DenseEvaluation {
public:
    DenseEvaluation(const Architecture& arch, const Parameters& params, std::vector<int> classes)
        : classes_(std::move(classes)) {
        require(arch.patch_size > 0, arch.name + " pads its convolutions: it has no dense evaluation");
        require(!classes_.empty(), "no class given for the dense evaluation");
        const LinearSpec head = arch.head();
        arch_ = {arch.name + " (dense)", arch.patch_size, arch.in_channels, a_trous(arch.graph)};
        params_ = params;
        // Only the rows of the classes asked for: the head at every pixel would cost
        // more than a tenth of the whole evaluation for 1000 classes.
        const Tensor& weight = params.at(key(head, TensorSlot::weight));
        const Tensor& bias = params.at(key(head, TensorSlot::bias));
        Tensor cut_weight = Tensor::from_shape({classes_.size(), std::size_t(head.in_features)});
        Tensor cut_bias = Tensor::from_shape({classes_.size()});
        for (std::size_t k = 0; k < classes_.size(); ++k) {
            const auto c = std::size_t(classes_[k]);
            require(classes_[k] >= 0 && classes_[k] < head.out_features, "class " + std::to_string(classes_[k]) +
                                                                             " is out of range for " + arch.name);
            std::copy_n(&weight(c, 0), head.in_features, &cut_weight(k, 0));
            cut_bias(k) = bias(c);
        }
        params_.at(key(head, TensorSlot::weight)) = std::move(cut_weight);
        params_.at(key(head, TensorSlot::bias)) = std::move(cut_bias);
        LinearSpec cut_head = head;
        cut_head.out_features = int(classes_.size());
        arch_.graph = with_head(arch_.graph, cut_head);
    }

    const Architecture& architecture() const { return arch_; }
    const Parameters& parameters() const { return params_; }
    const std::vector<int>& classes() const { return classes_; }

private:
    // `graph` with its last layer (the linear head) replaced by `head`.
    static Graph with_head(const Graph& graph, const LinearSpec& head) {
        Graph out = graph.up_to(graph.output() - 1);
        out.linear(graph.output() - 1, head);
        return out;
    }

    Architecture arch_;
    Parameters params_;
    std::vector<int> classes_;
};

// The bytes per row of `columns` padded input columns of the widest value of
// `arch`'s dense evaluation (all at full resolution): what bounds the rows a pass holds.
inline std::size_t dense_row_bytes(const Architecture& arch, std::size_t columns) {
    int channels = arch.in_channels;
    for (const Layer& layer : arch.graph.layers())
        if (layer.kind == LayerKind::convolution) channels = std::max(channels, layer.conv.out_channels);
    return std::size_t(channels) * columns * sizeof(float);
}

// Whether a backend runs the dense evaluation. The cuda backend's dilated
// convolutions have not run on a GPU yet, so it keeps the shifted passes.
template <class Backend>
struct runs_dense_evaluation : std::true_type {};
template <>
struct runs_dense_evaluation<cuda> : std::false_type {};

}  // namespace bagnet
