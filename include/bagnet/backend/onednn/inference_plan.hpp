#pragma once
// A compiled forward pass for one input shape and precision, on oneDNN.
//
// Why it is fast: batch norm is folded into the convolutions, the stem's two
// linear convolutions are one, ReLU and the residual add are post-ops of the
// convolution that produces them, activations stay in the layout oneDNN picks
// (reorders only where a primitive asks for a different one), a projection
// shortcut computes only the rows and columns that the crop keeps (its right and
// bottom padding is negative), and activations live in a few reused arenas.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <unordered_map>
#include <vector>

#include "bagnet/arch.hpp"
#include "bagnet/backend/backend.hpp"
#include "bagnet/backend/onednn/context.hpp"
#include "bagnet/layers/fold.hpp"
#include "bagnet/parameters.hpp"

namespace bagnet::onednn {

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
        int h = input_shape[2], w = input_shape[3];
        input_ = {memory({{n, input_shape[1], h, w}, dt::f32, tag::nchw}, engine(), DNNL_MEMORY_NONE), Slot::user};

        // Stem: one convolution (composed, batch norm folded) + ReLU.
        const FoldedConv stem = fold_stem(arch, params);
        Activation x = add_conv(stem, input_, h, w, {}, Fuse::relu, Slot::block_a);
        h = stem.spec.output_size(h);
        w = stem.spec.output_size(w);

        for (const auto& block : arch.blocks) {
            const FoldedConv c1 = fold_conv_bn(block.conv1, block.bn1, params);
            const FoldedConv c2 = fold_conv_bn(block.conv2, block.bn2, params);
            const FoldedConv c3 = fold_conv_bn(block.conv3, block.bn3, params);
            const int h1 = c1.spec.output_size(h), w1 = c1.spec.output_size(w);
            const int h2 = c2.spec.output_size(h1), w2 = c2.spec.output_size(w1);
            const Activation t1 = add_conv(c1, x, h, w, {}, Fuse::relu, Slot::temp1);
            const Activation t2 = add_conv(c2, t1, h1, w1, {}, Fuse::relu, Slot::temp2);
            // conv3 decides the block output's layout; the shortcut is written in it
            // first, and conv3 accumulates into it (sum post-op), then ReLU.
            const auto c3_pd = conv_primitive(c3, n, h2, w2, h2, w2, Fuse::sum_relu);
            const memory::desc out_desc = c3_pd.dst_desc();
            const Slot other = x.slot == Slot::block_a ? Slot::block_b : Slot::block_a;
            Activation shortcut;
            if (block.projection) {
                const FoldedConv p = fold_conv_bn(*block.projection, *block.projection_bn, params);
                shortcut = add_conv(p, x, h, w, {h2, w2}, Fuse::none, other, &out_desc);
            } else {
                require(h == h2 && w == w2, "identity shortcut of " + block.conv1.name + " needs equal sizes");
                shortcut = conform(x, out_desc, other);  // usually x itself: conv3 then adds in place
            }
            add_step(dnnl::convolution_forward(c3_pd),
                     conv_args(c3_pd, c3, conform(t2, c3_pd.src_desc(), Slot::reorder).mem, shortcut.mem));
            x = shortcut;
            h = h2;
            w = w2;
        }
        map_h_ = h;
        map_w_ = w;
        add_head(arch, params, x, n, h, w, output);
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
    enum class Slot { block_a, block_b, temp1, temp2, reorder, head, user };
    static constexpr std::size_t arena_count = std::size_t(Slot::user);
    enum class Fuse { none, relu, sum_relu };

    // A memory and where its storage comes from: an arena, or the caller (Slot::user).
    struct Activation {
        memory mem;
        Slot slot = Slot::user;
    };
    struct Step {
        dnnl::primitive primitive;
        std::unordered_map<int, memory> args;
    };
    struct Arena {
        std::size_t bytes = 0;
        std::unique_ptr<void, decltype(&std::free)> data{nullptr, &std::free};
    };

    static dnnl::engine& engine() { return Context::get().engine; }

    // A memory whose storage is one of the arenas, bound once their sizes are known.
    memory in_arena(const memory::desc& desc, Slot slot) {
        memory mem(desc, engine(), DNNL_MEMORY_NONE);
        auto& arena = arenas_[std::size_t(slot)];
        arena.bytes = std::max(arena.bytes, desc.get_size());
        bind({mem, slot});
        return mem;
    }

    void bind(const Activation& activation) { bindings_.push_back(activation); }

    void allocate_arenas() {
        for (auto& arena : arenas_) {
            if (arena.bytes == 0) continue;
            const std::size_t rounded = (arena.bytes + 63) / 64 * 64;
            arena.data.reset(std::aligned_alloc(64, rounded));
            if (!arena.data) throw Error("out of memory allocating " + std::to_string(rounded) + " bytes for activations");
        }
        for (auto& b : bindings_) b.mem.set_data_handle(arenas_[std::size_t(b.slot)].data.get());
    }

    void add_step(dnnl::primitive primitive, std::unordered_map<int, memory> args) {
        steps_.push_back({std::move(primitive), std::move(args)});
    }

    // `activation` itself if it already has `desc`, else a reorder of it into `slot`.
    Activation conform(const Activation& activation, const memory::desc& desc, Slot slot) {
        if (activation.mem.get_desc() == desc) return activation;
        const Activation out{in_arena(desc, slot), slot};
        add_step(dnnl::reorder(activation.mem, out.mem), {{DNNL_ARG_FROM, activation.mem}, {DNNL_ARG_TO, out.mem}});
        return out;
    }

    // Weights and bias converted once into the layout the primitive chose, on this
    // thread alone (see SerialIf): a plan holds a hundred of them, mostly small.
    memory constant(const Tensor& values, const memory::dims& dims, tag plain, const memory::desc& desc) {
        memory source({dims, dt::f32, plain}, engine(), const_cast<float*>(values.data()));
        memory target(desc, engine());
        const SerialIf serial(true);
        dnnl::reorder(source, target).execute(Context::get().stream, source, target);
        Context::get().stream.wait();
        return target;
    }

    // Convolution primitive for an h x w input giving ho x wo; where (ho, wo) is
    // smaller than the natural output size the surplus bottom-right input is
    // ignored through negative right padding.
    dnnl::convolution_forward::primitive_desc conv_primitive(const FoldedConv& conv, int n, int h, int w, int ho, int wo,
                                                             Fuse fuse, const memory::desc* fixed_dst = nullptr) const {
        const auto& s = conv.spec;
        const memory::dims pad_r{(ho - 1) * s.stride + s.kernel - h - s.padding,
                                 (wo - 1) * s.stride + s.kernel - w - s.padding};
        const memory::desc src_any({n, s.in_channels, h, w}, activation_type_, tag::any);
        const memory::desc weights_any({s.out_channels, s.in_channels, s.kernel, s.kernel}, activation_type_, tag::any);
        const memory::desc bias_desc({s.out_channels}, dt::f32, tag::x);
        const memory::desc dst = fixed_dst ? *fixed_dst : memory::desc({n, s.out_channels, ho, wo}, activation_type_, tag::any);
        dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                             src_any, weights_any, bias_desc, dst, {s.stride, s.stride},
                                             {s.padding, s.padding}, pad_r);
        dnnl::post_ops ops;
        if (fuse == Fuse::sum_relu) ops.append_sum(1.f);
        if (fuse != Fuse::none) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
        dnnl::primitive_attr attr;
        attr.set_post_ops(ops);
        return dnnl::convolution_forward::primitive_desc(desc, attr, engine());
    }

    std::unordered_map<int, memory> conv_args(const dnnl::convolution_forward::primitive_desc& pd,
                                              const FoldedConv& conv, const memory& src, const memory& dst) {
        const auto& s = conv.spec;
        memory weights = constant(conv.weight, {s.out_channels, s.in_channels, s.kernel, s.kernel}, tag::oihw,
                                  pd.weights_desc());
        memory bias = constant(conv.bias, {s.out_channels}, tag::x, pd.bias_desc());
        return {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}};
    }

    // Adds a convolution of `src` (h x w) whose output is `out_size` (natural size
    // when {0, 0}; smaller to crop on the bottom-right) and returns its output.
    // `into` names a caller-owned destination (then `slot` is Slot::user).
    Activation add_conv(const FoldedConv& conv, const Activation& src, int h, int w, std::array<int, 2> out_size,
                        Fuse fuse, Slot slot, const memory::desc* fixed_dst = nullptr, const memory* into = nullptr) {
        const auto& s = conv.spec;
        const int ho = out_size[0] ? out_size[0] : s.output_size(h);
        const int wo = out_size[1] ? out_size[1] : s.output_size(w);
        // oneDNN accepts right padding down to 1 - stride; a deeper crop reads only
        // the input rows and columns the kept outputs need, through a strided view.
        const auto needed = [&](int size, int out) {
            const int used = (out - 1) * s.stride + s.kernel - s.padding;
            return size - used >= s.stride ? used : size;
        };
        const int needed_h = needed(h, ho), needed_w = needed(w, wo);
        const int n = int(src.mem.get_desc().dims()[0]);
        Activation input = src;
        if (needed_h < h || needed_w < w) {
            input.mem = memory(src.mem.get_desc().submemory_desc({n, s.in_channels, needed_h, needed_w}, {0, 0, 0, 0}),
                               engine(), DNNL_MEMORY_NONE);
            require(src.slot != Slot::user, "internal: cannot crop a caller-owned buffer");
            bind(input);
        }
        const auto pd = conv_primitive(conv, n, needed_h, needed_w, ho, wo, fuse, fixed_dst);
        const Activation dst{into ? *into : in_arena(pd.dst_desc(), slot), slot};
        add_step(dnnl::convolution_forward(pd), conv_args(pd, conv, conform(input, pd.src_desc(), Slot::reorder).mem, dst.mem));
        return dst;
    }

    // Logits: average the features over space, then the linear layer (cheaper than
    // classifying every location). Logit map: the linear layer as a 1x1 convolution
    // writing N x H' x W' x classes (nhwc) straight into the caller's buffer.
    void add_head(const Architecture& arch, const Parameters& params, const Activation& features, int n, int h, int w,
                  Output output) {
        const int channels = arch.fc.in_features, classes = arch.fc.out_features;
        const Tensor& weight = params.at(arch.fc.name + ".weight");
        const Tensor& bias = params.at(arch.fc.name + ".bias");
        if (output == Output::logit_map) {
            const memory::desc map_desc({n, classes, h, w}, dt::f32, tag::nhwc);
            output_ = {memory(map_desc, engine(), DNNL_MEMORY_NONE), Slot::user};
            const FoldedConv head{ConvSpec{arch.fc.name, channels, classes, 1, 1, 0, true}, weight, bias};
            add_conv(head, features, h, w, {}, Fuse::none, Slot::user, &map_desc, &output_.mem);
            return;
        }
        // The spatial mean as a matrix product (1/HW, ..., 1/HW) x features, per image:
        // oneDNN has no fast pooling or reduction kernel for whole-map windows. It
        // runs in f32, so the bf16 path loses no precision in the mean.
        const Activation f32_features =
            conform(features, memory::desc({n, channels, h, w}, dt::f32, tag::nhwc), Slot::reorder);
        const memory per_image(memory::desc({n, h * w, channels}, dt::f32, tag::abc), engine(), DNNL_MEMORY_NONE);
        bind({per_image, f32_features.slot});
        const Tensor averaging = xt::ones<float>({std::size_t(h * w)}) / float(h * w);
        const memory::desc averaging_desc({1, 1, h * w}, dt::f32, tag::abc);
        const memory pooled = in_arena({{n, 1, channels}, dt::f32, tag::abc}, Slot::head);
        dnnl::matmul::primitive_desc mean_pd(dnnl::matmul::desc(averaging_desc, per_image.get_desc(), pooled.get_desc()),
                                             engine());
        add_step(dnnl::matmul(mean_pd), {{DNNL_ARG_SRC, constant(averaging, {1, 1, h * w}, tag::abc, averaging_desc)},
                                         {DNNL_ARG_WEIGHTS, per_image},
                                         {DNNL_ARG_DST, pooled}});

        // The pooled N x 1 x C buffer is also an N x C matrix.
        memory features2d = in_arena({{n, channels}, dt::f32, tag::nc}, Slot::head);
        const memory::desc logits_desc({n, classes}, dt::f32, tag::nc);
        output_ = {memory(logits_desc, engine(), DNNL_MEMORY_NONE), Slot::user};
        dnnl::inner_product_forward::desc ip(dnnl::prop_kind::forward_inference, features2d.get_desc(),
                                             memory::desc({classes, channels}, dt::f32, tag::any),
                                             memory::desc({classes}, dt::f32, tag::x), logits_desc);
        dnnl::inner_product_forward::primitive_desc ip_pd(ip, engine());
        add_step(dnnl::inner_product_forward(ip_pd),
                 {{DNNL_ARG_SRC, features2d},
                  {DNNL_ARG_WEIGHTS, constant(weight, {classes, channels}, tag::oi, ip_pd.weights_desc())},
                  {DNNL_ARG_BIAS, constant(bias, {classes}, tag::x, ip_pd.bias_desc())},
                  {DNNL_ARG_DST, output_.mem}});
    }

    std::array<int, 4> input_shape_;
    dt activation_type_;
    Activation input_, output_;
    std::vector<Step> steps_;
    std::array<Arena, arena_count> arenas_;
    std::vector<Activation> bindings_;
    int map_h_ = 0, map_w_ = 0;
};

}  // namespace bagnet::onednn
