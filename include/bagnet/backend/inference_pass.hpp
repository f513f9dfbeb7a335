#pragma once
// The inference pass every fast backend compiles its plan from: a graph and its
// parameters become a short list of steps, each one kernel on the device.
//
// - A convolution absorbs what follows it while it is the only reader of the value
//   before: the batch norm (folded into its weights and bias), the residual add
//   (the backend writes the shortcut first and accumulates into it) and the ReLU.
// - A bias-free 1x1 convolution is composed with the next one where that is
//   cheaper (the BagNet stem; composes_with_next).
// - A value is computed only as far as its readers read it: a projection shortcut
//   that the crop-and-add cuts computes only the rows and columns kept.
// - The spatial mean and the linear head at the end are the head, which each
//   backend runs its own way (logits, or the head at every location).
// Anything else (a lone batch norm, a ReLU after a pooling) is refused with the
// layer named: the reference backend runs any graph.
#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "bagnet/backend/fold.hpp"
#include "bagnet/error.hpp"
#include "bagnet/layers/graph.hpp"
#include "bagnet/layers/shapes.hpp"
#include "bagnet/parameters.hpp"

namespace bagnet {

struct InferenceStep {
    enum class Kind { convolution, max_pool, average_pool };
    Kind kind = Kind::convolution;
    std::string name;  // the first layer's, for messages and profiles
    int input = 0;     // the value read
    int output = 0;    // the value written: the last graph layer folded into the step
    std::array<int, 2> input_size{};   // rows, columns of `input`
    std::array<int, 2> output_size{};  // rows, columns computed: fewer than the layer's natural
                                       // size where every reader crops
    // Convolution:
    FoldedConv conv;     // batch norm folded in; the bias is always there
    int residual = -1;   // the value added, its top-left cropped to output_size, before the ReLU
    int residual_step = -1;  // the step computing `residual` for this step alone (run just before it,
                             // in its output's layout; it is skipped in the main order); -1: none
    bool relu = false;
    // Pooling (max or average): its window.
    Window pool;
};

struct InferenceProgram {
    std::vector<Shape4> shapes;        // of every graph value, in full
    std::vector<InferenceStep> steps;  // in order; a step that is some step's residual_step runs with it
    std::vector<bool> inside;          // by step: runs inside the step that reads it as residual
    std::vector<int> last_use;         // by value: the last step reading it (steps.size(): the head)
    int features = 0;                  // the value the head reads
    LinearSpec head;
    Tensor head_weight, head_bias;
};

namespace detail {
// The one layer reading value v, or -1 if none or several.
inline int sole_reader(const Graph& graph, const std::vector<int>& readers, int v) {
    if (readers[std::size_t(v)] != 1) return -1;
    const auto& layers = graph.layers();
    for (std::size_t i = std::size_t(v); i < layers.size(); ++i)
        if (layers[i].input == v || layers[i].shortcut == v) return int(i);
    return -1;
}

inline std::string kind_name(LayerKind kind) {
    switch (kind) {
    case LayerKind::convolution: return "convolution";
    case LayerKind::batch_norm: return "batch norm";
    case LayerKind::relu: return "ReLU";
    case LayerKind::add_cropped: return "crop-and-add";
    case LayerKind::max_pool: return "max-pool";
    case LayerKind::average_pool: return "average pool";
    case LayerKind::spatial_mean: return "spatial mean";
    case LayerKind::linear: return "linear";
    }
    return "layer";
}

// The step starting at convolution layer i: the convolution (composed with the next one
// where that is cheaper), then the sole readers absorbed while they fit: batch norm, then
// crop-and-add (as its main input), then ReLU. Marks the layers it takes in `consumed`.
inline InferenceStep convolution_step(const Graph& graph, const std::vector<int>& readers, const Parameters& params,
                                      std::size_t i, std::vector<bool>& consumed) {
    const auto& layers = graph.layers();
    const Layer& layer = layers[i];
    InferenceStep step;
    std::size_t last = i;  // the last layer in the step
    if (composes_with_next(graph, readers, i)) {
        last = i + 1;
        step.conv = composed_convolution(graph, last, params);
        if (layers[last].conv.bias) step.conv.bias = params.at(key(layers[last].conv, TensorSlot::bias));
    } else {
        step.conv = compose_convolutions({layer.conv}, params);
    }
    step.conv.spec.bias = true;
    step.name = layer.conv.name;
    step.input = layer.input;
    consumed[last] = true;
    int reader = sole_reader(graph, readers, int(last + 1));
    if (reader >= 0 && layers[std::size_t(reader)].kind == LayerKind::batch_norm) {
        step.conv = fold_batch_norm(std::move(step.conv), layers[std::size_t(reader)].batch_norm, params);
        last = std::size_t(reader);
        consumed[last] = true;
        reader = sole_reader(graph, readers, int(last + 1));
    }
    if (reader >= 0 && layers[std::size_t(reader)].kind == LayerKind::add_cropped &&
        layers[std::size_t(reader)].input == int(last + 1)) {
        step.residual = layers[std::size_t(reader)].shortcut;
        last = std::size_t(reader);
        consumed[last] = true;
        reader = sole_reader(graph, readers, int(last + 1));
    }
    if (reader >= 0 && layers[std::size_t(reader)].kind == LayerKind::relu) {
        step.relu = true;
        last = std::size_t(reader);
        consumed[last] = true;
    }
    step.output = int(last + 1);
    return step;
}
}  // namespace detail

inline InferenceProgram compile_inference(const Graph& graph, const Parameters& params, const Shape4& input) {
    InferenceProgram program;
    program.shapes = value_shapes(graph, input);
    const Head head = head_of(graph);
    program.features = head.features;
    program.head = *head.linear;
    program.head_weight = params.at(key(*head.linear, TensorSlot::weight));
    program.head_bias = params.at(key(*head.linear, TensorSlot::bias));

    const auto& layers = graph.layers();
    const std::vector<int> readers = graph.readers();
    const std::size_t body = layers.size() - 2;  // the spatial mean and the linear head are the head
    std::vector<bool> consumed(layers.size(), false);
    std::vector<int> producer(layers.size() + 1, -1);  // by value: the step writing it
    auto refuse = [&](std::size_t i) {
        throw Error("the fast backends cannot compile layer " + std::to_string(i) + " (" +
                    detail::kind_name(layers[i].kind) + ") of this graph: it is not part of a convolution " +
                    "step; the reference backend runs it");
    };
    for (std::size_t i = 0; i < body; ++i) {
        if (consumed[i]) continue;
        const Layer& layer = layers[i];
        InferenceStep step;
        switch (layer.kind) {
        case LayerKind::max_pool:
        case LayerKind::average_pool:
            step.kind = layer.kind == LayerKind::max_pool ? InferenceStep::Kind::max_pool
                                                          : InferenceStep::Kind::average_pool;
            step.name = detail::kind_name(layer.kind) + " " + std::to_string(i);
            step.input = layer.input;
            step.output = int(i + 1);
            step.pool = *window_of(layer);
            break;
        case LayerKind::convolution: step = detail::convolution_step(graph, readers, params, i, consumed); break;
        case LayerKind::batch_norm:
        case LayerKind::relu:
        case LayerKind::add_cropped:
        case LayerKind::spatial_mean:
        case LayerKind::linear: refuse(i);
        }
        consumed[i] = true;
        producer[std::size_t(step.output)] = int(program.steps.size());
        program.steps.push_back(std::move(step));
    }

    // Sizes: a value is computed as far as its readers read it (a crop-and-add reads its
    // shortcut's top-left, the size of its main input).
    std::vector<std::array<int, 2>> used(program.shapes.size(), std::array<int, 2>{0, 0});
    auto read = [&](int v, std::array<int, 2> extent) {
        used[std::size_t(v)][0] = std::max(used[std::size_t(v)][0], extent[0]);
        used[std::size_t(v)][1] = std::max(used[std::size_t(v)][1], extent[1]);
    };
    auto full = [&](int v) { return std::array<int, 2>{int(program.shapes[std::size_t(v)][2]), int(program.shapes[std::size_t(v)][3])}; };
    for (const auto& step : program.steps) {
        read(step.input, full(step.input));
        if (step.residual >= 0) read(step.residual, full(step.output));
    }
    read(program.features, full(program.features));
    for (auto& step : program.steps) {
        step.output_size = used[std::size_t(step.output)];
        step.input_size = used[std::size_t(step.input)];
        require(step.output_size[0] > 0 && step.input_size[0] > 0, "internal: step " + step.name + " is never read");
    }
    // A residual computed later in graph order than its reader starts (a projection
    // shortcut) runs inside that reader, if it is read nowhere else.
    program.inside.assign(program.steps.size(), false);
    for (std::size_t s = 0; s < program.steps.size(); ++s) {
        InferenceStep& step = program.steps[s];
        if (step.residual < 0) continue;
        const int p = producer[std::size_t(step.residual)];
        if (p > int(s)) {
            require(readers[std::size_t(step.residual)] == 1,
                    "the fast backends cannot compile " + step.name + ": its shortcut is read elsewhere too");
            step.residual_step = p;
            program.inside[std::size_t(p)] = true;
        }
    }
    // Last uses, at the time each step runs (a step inside another reads when that one does).
    program.last_use.assign(program.shapes.size(), -1);
    for (std::size_t s = 0; s < program.steps.size(); ++s) {
        const InferenceStep& step = program.steps[s];
        int at = int(s);
        if (program.inside[s])
            for (std::size_t r = 0; r < program.steps.size(); ++r)
                if (program.steps[r].residual_step == int(s)) at = int(r);
        program.last_use[std::size_t(step.input)] = std::max(program.last_use[std::size_t(step.input)], at);
        if (step.residual >= 0)
            program.last_use[std::size_t(step.residual)] = std::max(program.last_use[std::size_t(step.residual)], int(s));
    }
    program.last_use[std::size_t(program.features)] = int(program.steps.size());
    return program;
}

// Buffers reused from step to step: a value takes a free arena and gives it back
// after its last reader; each arena grows to the largest value it ever holds.
class Arenas {
public:
    int acquire(std::size_t bytes) {
        for (std::size_t i = 0; i < busy_.size(); ++i)
            if (!busy_[i]) {
                busy_[i] = true;
                bytes_[i] = std::max(bytes_[i], bytes);
                return int(i);
            }
        busy_.push_back(true);
        bytes_.push_back(bytes);
        return int(busy_.size() - 1);
    }
    void grow(int arena, std::size_t bytes) { bytes_[std::size_t(arena)] = std::max(bytes_[std::size_t(arena)], bytes); }
    void release(int arena) { busy_[std::size_t(arena)] = false; }
    const std::vector<std::size_t>& bytes() const { return bytes_; }

private:
    std::vector<bool> busy_;
    std::vector<std::size_t> bytes_;
};

}  // namespace bagnet
