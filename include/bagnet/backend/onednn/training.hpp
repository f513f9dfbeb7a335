#pragma once
// The `cpu` backend's training ops on oneDNN's forward-training and backward
// primitives: convolution (backward data and weights), batch norm (training and
// global-statistics modes) and ReLU (backward from its output).
//
// Tensors stay plain NCHW (xtensor's layout) so the tape, the optimizers and the
// reference backend share them without conversion; primitives are created once
// per layer geometry and input shape, then reused every step.
#include <map>
#include <sstream>
#include <string>
#include <unordered_map>

#include "bagnet/backend/onednn/context.hpp"
#include "bagnet/train/ops.hpp"

namespace bagnet::train {

template <>
class TrainingOps<cpu> {
    using memory = dnnl::memory;
    using dt = memory::data_type;
    using tag = memory::format_tag;
    using prop = dnnl::prop_kind;

public:
    Tensor4 convolution(const Tensor4& x, const ConvSpec& conv, const Tensor& weight, const Tensor* bias) {
        auto& p = convolution_primitives(x, conv);
        Tensor4 y = Tensor4::from_shape(shape_of(p.forward_pd.dst_desc()));
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(p.forward_pd.src_desc(), x.data())},
                                             {DNNL_ARG_WEIGHTS, wrap(p.forward_pd.weights_desc(), weight.data())},
                                             {DNNL_ARG_DST, wrap(p.forward_pd.dst_desc(), y.data())}};
        if (bias) args[DNNL_ARG_BIAS] = wrap(p.forward_pd.bias_desc(), bias->data());
        run(p.forward, args);
        return y;
    }

    ConvGradients convolution_backward(const Tensor4& x, const Tensor4& dy, const ConvSpec& conv, const Tensor& weight,
                                       bool input_gradient) {
        auto& p = convolution_primitives(x, conv);
        ConvGradients g;
        g.weight = Tensor::from_shape(conv.weight_shape());
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(p.weights_pd.src_desc(), x.data())},
                                             {DNNL_ARG_DIFF_DST, wrap(p.weights_pd.diff_dst_desc(), dy.data())},
                                             {DNNL_ARG_DIFF_WEIGHTS, wrap(p.weights_pd.diff_weights_desc(), g.weight.data())}};
        if (conv.bias) {
            g.bias = Tensor::from_shape({std::size_t(conv.out_channels)});
            args[DNNL_ARG_DIFF_BIAS] = wrap(p.weights_pd.diff_bias_desc(), g.bias.data());
        }
        run(p.weights, args);
        if (input_gradient) {
            g.input = Tensor4::from_shape(x.shape());
            run(p.data, {{DNNL_ARG_DIFF_DST, wrap(p.data_pd.diff_dst_desc(), dy.data())},
                         {DNNL_ARG_WEIGHTS, wrap(p.data_pd.weights_desc(), weight.data())},
                         {DNNL_ARG_DIFF_SRC, wrap(p.data_pd.diff_src_desc(), g.input.data())}});
        }
        return g;
    }

    Tensor4 batch_norm_training(const Tensor4& x, const BatchNormSpec& bn, const Tensor& gamma, const Tensor& beta,
                                BatchStatistics& out) {
        auto& p = batch_norm_primitives(x, bn, true);
        const std::size_t channels = x.shape()[1];
        out = {Tensor::from_shape({channels}), Tensor::from_shape({channels})};
        Tensor4 y = Tensor4::from_shape(x.shape());
        run(p.forward, {{DNNL_ARG_SRC, wrap(p.forward_pd.src_desc(), x.data())},
                        {DNNL_ARG_DST, wrap(p.forward_pd.dst_desc(), y.data())},
                        {DNNL_ARG_SCALE, wrap(channel_desc(x), gamma.data())},
                        {DNNL_ARG_SHIFT, wrap(channel_desc(x), beta.data())},
                        {DNNL_ARG_MEAN, wrap(channel_desc(x), out.mean.data())},
                        {DNNL_ARG_VARIANCE, wrap(channel_desc(x), out.variance.data())}});
        return y;
    }

    Tensor4 batch_norm_inference(const Tensor4& x, const BatchNormSpec& bn, const Tensor& gamma, const Tensor& beta,
                                 const BatchStatistics& running) {
        auto& p = batch_norm_primitives(x, bn, false);
        Tensor4 y = Tensor4::from_shape(x.shape());
        run(p.forward, {{DNNL_ARG_SRC, wrap(p.forward_pd.src_desc(), x.data())},
                        {DNNL_ARG_DST, wrap(p.forward_pd.dst_desc(), y.data())},
                        {DNNL_ARG_SCALE, wrap(channel_desc(x), gamma.data())},
                        {DNNL_ARG_SHIFT, wrap(channel_desc(x), beta.data())},
                        {DNNL_ARG_MEAN, wrap(channel_desc(x), running.mean.data())},
                        {DNNL_ARG_VARIANCE, wrap(channel_desc(x), running.variance.data())}});
        return y;
    }

    BatchNormGradients batch_norm_backward(const Tensor4& x, const Tensor4& dy, const BatchNormSpec& bn,
                                           const Tensor& gamma, const BatchStatistics& stats, bool training,
                                           bool input_gradient) {
        auto& p = batch_norm_primitives(x, bn, training);
        const std::size_t channels = x.shape()[1];
        BatchNormGradients g{Tensor4::from_shape(x.shape()), Tensor::from_shape({channels}),
                             Tensor::from_shape({channels})};
        run(p.backward, {{DNNL_ARG_SRC, wrap(p.backward_pd.src_desc(), x.data())},
                         {DNNL_ARG_DIFF_DST, wrap(p.backward_pd.diff_dst_desc(), dy.data())},
                         {DNNL_ARG_MEAN, wrap(channel_desc(x), stats.mean.data())},
                         {DNNL_ARG_VARIANCE, wrap(channel_desc(x), stats.variance.data())},
                         {DNNL_ARG_SCALE, wrap(channel_desc(x), gamma.data())},
                         // oneDNN 2.6 insists on a shift argument that the backward pass never reads.
                         {DNNL_ARG_SHIFT, wrap(channel_desc(x), gamma.data())},
                         {DNNL_ARG_DIFF_SRC, wrap(p.backward_pd.diff_src_desc(), g.input.data())},
                         {DNNL_ARG_DIFF_SCALE, wrap(channel_desc(x), g.weight.data())},
                         {DNNL_ARG_DIFF_SHIFT, wrap(channel_desc(x), g.bias.data())}});
        if (!input_gradient) g.input = Tensor4();
        return g;
    }

    Tensor4 relu(const Tensor4& x) {
        auto& p = relu_primitives(x);
        Tensor4 y = Tensor4::from_shape(x.shape());
        run(p.forward, {{DNNL_ARG_SRC, wrap(p.forward_pd.src_desc(), x.data())},
                        {DNNL_ARG_DST, wrap(p.forward_pd.dst_desc(), y.data())}});
        return y;
    }

    Tensor4 relu_backward(const Tensor4& y, const Tensor4& dy) {
        auto& p = relu_primitives(y);
        Tensor4 dx = Tensor4::from_shape(y.shape());
        run(p.backward, {{DNNL_ARG_DST, wrap(p.forward_pd.dst_desc(), y.data())},
                         {DNNL_ARG_DIFF_DST, wrap(p.backward_pd.diff_dst_desc(), dy.data())},
                         {DNNL_ARG_DIFF_SRC, wrap(p.backward_pd.diff_src_desc(), dx.data())}});
        return dx;
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
    static constexpr std::size_t max_cached = 512;  // per kind; a changing input shape refills them

    static dnnl::engine& engine() { return onednn::Context::get().engine; }

    static memory::dims dims_of(const Tensor4& x) {
        return {memory::dim(x.shape()[0]), memory::dim(x.shape()[1]), memory::dim(x.shape()[2]), memory::dim(x.shape()[3])};
    }
    static std::array<std::size_t, 4> shape_of(const memory::desc& desc) {
        const auto d = desc.dims();
        return {std::size_t(d[0]), std::size_t(d[1]), std::size_t(d[2]), std::size_t(d[3])};
    }
    static memory::desc plain(const memory::dims& dims) { return memory::desc(dims, dt::f32, tag::nchw); }
    static memory::desc channel_desc(const Tensor4& x) { return memory::desc({memory::dim(x.shape()[1])}, dt::f32, tag::x); }
    static memory wrap(const memory::desc& desc, const float* data) {
        return memory(desc, engine(), const_cast<float*>(data));
    }
    static void run(dnnl::primitive& primitive, const std::unordered_map<int, memory>& args) {
        auto& stream = onednn::Context::get().stream;
        primitive.execute(stream, args);
        stream.wait();
    }

    template <class Map>
    static void make_room(Map& map) {
        if (map.size() >= max_cached) map.clear();
    }

    static std::string key_of(const Tensor4& x, std::initializer_list<long> extra) {
        std::ostringstream key;
        for (auto d : x.shape()) key << d << ',';
        for (auto e : extra) key << e << ',';
        return key.str();
    }

    ConvPrimitives& convolution_primitives(const Tensor4& x, const ConvSpec& c) {
        const std::string key = key_of(x, {c.in_channels, c.out_channels, c.kernel, c.stride, c.padding, c.bias});
        auto found = convolutions_.find(key);
        if (found != convolutions_.end()) return found->second;
        require(int(x.shape()[1]) == c.in_channels, c.name + " expects " + std::to_string(c.in_channels) +
                                                        " input channels, got " + shape_string(x.shape()));
        const memory::dims strides{c.stride, c.stride}, padding{c.padding, c.padding};
        const auto src = plain(dims_of(x));
        const auto weights = memory::desc({c.out_channels, c.in_channels, c.kernel, c.kernel}, dt::f32, tag::oihw);
        const auto dst = plain({memory::dim(x.shape()[0]), c.out_channels, c.output_size(int(x.shape()[2])),
                                c.output_size(int(x.shape()[3]))});
        const auto bias = c.bias ? memory::desc({c.out_channels}, dt::f32, tag::x) : memory::desc();
        const auto algorithm = dnnl::algorithm::convolution_direct;
        dnnl::convolution_forward::primitive_desc forward_pd(
            {prop::forward_training, algorithm, src, weights, bias, dst, strides, padding, padding}, engine());
        dnnl::convolution_backward_data::primitive_desc data_pd({algorithm, src, weights, dst, strides, padding, padding},
                                                                engine(), forward_pd);
        dnnl::convolution_backward_weights::primitive_desc weights_pd(
            {algorithm, src, weights, bias, dst, strides, padding, padding}, engine(), forward_pd);
        make_room(convolutions_);
        return convolutions_
            .emplace(key, ConvPrimitives{forward_pd, data_pd, weights_pd, dnnl::convolution_forward(forward_pd),
                                         dnnl::convolution_backward_data(data_pd),
                                         dnnl::convolution_backward_weights(weights_pd)})
            .first->second;
    }

    BatchNormPrimitives& batch_norm_primitives(const Tensor4& x, const BatchNormSpec& bn, bool training) {
        const std::string key = key_of(x, {training, long(bn.eps * 1e12)});
        auto found = batch_norms_.find(key);
        if (found != batch_norms_.end()) return found->second;
        require(int(x.shape()[1]) == bn.channels, bn.name + " expects " + std::to_string(bn.channels) +
                                                      " channels, got " + shape_string(x.shape()));
        using flags = dnnl::normalization_flags;
        const auto data = plain(dims_of(x));
        const float eps = float(bn.eps);
        // Evaluation mode normalises with given (running) statistics: oneDNN's global statistics.
        const flags f = training ? flags::use_scale | flags::use_shift
                                 : flags::use_scale | flags::use_shift | flags::use_global_stats;
        dnnl::batch_normalization_forward::primitive_desc forward_pd({prop::forward_training, data, eps, f}, engine());
        dnnl::batch_normalization_backward::primitive_desc backward_pd({prop::backward, data, data, eps, f}, engine(),
                                                                       forward_pd);
        make_room(batch_norms_);
        return batch_norms_
            .emplace(key, BatchNormPrimitives{forward_pd, backward_pd, dnnl::batch_normalization_forward(forward_pd),
                                              dnnl::batch_normalization_backward(backward_pd)})
            .first->second;
    }

    ReluPrimitives& relu_primitives(const Tensor4& x) {
        const std::string key = key_of(x, {});
        auto found = relus_.find(key);
        if (found != relus_.end()) return found->second;
        const auto data = plain(dims_of(x));
        // The output decides the gradient, so the input need not be kept.
        const auto algorithm = dnnl::algorithm::eltwise_relu_use_dst_for_bwd;
        dnnl::eltwise_forward::primitive_desc forward_pd({prop::forward_training, algorithm, data, 0.f, 0.f}, engine());
        dnnl::eltwise_backward::primitive_desc backward_pd({algorithm, data, data, 0.f, 0.f}, engine(), forward_pd);
        make_room(relus_);
        return relus_
            .emplace(key, ReluPrimitives{forward_pd, backward_pd, dnnl::eltwise_forward(forward_pd),
                                         dnnl::eltwise_backward(backward_pd)})
            .first->second;
    }

    std::map<std::string, ConvPrimitives> convolutions_;
    std::map<std::string, BatchNormPrimitives> batch_norms_;
    std::map<std::string, ReluPrimitives> relus_;
};

}  // namespace bagnet::train
