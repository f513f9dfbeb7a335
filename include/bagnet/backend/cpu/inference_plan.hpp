#pragma once
// A compiled forward pass for one input shape and precision, on oneDNN.
//
// Compiled from the graph's inference pass (backend/inference_pass.hpp). Why it is
// fast: batch norm is folded into the convolutions, the stem's two linear
// convolutions are one, ReLU and the residual add are post-ops of the
// convolution that produces them, activations stay in the layout oneDNN picks
// (reorders only where a primitive asks for a different one), a projection
// shortcut computes only the rows and columns that the crop keeps (its right and
// bottom padding is negative), and activations live in a few arenas, each reused
// once the value in it has been read for the last time.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bagnet/arch.hpp"
#include "bagnet/backend/backend.hpp"
#include "bagnet/backend/cpu/context.hpp"
#include "bagnet/backend/cpu/kernel_log.hpp"
#include "bagnet/backend/inference_pass.hpp"
#include "bagnet/parameters.hpp"

namespace bagnet::backend::cpu {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

class InferencePlan {
public:
    InferencePlan(const Architecture& arch, const Parameters& params, const std::array<int, 4>& input_shape,
                  Precision precision, Output output)
        : input_shape_(input_shape), activation_type_(precision == Precision::bf16 ? dt::bf16 : dt::f32) {
        require(precision == Precision::fp32 || cpu_has_bf16(),
                "bf16 needs a CPU with AVX512-BF16 or AMX instructions; this one has neither");
        const int n = input_shape[0];
        const InferenceProgram program =
            compile_inference(arch.graph, params,
                              {std::size_t(n), std::size_t(input_shape[1]), std::size_t(input_shape[2]),
                               std::size_t(input_shape[3])});
        values_.resize(program.shapes.size());
        values_[0] = {memory({{n, input_shape[1], input_shape[2], input_shape[3]}, dt::f32, tag::nchw}, engine(),
                             DNNL_MEMORY_NONE),
                      user};
        input_ = values_[0];
        for (std::size_t s = 0; s < program.steps.size(); ++s)
            if (!program.inside[s]) add_step(program, s);
        const auto& features = program.shapes[std::size_t(program.features)];
        map_h_ = int(features[2]);
        map_w_ = int(features[3]);
        add_head(program, values_[std::size_t(program.features)], n, map_h_, map_w_, output);
        allocate_arenas();
    }

    const std::array<int, 4>& input_shape() const { return input_shape_; }
    int map_height() const { return map_h_; }
    int map_width() const { return map_w_; }

    // input: N x C x H x W float32 (plain); output: N x classes or N x H' x W' x classes.
    void run(const float* input, float* output) {
        input_.mem.set_data_handle(const_cast<float*>(input));
        output_.mem.set_data_handle(output);
        auto& stream = Context::get().stream;
        for (auto& step : steps_) step.primitive.execute(stream, step.args);
        stream.wait();
    }

private:
    static constexpr int user = -1;  // storage from the caller, not an arena
    enum class Fuse { none, relu, sum, sum_relu };

    // A memory and where its storage comes from: an arena (Arenas' index), or the caller.
    struct Activation {
        memory mem;
        int arena = user;
    };
    struct Step {
        dnnl::primitive primitive;
        std::unordered_map<int, memory> args;
    };
    using Storage = std::unique_ptr<void, decltype(&std::free)>;

    static dnnl::engine& engine() { return Context::get().engine; }

    // A memory whose storage is arena `arena`, bound once the arenas' sizes are known.
    memory in_arena(const memory::desc& desc, int arena) {
        memory mem(desc, engine(), DNNL_MEMORY_NONE);
        arenas_.grow(arena, desc.get_size());
        bind({mem, arena});
        return mem;
    }

    // A memory in a fresh arena, free again when the current step ends (reorders' targets).
    memory scratch(const memory::desc& desc) {
        const int arena = arenas_.acquire(desc.get_size());
        scratch_.push_back(arena);
        return in_arena(desc, arena);
    }

    void bind(const Activation& activation) { bindings_.push_back(activation); }

    void allocate_arenas() {
        for (std::size_t bytes : arenas_.bytes()) {
            const std::size_t rounded = (std::max<std::size_t>(bytes, 1) + 63) / 64 * 64;
            storage_.emplace_back(std::aligned_alloc(64, rounded), &std::free);
            if (!storage_.back()) throw Error("out of memory allocating " + std::to_string(rounded) + " bytes for activations");
        }
        for (auto& b : bindings_) b.mem.set_data_handle(storage_[std::size_t(b.arena)].get());
    }

    void add_primitive(dnnl::primitive primitive, std::unordered_map<int, memory> args) {
        steps_.push_back({std::move(primitive), std::move(args)});
    }

    // `activation` itself if it already has `desc`, else a reorder of it into scratch memory.
    Activation conform(const Activation& activation, const memory::desc& desc) {
        if (activation.mem.get_desc() == desc) return activation;
        const Activation out{scratch(desc), scratch_.back()};
        add_primitive(recorded_reorder(activation.mem, out.mem), {{DNNL_ARG_FROM, activation.mem}, {DNNL_ARG_TO, out.mem}});
        return out;
    }

    // `activation`'s top-left rows x columns, as a view of the same storage.
    Activation cropped(const Activation& activation, int rows, int columns) {
        const auto dims = activation.mem.get_desc().dims();
        if (dims[2] == rows && dims[3] == columns) return activation;
        require(activation.arena != user, "internal: cannot crop a caller-owned buffer");
        const Activation view{memory(activation.mem.get_desc().submemory_desc({dims[0], dims[1], rows, columns}, {0, 0, 0, 0}),
                                     engine(), DNNL_MEMORY_NONE),
                              activation.arena};
        bind(view);
        return view;
    }

    // Weights and bias converted once into the layout the primitive chose, on this
    // thread alone (see SerialIf): a plan holds a hundred of them, mostly small.
    memory constant(const Tensor& values, const memory::dims& dims, tag plain, const memory::desc& desc) {
        memory source({dims, dt::f32, plain}, engine(), const_cast<float*>(values.data()));
        memory target(desc, engine());
        const SerialIf serial(true);
        recorded_reorder(source, target).execute(Context::get().stream, source, target);
        Context::get().stream.wait();
        return target;
    }

    // Convolution primitive for an h x w input giving ho x wo; where (ho, wo) is
    // smaller than the natural output size the surplus bottom-right input is
    // ignored through negative right padding.
    dnnl::convolution_forward::primitive_desc conv_primitive(const FoldedConv& conv, int n, int h, int w, int ho, int wo,
                                                             Fuse fuse, const memory::desc* fixed_dst = nullptr) const {
        const auto& s = conv.spec;
        const memory::dims pad_r{(ho - 1) * s.stride + s.extent() - h - s.padding,
                                 (wo - 1) * s.stride + s.extent() - w - s.padding};
        const memory::desc src_any({n, s.in_channels, h, w}, activation_type_, tag::any);
        const memory::desc weights_any({s.out_channels, s.in_channels, s.kernel, s.kernel}, activation_type_, tag::any);
        const memory::desc bias_desc({s.out_channels}, dt::f32, tag::x);
        const memory::desc dst = fixed_dst ? *fixed_dst : memory::desc({n, s.out_channels, ho, wo}, activation_type_, tag::any);
        dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                             src_any, weights_any, bias_desc, dst, {s.stride, s.stride},
                                             {s.dilation - 1, s.dilation - 1}, {s.padding, s.padding}, pad_r);
        dnnl::post_ops ops;
        if (fuse == Fuse::sum || fuse == Fuse::sum_relu) ops.append_sum(1.f);
        if (fuse == Fuse::relu || fuse == Fuse::sum_relu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
        dnnl::primitive_attr attr;
        attr.set_post_ops(ops);
        return recorded(dnnl::convolution_forward::primitive_desc(desc, attr, engine()));
    }

    std::unordered_map<int, memory> conv_args(const dnnl::convolution_forward::primitive_desc& pd,
                                              const FoldedConv& conv, const memory& src, const memory& dst) {
        const auto& s = conv.spec;
        memory weights = constant(conv.weight, {s.out_channels, s.in_channels, s.kernel, s.kernel}, tag::oihw,
                                  pd.weights_desc());
        memory bias = constant(conv.bias, {s.out_channels}, tag::x, pd.bias_desc());
        return {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}};
    }

    // The primitive of a convolution of `src` (h x w) giving ho x wo, and the input it
    // reads. oneDNN accepts right padding down to 1 - stride; a deeper crop reads only
    // the input rows and columns the kept outputs need, through a strided view.
    std::pair<dnnl::convolution_forward::primitive_desc, Activation> conv_reading(
        const FoldedConv& conv, const Activation& src, int h, int w, int ho, int wo, Fuse fuse,
        const memory::desc* fixed_dst = nullptr) {
        const auto& s = conv.spec;
        const auto needed = [&](int size, int out) {
            const int used = (out - 1) * s.stride + s.extent() - s.padding;
            return size - used >= s.stride ? used : size;
        };
        const Activation input = cropped(src, needed(h, ho), needed(w, wo));
        const auto dims = input.mem.get_desc().dims();
        return {conv_primitive(conv, int(dims[0]), int(dims[2]), int(dims[3]), ho, wo, fuse, fixed_dst), input};
    }

    // The convolution as a primitive writing `dst`.
    void add_conv(const dnnl::convolution_forward::primitive_desc& pd, const FoldedConv& conv, const Activation& input,
                  const memory& dst) {
        add_primitive(dnnl::convolution_forward(pd), conv_args(pd, conv, conform(input, pd.src_desc()).mem, dst));
    }

    // The output of program step `s` into a fresh arena, or into the memory `into` (a
    // shortcut written in its reader's layout).
    void add_step(const InferenceProgram& program, std::size_t s, const Activation* into = nullptr) {
        const InferenceStep& step = program.steps[s];
        const Activation& src = values_[std::size_t(step.input)];
        const int h = step.input_size[0], w = step.input_size[1], ho = step.output_size[0], wo = step.output_size[1];
        Activation dst;
        if (step.kind != InferenceStep::Kind::convolution) {
            const Window& p = step.pool;
            const memory kept = cropped(src, h, w).mem;
            const memory::desc src_desc = kept.get_desc();
            const int n = int(src_desc.dims()[0]), c = int(src_desc.dims()[1]);
            const memory::dims pad_r{(ho - 1) * p.stride + p.extent - h - p.padding,
                                     (wo - 1) * p.stride + p.extent - w - p.padding};
            // Average pooling counts the padding in every window's divisor (PyTorch's AvgPool2d).
            const auto algorithm = step.kind == InferenceStep::Kind::max_pool ? dnnl::algorithm::pooling_max
                                                                              : dnnl::algorithm::pooling_avg_include_padding;
            dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm, src_desc,
                                             memory::desc({n, c, ho, wo}, activation_type_, tag::any),
                                             {p.stride, p.stride}, {p.extent, p.extent}, {p.padding, p.padding}, pad_r);
            const auto pd = recorded(dnnl::pooling_forward::primitive_desc(desc, engine()));
            dst = into ? *into : Activation{memory(), arenas_.acquire(pd.dst_desc().get_size())};
            if (!into) dst.mem = in_arena(pd.dst_desc(), dst.arena);
            add_primitive(dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, kept}, {DNNL_ARG_DST, dst.mem}});
        } else {
            const bool sum = step.residual >= 0;
            const Fuse fuse = sum ? (step.relu ? Fuse::sum_relu : Fuse::sum) : (step.relu ? Fuse::relu : Fuse::none);
            const memory::desc into_desc = into ? into->mem.get_desc() : memory::desc();
            const auto [pd, input] = conv_reading(step.conv, src, h, w, ho, wo, fuse, into ? &into_desc : nullptr);
            const memory::desc out_desc = pd.dst_desc();
            if (into) {
                dst = *into;
            } else if (sum && step.residual_step >= 0) {
                // The shortcut is computed for this step alone: straight into its output.
                dst = {memory(), arenas_.acquire(out_desc.get_size())};
                dst.mem = in_arena(out_desc, dst.arena);
                add_step(program, std::size_t(step.residual_step), &dst);
            } else if (sum) {
                const Activation& residual = values_[std::size_t(step.residual)];
                const Activation kept = cropped(residual, ho, wo);
                if (kept.mem.get_desc() == out_desc && residual.arena != user &&
                    program.last_use[std::size_t(step.residual)] == int(s)) {
                    dst = residual;  // accumulate in place: the shortcut is not read again
                } else {
                    dst = {memory(), arenas_.acquire(out_desc.get_size())};
                    dst.mem = in_arena(out_desc, dst.arena);
                    add_primitive(recorded_reorder(kept.mem, dst.mem), {{DNNL_ARG_FROM, kept.mem}, {DNNL_ARG_TO, dst.mem}});
                }
            } else {
                dst = {memory(), arenas_.acquire(out_desc.get_size())};
                dst.mem = in_arena(out_desc, dst.arena);
            }
            add_conv(pd, step.conv, input, dst.mem);
        }
        if (into) return;  // the reader's step releases what this one read
        values_[std::size_t(step.output)] = dst;
        release_after(program, s, dst.arena);
    }

    // Gives back the arenas of the values whose last reader is step `s` (the step whose
    // output now lives in `kept` keeps it), and the step's scratch memory.
    void release_after(const InferenceProgram& program, std::size_t s, int kept) {
        for (std::size_t v = 0; v < values_.size(); ++v)
            if (program.last_use[v] == int(s) && values_[v].arena != user && values_[v].arena != kept) {
                arenas_.release(values_[v].arena);
                values_[v].arena = user;  // released once, even when several values shared it
            }
        for (int arena : scratch_) arenas_.release(arena);
        scratch_.clear();
    }

    // Logits: average the features over space, then the linear layer (cheaper than
    // classifying every location). Logit map: the linear layer at every location, an
    // inner product over the N x H' x W' locations of the nhwc features writing
    // N x H' x W' x classes straight into the caller's buffer. (As a 1x1 convolution
    // writing nhwc from blocked features it fell to oneDNN's ref:any kernel on AVX2,
    // 12x the cost of the whole network.) The head runs in f32 from f32 features, so
    // the bf16 path loses no precision in the mean or the head.
    void add_head(const InferenceProgram& program, const Activation& features, int n, int h, int w, Output output) {
        const int channels = program.head.in_features, classes = program.head.out_features;
        const Activation f32_features = conform(features, memory::desc({n, channels, h, w}, dt::f32, tag::nhwc));
        if (output == Output::logit_map) {
            const memory locations = view(f32_features, {{n * h * w, channels}, dt::f32, tag::nc});
            output_ = {memory({{n * h * w, classes}, dt::f32, tag::nc}, engine(), DNNL_MEMORY_NONE), user};
            add_linear(program, locations, output_.mem);
            return;
        }
        // The spatial mean as a matrix product (1/HW, ..., 1/HW) x features, per image:
        // oneDNN has no fast pooling or reduction kernel for whole-map windows.
        const memory per_image = view(f32_features, {{n, h * w, channels}, dt::f32, tag::abc});
        const Tensor averaging = xt::ones<float>({std::size_t(h * w)}) / float(h * w);
        const memory::desc averaging_desc({1, 1, h * w}, dt::f32, tag::abc);
        const int head_arena = arenas_.acquire(0);
        const memory pooled = in_arena({{n, 1, channels}, dt::f32, tag::abc}, head_arena);
        const auto mean_pd = recorded(dnnl::matmul::primitive_desc(
            dnnl::matmul::desc(averaging_desc, per_image.get_desc(), pooled.get_desc()), engine()));
        add_primitive(dnnl::matmul(mean_pd), {{DNNL_ARG_SRC, constant(averaging, {1, 1, h * w}, tag::abc, averaging_desc)},
                                              {DNNL_ARG_WEIGHTS, per_image},
                                              {DNNL_ARG_DST, pooled}});
        // The pooled N x 1 x C buffer is also an N x C matrix.
        output_ = {memory({{n, classes}, dt::f32, tag::nc}, engine(), DNNL_MEMORY_NONE), user};
        add_linear(program, in_arena({{n, channels}, dt::f32, tag::nc}, head_arena), output_.mem);
    }

    // `activation`'s storage seen through another description of the same bytes.
    memory view(const Activation& activation, const memory::desc& desc) {
        require(activation.arena != user, "internal: cannot view a caller-owned buffer");
        const memory mem(desc, engine(), DNNL_MEMORY_NONE);
        bind({mem, activation.arena});
        return mem;
    }

    // The head's linear layer: rows x in_features `src` to rows x out_features `dst`.
    void add_linear(const InferenceProgram& program, const memory& src, const memory& dst) {
        const int channels = program.head.in_features, classes = program.head.out_features;
        const dnnl::inner_product_forward::desc ip(dnnl::prop_kind::forward_inference, src.get_desc(),
                                                   memory::desc({classes, channels}, dt::f32, tag::any),
                                                   memory::desc({classes}, dt::f32, tag::x), dst.get_desc());
        const auto pd = recorded(dnnl::inner_product_forward::primitive_desc(ip, engine()));
        add_primitive(dnnl::inner_product_forward(pd),
                      {{DNNL_ARG_SRC, src},
                       {DNNL_ARG_WEIGHTS, constant(program.head_weight, {classes, channels}, tag::oi, pd.weights_desc())},
                       {DNNL_ARG_BIAS, constant(program.head_bias, {classes}, tag::x, pd.bias_desc())},
                       {DNNL_ARG_DST, dst}});
    }

    std::array<int, 4> input_shape_;
    dt activation_type_;
    Activation input_, output_;
    std::vector<Activation> values_;  // by graph value, while the plan is built
    std::vector<Step> steps_;
    Arenas arenas_;
    std::vector<int> scratch_;  // arenas free again when the current step ends
    std::vector<Activation> bindings_;
    std::vector<Storage> storage_;
    int map_h_ = 0, map_w_ = 0;
};

}  // namespace bagnet::backend::cpu
