#pragma once
// The `cpu` backend's training ops on oneDNN's forward-training and backward
// primitives: convolution (backward data and weights), batch norm (training and
// global-statistics modes, with ReLU fused in), ReLU, max- and average pooling and the
// residual crop-and-add.
//
// Why it is fast: activations and their gradients stay in the layouts oneDNN
// picks for its fast kernels (format_tag::any on the convolutions, typically
// nChw16c), so the direct jit convolutions and batch norms run instead of the
// gemm and plain-layout ones; reorders happen only where a primitive asks for a
// layout its input does not have (the network's input, the spatial mean, and
// weights and weight gradients, which stay plain OIHW for the optimizer).
// Backward passes write into the storage of the gradient they consume, storage
// comes from a pool that reuses it step after step, and primitives are created
// once per layer geometry and input layout.
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_map>

#include "bagnet/backend/cpu/buffer_pool.hpp"
#include "bagnet/backend/cpu/context.hpp"
#include "bagnet/backend/cpu/kernel_log.hpp"
#include "bagnet/backend/backend.hpp"
#include "bagnet/layers/contract.hpp"

namespace bagnet::train {

template <>
class TrainingOps<cpu> {
    using memory = dnnl::memory;
    using dt = memory::data_type;
    using tag = memory::format_tag;
    using prop = dnnl::prop_kind;
    using flags = dnnl::normalization_flags;

public:
    // A oneDNN memory and the storage behind it (a pool buffer, or a tensor moved in).
    struct Buffer {
        memory mem;
        std::shared_ptr<void> storage;
    };
    // An activation or gradient in whatever layout produced it.
    struct Value {
        Buffer data;
        Buffer workspace;  // output of a batch norm with ReLU inside: which values the ReLU clipped
    };

    Value import(Tensor4 x) {
        auto owner = std::make_shared<Tensor4>(std::move(x));
        const memory mem(plain(dims_of(owner->shape())), engine(), owner->data());
        return {{mem, std::move(owner)}, {}};
    }

    Tensor4 to_tensor(const Value& x) {
        const auto dims = x.data.mem.get_desc().dims();
        Tensor4 out = Tensor4::from_shape(
            {std::size_t(dims[0]), std::size_t(dims[1]), std::size_t(dims[2]), std::size_t(dims[3])});
        reorder(x.data.mem, memory(plain(dims), engine(), out.data()));
        return out;
    }

    Value convolution(const Value& x, const ConvSpec& conv, const Tensor& weight, const Tensor* bias) {
        auto& p = convolution_primitives(x, conv);
        const Buffer src = conform(x.data, p.forward_pd.src_desc());
        const Buffer w = weights_in(weight, conv, p.forward_pd.weights_desc());
        Value y{allocate(p.forward_pd.dst_desc()), {}};
        std::unordered_map<int, memory> args{
            {DNNL_ARG_SRC, src.mem}, {DNNL_ARG_WEIGHTS, w.mem}, {DNNL_ARG_DST, y.data.mem}};
        if (bias) args[DNNL_ARG_BIAS] = wrap(p.forward_pd.bias_desc(), bias->data());
        run(p.forward, args);
        return y;
    }

    LayerGradients<Value> convolution_backward(const Value& x, Value dy, const ConvSpec& conv,
                                               const Tensor& weight, bool input_gradient) {
        auto& p = convolution_primitives(x, conv);
        LayerGradients<Value> g;
        g.weight = Tensor::from_shape(conv.weight_shape());
        const memory plain_weights = wrap(weights_plain(conv), g.weight.data());
        const memory::desc weights_desc = p.weights_pd.diff_weights_desc();
        const Buffer diff_weights =
            weights_desc == plain_weights.get_desc() ? Buffer{plain_weights, {}} : allocate(weights_desc);
        // Named, so that their storage outlives the primitive's run.
        const Buffer src = conform(x.data, p.weights_pd.src_desc());
        const Buffer diff_dst = conform(dy.data, p.weights_pd.diff_dst_desc());
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src.mem},
                                             {DNNL_ARG_DIFF_DST, diff_dst.mem},
                                             {DNNL_ARG_DIFF_WEIGHTS, diff_weights.mem}};
        if (conv.bias) {
            g.bias = Tensor::from_shape({std::size_t(conv.out_channels)});
            args[DNNL_ARG_DIFF_BIAS] = wrap(p.weights_pd.diff_bias_desc(), g.bias.data());
        }
        run(p.weights, args);
        if (diff_weights.mem != plain_weights) reorder(diff_weights.mem, plain_weights);
        if (input_gradient) {
            g.input.data = allocate(p.data_pd.diff_src_desc());
            run(p.data, {{DNNL_ARG_DIFF_DST, conform(dy.data, p.data_pd.diff_dst_desc()).mem},
                         {DNNL_ARG_WEIGHTS, weights_in(weight, conv, p.data_pd.weights_desc()).mem},
                         {DNNL_ARG_DIFF_SRC, g.input.data.mem}});
        }
        return g;
    }

    Value batch_norm_training(const Value& x, const BatchNormSpec& bn, const Tensor& gamma,
                              const Tensor& beta, BatchStatistics& out, bool relu) {
        const std::size_t channels = std::size_t(bn.channels);
        out = {Tensor::from_shape({channels}), Tensor::from_shape({channels})};
        return batch_norm_forward(x, bn, gamma, beta, out, true, relu);
    }

    Value batch_norm_inference(const Value& x, const BatchNormSpec& bn, const Tensor& gamma,
                               const Tensor& beta, const BatchStatistics& running, bool relu) {
        return batch_norm_forward(x, bn, gamma, beta, running, false, relu);
    }

    LayerGradients<Value> batch_norm_backward(const Value& x, const Value& y, Value dy,
                                              const BatchNormSpec& bn, const Tensor& gamma,
                                              const BatchStatistics& stats, bool training, bool relu,
                                              bool input_gradient) {
        auto& p = batch_norm_primitives(x.data.mem.get_desc(), bn, training, relu);
        const std::size_t channels = std::size_t(bn.channels);
        LayerGradients<Value> g{{}, Tensor::from_shape({channels}), Tensor::from_shape({channels})};
        // The gradient is computed in place: dy is not needed afterwards.
        const Buffer diff = conform(dy.data, p.backward_pd.diff_dst_desc());
        const memory::desc c = channel_desc(bn);
        std::unordered_map<int, memory> args{
            {DNNL_ARG_SRC, x.data.mem},
            {DNNL_ARG_DIFF_DST, diff.mem},
            {DNNL_ARG_MEAN, wrap(c, stats.mean.data())},
            {DNNL_ARG_VARIANCE, wrap(c, stats.variance.data())},
            {DNNL_ARG_SCALE, wrap(c, gamma.data())},
            // oneDNN 2.6 insists on a shift argument that the backward pass never reads.
            {DNNL_ARG_SHIFT, wrap(c, gamma.data())},
            {DNNL_ARG_DIFF_SRC, diff.mem},
            {DNNL_ARG_DIFF_SCALE, wrap(c, g.weight.data())},
            {DNNL_ARG_DIFF_SHIFT, wrap(c, g.bias.data())}};
        if (relu) args[DNNL_ARG_WORKSPACE] = y.workspace.mem;
        run(p.backward, args);
        if (input_gradient) g.input.data = diff;
        return g;
    }

    Value relu(const Value& x) {
        auto& p = relu_primitives(x.data.mem.get_desc());
        Value y{allocate(p.forward_pd.dst_desc()), {}};
        run(p.forward, {{DNNL_ARG_SRC, x.data.mem}, {DNNL_ARG_DST, y.data.mem}});
        return y;
    }

    Value relu_backward(const Value& y, Value dy) {
        auto& p = relu_primitives(y.data.mem.get_desc());
        const Buffer diff = conform(dy.data, p.backward_pd.diff_dst_desc());
        run(p.backward,
            {{DNNL_ARG_DST, y.data.mem}, {DNNL_ARG_DIFF_DST, diff.mem}, {DNNL_ARG_DIFF_SRC, diff.mem}});
        return {diff, {}};
    }

    // The output keeps the workspace (where each window's maximum was) for the backward pass.
    Value max_pool(const Value& x, const MaxPoolSpec& pool) {
        auto& p = pool_primitives(x.data.mem.get_desc(), pool.window(), dnnl::algorithm::pooling_max);
        Value y{allocate(p.forward_pd.dst_desc()), allocate(p.forward_pd.workspace_desc())};
        run(p.forward, {{DNNL_ARG_SRC, x.data.mem}, {DNNL_ARG_DST, y.data.mem}, {DNNL_ARG_WORKSPACE, y.workspace.mem}});
        return y;
    }

    Value max_pool_backward(const Value& x, const Value& y, Value dy, const MaxPoolSpec& pool) {
        auto& p = pool_primitives(x.data.mem.get_desc(), pool.window(), dnnl::algorithm::pooling_max);
        const Buffer diff = conform(dy.data, p.backward_pd.diff_dst_desc());
        Value dx{allocate(p.backward_pd.diff_src_desc()), {}};
        run(p.backward,
            {{DNNL_ARG_DIFF_DST, diff.mem}, {DNNL_ARG_DIFF_SRC, dx.data.mem}, {DNNL_ARG_WORKSPACE, y.workspace.mem}});
        return dx;
    }

    // Padding counted in every window's divisor, as PyTorch's AvgPool2d does by default.
    Value average_pool(const Value& x, const AveragePoolSpec& pool) {
        auto& p = pool_primitives(x.data.mem.get_desc(), pool.window(), dnnl::algorithm::pooling_avg_include_padding);
        Value y{allocate(p.forward_pd.dst_desc()), {}};
        run(p.forward, {{DNNL_ARG_SRC, x.data.mem}, {DNNL_ARG_DST, y.data.mem}});
        return y;
    }

    Value average_pool_backward(const Value& x, const Value& /*y*/, Value dy, const AveragePoolSpec& pool) {
        auto& p = pool_primitives(x.data.mem.get_desc(), pool.window(), dnnl::algorithm::pooling_avg_include_padding);
        const Buffer diff = conform(dy.data, p.backward_pd.diff_dst_desc());
        Value dx{allocate(p.backward_pd.diff_src_desc()), {}};
        run(p.backward, {{DNNL_ARG_DIFF_DST, diff.mem}, {DNNL_ARG_DIFF_SRC, dx.data.mem}});
        return dx;
    }

    // The shortcut's top-left, in main's layout, then one binary add (with the ReLU
    // as its post-op): oneDNN's binary kernels are fast only on dense operands.
    Value add_cropped(const Value& main, const Value& shortcut, bool relu, bool overwrite_main) {
        const memory::desc desc = main.data.mem.get_desc();
        const Buffer cropped = conform(cropped_view(shortcut.data.mem, desc.dims()), desc);
        auto& p = add_primitives(desc, relu);
        // oneDNN 2.6's binary kernel gets a ReLU post-op wrong in place when the channels do not
        // fill their blocks (padded to 16): such a sum gets storage of its own.
        const bool padded = desc.data.padded_dims[1] != desc.data.dims[1];
        Value sum{overwrite_main && !(relu && padded) ? main.data : allocate(desc), {}};
        run(p.primitive,
            {{DNNL_ARG_SRC_0, main.data.mem}, {DNNL_ARG_SRC_1, cropped.mem}, {DNNL_ARG_DST, sum.data.mem}});
        return sum;
    }

    Value uncrop(const Value& dy, const Value& shortcut) {
        const memory::desc desc = shortcut.data.mem.get_desc();
        Value d{allocate(desc), {}};
        const auto dims = dy.data.mem.get_desc().dims();
        if (dims != desc.dims()) std::memset(d.data.storage.get(), 0, desc.get_size());
        reorder(dy.data.mem, cropped_view(d.data.mem, dims));
        return d;
    }

    void add_to(Value& sum, const Value& g) {
        const Buffer addend = conform(g.data, sum.data.mem.get_desc());
        // Equal descriptions: the same element at the same offset, padding included (zeros in both).
        float* out = static_cast<float*>(sum.data.mem.get_data_handle());
        const float* in = static_cast<const float*>(addend.mem.get_data_handle());
        const std::ptrdiff_t n = std::ptrdiff_t(sum.data.mem.get_desc().get_size() / sizeof(float));
#pragma omp parallel for simd schedule(static)
        for (std::ptrdiff_t i = 0; i < n; ++i) out[i] += in[i];
    }

private:
    struct ConvPrimitives {
        dnnl::convolution_forward::primitive_desc forward_pd;
        dnnl::convolution_backward_data::primitive_desc data_pd;
        dnnl::convolution_backward_weights::primitive_desc weights_pd;
        dnnl::primitive forward, data, weights;
    };
    struct BatchNormPrimitives {
        dnnl::batch_normalization_forward::primitive_desc forward_pd;
        dnnl::batch_normalization_backward::primitive_desc backward_pd;
        dnnl::primitive forward, backward;
    };
    struct ReluPrimitives {
        dnnl::eltwise_forward::primitive_desc forward_pd;
        dnnl::eltwise_backward::primitive_desc backward_pd;
        dnnl::primitive forward, backward;
    };
    struct PoolPrimitives {
        dnnl::pooling_forward::primitive_desc forward_pd;
        dnnl::pooling_backward::primitive_desc backward_pd;
        dnnl::primitive forward, backward;
    };
    struct AddPrimitive {
        dnnl::binary::primitive_desc pd;
        dnnl::primitive primitive;
    };
    static constexpr std::size_t max_cached = config::cached_training_primitives;

    static dnnl::engine& engine() { return backend::cpu::Context::get().engine; }

    template <class Shape>
    static memory::dims dims_of(const Shape& shape) {
        return {memory::dim(shape[0]), memory::dim(shape[1]), memory::dim(shape[2]), memory::dim(shape[3])};
    }
    static memory::desc plain(const memory::dims& dims) { return memory::desc(dims, dt::f32, tag::nchw); }
    static memory::desc any(const memory::dims& dims) { return memory::desc(dims, dt::f32, tag::any); }
    static memory::desc weights_plain(const ConvSpec& c) {
        return memory::desc({c.out_channels, c.in_channels, c.kernel, c.kernel}, dt::f32, tag::oihw);
    }
    static memory::desc channel_desc(const BatchNormSpec& bn) {
        return memory::desc({bn.channels}, dt::f32, tag::x);
    }
    static memory wrap(const memory::desc& desc, const float* data) {
        return memory(desc, engine(), const_cast<float*>(data));
    }
    // A view of the top-left `dims` of `mem` (mem itself when the sizes agree).
    static memory cropped_view(const memory& mem, const memory::dims& dims) {
        const memory::desc desc = mem.get_desc();
        if (desc.dims() == dims) return mem;
        return memory(desc.submemory_desc(dims, {0, 0, 0, 0}), engine(), mem.get_data_handle());
    }
    static void run(const dnnl::primitive& primitive, const std::unordered_map<int, memory>& args) {
        auto& stream = backend::cpu::Context::get().stream;
        primitive.execute(stream, args);
        stream.wait();
    }
    // Small reorders (most of them are weights, three per convolution and step) run on the calling
    // thread (see backend::cpu::SerialIf).
    static void reorder(const memory& from, const memory& to) {
        const backend::cpu::SerialIf serial(to.get_desc().get_size() <= backend::cpu::serial_reorder_bytes);
        run(backend::cpu::recorded_reorder(from, to), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
    }

    Buffer allocate(const memory::desc& desc) {
        std::shared_ptr<void> storage = pool_->get(desc.get_size());
        return {memory(desc, engine(), storage.get()), std::move(storage)};
    }
    // `buffer` itself when it has `desc`, else a reordered copy.
    Buffer conform(const Buffer& buffer, const memory::desc& desc) {
        return conform(buffer.mem, desc, buffer);
    }
    Buffer conform(const memory& mem, const memory::desc& desc, const Buffer& owner = {}) {
        if (mem.get_desc() == desc) return {mem, owner.storage};
        Buffer out = allocate(desc);
        reorder(mem, out.mem);
        return out;
    }
    // The weights in the layout a primitive chose (they change every step, so they are reordered every time).
    Buffer weights_in(const Tensor& weight, const ConvSpec& conv, const memory::desc& desc) {
        return conform(wrap(weights_plain(conv), weight.data()), desc);
    }

    Value batch_norm_forward(const Value& x, const BatchNormSpec& bn, const Tensor& gamma, const Tensor& beta,
                             const BatchStatistics& stats, bool training, bool relu) {
        auto& p = batch_norm_primitives(x.data.mem.get_desc(), bn, training, relu);
        Value y{allocate(p.forward_pd.dst_desc()), relu ? allocate(p.forward_pd.workspace_desc()) : Buffer{}};
        const memory::desc c = channel_desc(bn);
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, x.data.mem},
                                             {DNNL_ARG_DST, y.data.mem},
                                             {DNNL_ARG_SCALE, wrap(c, gamma.data())},
                                             {DNNL_ARG_SHIFT, wrap(c, beta.data())},
                                             {DNNL_ARG_MEAN, wrap(c, stats.mean.data())},
                                             {DNNL_ARG_VARIANCE, wrap(c, stats.variance.data())}};
        if (relu) args[DNNL_ARG_WORKSPACE] = y.workspace.mem;
        run(p.forward, args);
        return y;
    }

    template <class Map>
    static void make_room(Map& map) {
        if (map.size() >= max_cached) map.clear();
    }

    // Everything that distinguishes one memory layout from another, as a cache key.
    static std::string layout_key(const memory::desc& desc) {
        const dnnl_memory_desc_t& d = desc.data;
        std::ostringstream key;
        key << int(d.data_type) << ':' << int(d.format_kind) << ':' << d.offset0 << ':';
        for (int i = 0; i < d.ndims; ++i)
            key << d.dims[i] << '/' << d.padded_dims[i] << '/' << d.padded_offsets[i] << ',';
        if (d.format_kind == dnnl_blocked) {
            const auto& b = d.format_desc.blocking;
            for (int i = 0; i < d.ndims; ++i) key << 's' << b.strides[i];
            for (int i = 0; i < b.inner_nblks; ++i) key << 'b' << b.inner_blks[i] << 'i' << b.inner_idxs[i];
        }
        return key.str();
    }

    ConvPrimitives& convolution_primitives(const Value& x, const ConvSpec& c) {
        const memory::dims src_dims = x.data.mem.get_desc().dims();
        std::ostringstream key;
        for (auto d : src_dims) key << d << ',';
        key << c.in_channels << ',' << c.out_channels << ',' << c.kernel << ',' << c.stride << ','
            << c.padding << ',' << c.bias << ',' << c.dilation;
        auto found = convolutions_.find(key.str());
        if (found != convolutions_.end()) return found->second;
        // oneDNN counts dilation from 0 (PyTorch's 1 is its 0).
        const memory::dims strides{c.stride, c.stride}, padding{c.padding, c.padding},
            dilates{c.dilation - 1, c.dilation - 1};
        const auto src = any(src_dims);
        const auto weights = any({c.out_channels, c.in_channels, c.kernel, c.kernel});
        const auto dst = any(
            {src_dims[0], c.out_channels, c.output_size(int(src_dims[2])), c.output_size(int(src_dims[3]))});
        const auto bias = c.bias ? memory::desc({c.out_channels}, dt::f32, tag::x) : memory::desc();
        const auto algorithm = dnnl::algorithm::convolution_direct;
        // The forward primitive's choices are the hints for the backward ones, so all three agree on layouts.
        const auto forward_pd = backend::cpu::recorded(dnnl::convolution_forward::primitive_desc(
            {prop::forward_training, algorithm, src, weights, bias, dst, strides, dilates, padding, padding}, engine()));
        const auto data_pd = backend::cpu::recorded(dnnl::convolution_backward_data::primitive_desc(
            {algorithm, src, weights, dst, strides, dilates, padding, padding}, engine(), forward_pd));
        const auto weights_pd = backend::cpu::recorded(dnnl::convolution_backward_weights::primitive_desc(
            {algorithm, src, weights, bias, dst, strides, dilates, padding, padding}, engine(), forward_pd));
        make_room(convolutions_);
        return convolutions_
            .emplace(key.str(),
                     ConvPrimitives{forward_pd, data_pd, weights_pd, dnnl::convolution_forward(forward_pd),
                                    dnnl::convolution_backward_data(data_pd),
                                    dnnl::convolution_backward_weights(weights_pd)})
            .first->second;
    }

    // Batch norm runs in its input's layout (a convolution's output: blocked, where its fast kernels are).
    BatchNormPrimitives& batch_norm_primitives(const memory::desc& data, const BatchNormSpec& bn,
                                               bool training, bool relu) {
        std::ostringstream key;
        key << layout_key(data) << training << relu << bn.eps;
        auto found = batch_norms_.find(key.str());
        if (found != batch_norms_.end()) return found->second;
        const float eps = float(bn.eps);
        // Evaluation mode normalises with given (running) statistics: oneDNN's global statistics.
        flags f = flags::use_scale | flags::use_shift;
        if (!training) f |= flags::use_global_stats;
        if (relu) f |= flags::fuse_norm_relu;
        const auto forward_pd = backend::cpu::recorded(
            dnnl::batch_normalization_forward::primitive_desc({prop::forward_training, data, eps, f}, engine()));
        const auto backward_pd = backend::cpu::recorded(
            dnnl::batch_normalization_backward::primitive_desc({prop::backward, data, data, eps, f}, engine(), forward_pd));
        make_room(batch_norms_);
        return batch_norms_
            .emplace(key.str(), BatchNormPrimitives{forward_pd, backward_pd,
                                                    dnnl::batch_normalization_forward(forward_pd),
                                                    dnnl::batch_normalization_backward(backward_pd)})
            .first->second;
    }

    ReluPrimitives& relu_primitives(const memory::desc& data) {
        const std::string key = layout_key(data);
        auto found = relus_.find(key);
        if (found != relus_.end()) return found->second;
        // The output decides the gradient, so the input need not be kept.
        const auto algorithm = dnnl::algorithm::eltwise_relu_use_dst_for_bwd;
        const auto forward_pd = backend::cpu::recorded(
            dnnl::eltwise_forward::primitive_desc({prop::forward_training, algorithm, data, 0.f, 0.f}, engine()));
        const auto backward_pd = backend::cpu::recorded(
            dnnl::eltwise_backward::primitive_desc({algorithm, data, data, 0.f, 0.f}, engine(), forward_pd));
        make_room(relus_);
        return relus_
            .emplace(key, ReluPrimitives{forward_pd, backward_pd, dnnl::eltwise_forward(forward_pd),
                                         dnnl::eltwise_backward(backward_pd)})
            .first->second;
    }

    PoolPrimitives& pool_primitives(const memory::desc& data, const Window& pool, dnnl::algorithm algorithm) {
        const std::string key = layout_key(data) + "a" + std::to_string(int(algorithm)) + "k" +
                                std::to_string(pool.extent) + "s" + std::to_string(pool.stride) + "p" +
                                std::to_string(pool.padding);
        auto found = pools_.find(key);
        if (found != pools_.end()) return found->second;
        const auto dims = data.dims();
        const int h = int(dims[2]), w = int(dims[3]), ho = pool.output_size(h), wo = pool.output_size(w);
        const memory::dims strides{pool.stride, pool.stride}, kernel{pool.extent, pool.extent},
            padding{pool.padding, pool.padding},
            padding_r{(ho - 1) * pool.stride + pool.extent - h - pool.padding,
                      (wo - 1) * pool.stride + pool.extent - w - pool.padding};
        const memory::desc out = any({dims[0], dims[1], ho, wo});
        const auto forward_pd = backend::cpu::recorded(dnnl::pooling_forward::primitive_desc(
            {prop::forward_training, algorithm, data, out, strides, kernel, padding, padding_r}, engine()));
        const auto backward_pd = backend::cpu::recorded(dnnl::pooling_backward::primitive_desc(
            {algorithm, data, forward_pd.dst_desc(), strides, kernel, padding, padding_r}, engine(), forward_pd));
        make_room(pools_);
        return pools_
            .emplace(key, PoolPrimitives{forward_pd, backward_pd, dnnl::pooling_forward(forward_pd),
                                         dnnl::pooling_backward(backward_pd)})
            .first->second;
    }

    AddPrimitive& add_primitives(const memory::desc& data, bool relu) {
        const std::string key = layout_key(data) + (relu ? "relu" : "");
        auto found = adds_.find(key);
        if (found != adds_.end()) return found->second;
        dnnl::post_ops ops;
        if (relu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
        dnnl::primitive_attr attr;
        attr.set_post_ops(ops);
        const auto pd = backend::cpu::recorded(
            dnnl::binary::primitive_desc({dnnl::algorithm::binary_add, data, data, data}, attr, engine()));
        make_room(adds_);
        return adds_.emplace(key, AddPrimitive{pd, dnnl::binary(pd)}).first->second;
    }

    std::shared_ptr<backend::cpu::BufferPool> pool_ = backend::cpu::BufferPool::create();
    std::map<std::string, ConvPrimitives> convolutions_;
    std::map<std::string, BatchNormPrimitives> batch_norms_;
    std::map<std::string, ReluPrimitives> relus_;
    std::map<std::string, AddPrimitive> adds_;
    std::map<std::string, PoolPrimitives> pools_;
};

}  // namespace bagnet::train
