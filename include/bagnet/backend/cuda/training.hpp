#pragma once
// The `cuda` backend's training ops: the same generic backprop, train_step,
// train_epoch, fit and input gradients as on the CPU, on an NVIDIA GPU.
//
// Activations and their gradients stay on the GPU (channels-first fp32) from the
// input's import to the spatial mean before the head: only the parameters
// (uploaded where a layer uses them), the parameter gradients and the batch
// statistics (both small) cross the bus. Convolutions run on cuDNN (forward,
// backward data and backward filter, strict fp32 so that training matches the
// reference), and so do poolings (max-pools deterministic); batch norm, ReLU and the
// residual crop on bagnet's kernels, which sum in double. Device memory comes from
// CUDA's stream-ordered allocator, so a step reuses the memory of the last one
// without synchronising.
#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "bagnet/backend/cuda/kernels.hpp"
#include "bagnet/backend/cuda/runtime.hpp"
#include "bagnet/backend/backend.hpp"
#include "bagnet/layers/contract.hpp"

namespace bagnet::train {

template <>
class TrainingOps<cuda> {
public:
    // N x C x H x W fp32 on the GPU; copies share the storage.
    struct Value {
        std::shared_ptr<void> storage;
        std::array<int, 4> shape{};
        float* data() const { return static_cast<float*>(storage.get()); }
        std::size_t size() const { return std::size_t(shape[0]) * shape[1] * shape[2] * shape[3]; }
        int positions() const { return shape[2] * shape[3]; }
    };

    TrainingOps() : queue_(make_queue()) {}

    Value import(Tensor4 x) {
        Value v = allocate({int(x.shape()[0]), int(x.shape()[1]), int(x.shape()[2]), int(x.shape()[3])});
        backend::cuda::upload(v.data(), x.data(), x.size() * sizeof(float), *queue_);
        return v;
    }

    Tensor4 to_tensor(const Value& x) {
        Tensor4 out = Tensor4::from_shape({std::size_t(x.shape[0]), std::size_t(x.shape[1]), std::size_t(x.shape[2]),
                                           std::size_t(x.shape[3])});
        backend::cuda::download(out.data(), x.data(), out.size() * sizeof(float), *queue_);
        return out;
    }

    Value convolution(const Value& x, const ConvSpec& conv, const Tensor& weight, const Tensor* bias) {
        ConvPlan& p = plan(x, conv);
        const auto w = upload(weight);
        Value y = allocate(p.out);
        const float one = 1.f, zero = 0.f;
        backend::cuda::check(cudnnConvolutionForward(q().cudnn, &one, p.x, x.data(), p.w, w.get(), p.conv, p.forward,
                                           workspace(p.workspace), p.workspace, &zero, p.y, y.data()),
                   "cudnnConvolutionForward");
        if (bias) {
            const auto b = upload(*bias);
            backend::cuda::check(cudnnAddTensor(q().cudnn, &one, p.bias, b.get(), &one, p.y, y.data()), "cudnnAddTensor");
        }
        return y;
    }

    LayerGradients<Value> convolution_backward(const Value& x, Value dy, const ConvSpec& conv, const Tensor& weight,
                                               bool input_gradient) {
        ConvPlan& p = plan(x, conv);
        const float one = 1.f, zero = 0.f;
        LayerGradients<Value> g;
        const auto dw = allocate_bytes(weight.size() * sizeof(float));
        backend::cuda::check(cudnnConvolutionBackwardFilter(q().cudnn, &one, p.x, x.data(), p.y, dy.data(), p.conv, p.filter,
                                                  workspace(p.workspace), p.workspace, &zero, p.w, dw.get()),
                   "cudnnConvolutionBackwardFilter");
        g.weight = download(dw.get(), conv.weight_shape());
        if (conv.bias) {
            const auto db = allocate_bytes(std::size_t(conv.out_channels) * sizeof(float));
            backend::cuda::check(cudnnConvolutionBackwardBias(q().cudnn, &one, p.y, dy.data(), &zero, p.bias, db.get()),
                       "cudnnConvolutionBackwardBias");
            g.bias = download(db.get(), {std::size_t(conv.out_channels)});
        }
        if (input_gradient) {
            const auto w = upload(weight);
            g.input = allocate(x.shape);
            backend::cuda::check(cudnnConvolutionBackwardData(q().cudnn, &one, p.w, w.get(), p.y, dy.data(), p.conv, p.data,
                                                    workspace(p.workspace), p.workspace, &zero, p.x, g.input.data()),
                       "cudnnConvolutionBackwardData");
        }
        return g;
    }

    Value batch_norm_training(const Value& x, const BatchNormSpec& bn, const Tensor& gamma, const Tensor& beta,
                              BatchStatistics& out, bool relu) {
        const int c = x.shape[1];
        const auto mean = allocate_bytes(std::size_t(c) * sizeof(float));
        const auto variance = allocate_bytes(std::size_t(c) * sizeof(float));
        backend::cuda::channel_moments(x.data(), x.shape[0], c, x.positions(), as_float(mean), as_float(variance), stream());
        out = {download(mean.get(), {std::size_t(c)}), download(variance.get(), {std::size_t(c)})};
        return normalize(x, bn, gamma, beta, as_float(mean), as_float(variance), relu);
    }

    Value batch_norm_inference(const Value& x, const BatchNormSpec& bn, const Tensor& gamma, const Tensor& beta,
                               const BatchStatistics& running, bool relu) {
        const auto mean = upload(running.mean), variance = upload(running.variance);
        return normalize(x, bn, gamma, beta, as_float(mean), as_float(variance), relu);
    }

    LayerGradients<Value> batch_norm_backward(const Value& x, const Value& y, Value dy, const BatchNormSpec& bn,
                                              const Tensor& gamma, const BatchStatistics& stats, bool training,
                                              bool relu, bool input_gradient) {
        const int c = x.shape[1];
        const auto mean = upload(stats.mean), variance = upload(stats.variance), g_gamma = upload(gamma);
        const auto sum_dz = allocate_bytes(std::size_t(c) * sizeof(float));
        const auto sum_dz_xhat = allocate_bytes(std::size_t(c) * sizeof(float));
        const float* mask = relu ? y.data() : nullptr;
        backend::cuda::batch_norm_backward_sums(x.data(), mask, dy.data(), as_float(mean), as_float(variance), float(bn.eps),
                                      x.shape[0], c, x.positions(), as_float(sum_dz), as_float(sum_dz_xhat), stream());
        LayerGradients<Value> g;
        g.weight = download(sum_dz_xhat.get(), {std::size_t(c)});
        g.bias = download(sum_dz.get(), {std::size_t(c)});
        if (input_gradient) {
            backend::cuda::batch_norm_backward_input(x.data(), mask, dy.data(), dy.data(), as_float(mean), as_float(variance),
                                           as_float(g_gamma), as_float(sum_dz), as_float(sum_dz_xhat), float(bn.eps),
                                           training, x.shape[0], c, x.positions(), stream());
            g.input = std::move(dy);
        }
        return g;
    }

    Value relu(const Value& x) {
        Value y = allocate(x.shape);
        backend::cuda::relu(x.data(), y.data(), x.size(), stream());
        return y;
    }

    Value relu_backward(const Value& y, Value dy) {
        backend::cuda::relu_backward(y.data(), dy.data(), dy.size(), stream());
        return dy;
    }

    Value max_pool(const Value& x, const MaxPoolSpec& pool) {
        return pool_forward(x, pool_plan(x, pool.window(), CUDNN_POOLING_MAX_DETERMINISTIC));
    }
    Value max_pool_backward(const Value& x, const Value& y, Value dy, const MaxPoolSpec& pool) {
        return pool_backward(x, y, dy, pool_plan(x, pool.window(), CUDNN_POOLING_MAX_DETERMINISTIC));
    }
    // Padding counted in every window's divisor, as PyTorch's AvgPool2d does by default.
    Value average_pool(const Value& x, const AveragePoolSpec& pool) {
        return pool_forward(x, pool_plan(x, pool.window(), CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING));
    }
    Value average_pool_backward(const Value& x, const Value& y, Value dy, const AveragePoolSpec& pool) {
        return pool_backward(x, y, dy, pool_plan(x, pool.window(), CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING));
    }

    Value add_cropped(const Value& main, const Value& shortcut, bool relu, bool overwrite_main) {
        Value sum = main;
        if (!overwrite_main) {
            sum = allocate(main.shape);
            backend::cuda::check(cudaMemcpyAsync(sum.data(), main.data(), main.size() * sizeof(float), cudaMemcpyDeviceToDevice,
                                       stream()),
                       "cudaMemcpyAsync");
        }
        backend::cuda::bias_shortcut_relu(sum.data(), backend::cuda::DataType::fp32, backend::cuda::Layout::nchw, nullptr, shortcut.data(),
                                shortcut.shape[2], shortcut.shape[3], main.shape[0], main.shape[2], main.shape[3],
                                main.shape[1], relu, stream());
        return sum;
    }

    Value uncrop(const Value& dy, const Value& shortcut) {
        Value out = allocate(shortcut.shape);
        backend::cuda::check(cudaMemsetAsync(out.data(), 0, out.size() * sizeof(float), stream()), "cudaMemsetAsync");
        backend::cuda::uncrop(dy.data(), out.data(), dy.shape[0] * dy.shape[1], dy.shape[2], dy.shape[3], shortcut.shape[2],
                    shortcut.shape[3], stream());
        return out;
    }

    void add_to(Value& sum, const Value& g) { backend::cuda::accumulate(sum.data(), g.data(), sum.size(), stream()); }

private:
    // cuDNN's descriptors and algorithms for one convolution at one input shape.
    struct ConvPlan {
        backend::cuda::TensorDescriptor x{"cudnnCreateTensorDescriptor"}, y{"cudnnCreateTensorDescriptor"};
        backend::cuda::TensorDescriptor bias{"cudnnCreateTensorDescriptor"};
        backend::cuda::FilterDescriptor w{"cudnnCreateFilterDescriptor"};
        backend::cuda::ConvolutionDescriptor conv{"cudnnCreateConvolutionDescriptor"};
        std::array<int, 4> out{};
        cudnnConvolutionFwdAlgo_t forward{};
        cudnnConvolutionBwdDataAlgo_t data{};
        cudnnConvolutionBwdFilterAlgo_t filter{};
        std::size_t workspace = 0;
    };
    using ConvKey = std::tuple<std::array<int, 4>, int, int, int, int, int, int>;

    // cuDNN's descriptors for one pooling at one input shape.
    struct PoolPlan {
        backend::cuda::TensorDescriptor x{"cudnnCreateTensorDescriptor"}, y{"cudnnCreateTensorDescriptor"};
        backend::cuda::PoolingDescriptor pool{"cudnnCreatePoolingDescriptor"};
        std::array<int, 4> out{};
    };
    using PoolKey = std::tuple<std::array<int, 4>, int, int, int, int>;

    static std::shared_ptr<backend::cuda::Queue> make_queue() {
        backend::cuda::require_gpu();
        // Keep freed memory in the pool: each step then reuses the last step's memory.
        int device = 0;
        cudaMemPool_t pool = nullptr;
        backend::cuda::check(cudaGetDevice(&device), "cudaGetDevice");
        backend::cuda::check(cudaDeviceGetDefaultMemPool(&pool, device), "cudaDeviceGetDefaultMemPool");
        std::uint64_t keep_all = ~std::uint64_t(0);
        backend::cuda::check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_all), "cudaMemPoolSetAttribute");
        return std::make_shared<backend::cuda::Queue>();
    }

    const backend::cuda::Queue& q() const { return *queue_; }
    cudaStream_t stream() const { return queue_->stream; }
    static float* as_float(const std::shared_ptr<void>& p) { return static_cast<float*>(p.get()); }

    // Stream-ordered device memory, returned to the pool when the last copy goes.
    std::shared_ptr<void> allocate_bytes(std::size_t bytes) {
        void* p = nullptr;
        backend::cuda::check_allocation(cudaMallocAsync(&p, std::max<std::size_t>(bytes, 1), stream()), bytes,
                              "a training activation");
        auto queue = queue_;  // the stream must outlive the memory ordered on it
        return std::shared_ptr<void>(p, [queue](void* memory) { cudaFreeAsync(memory, queue->stream); });
    }
    Value allocate(const std::array<int, 4>& shape) {
        Value v{nullptr, shape};
        v.storage = allocate_bytes(v.size() * sizeof(float));
        return v;
    }

    std::shared_ptr<void> upload(const Tensor& t) {
        auto device = allocate_bytes(t.size() * sizeof(float));
        backend::cuda::upload(device.get(), t.data(), t.size() * sizeof(float), *queue_);
        return device;
    }
    Tensor download(const void* device, const std::vector<std::size_t>& shape) {
        Tensor t = Tensor::from_shape(shape);
        backend::cuda::download(t.data(), device, t.size() * sizeof(float), *queue_);
        return t;
    }

    void* workspace(std::size_t bytes) {
        if (workspace_.bytes() < bytes) workspace_ = backend::cuda::DeviceBuffer(bytes, "the convolution workspace");
        return workspace_.get();
    }

    Value normalize(const Value& x, const BatchNormSpec& bn, const Tensor& gamma, const Tensor& beta,
                    const float* mean, const float* variance, bool relu) {
        const auto g = upload(gamma), b = upload(beta);
        Value y = allocate(x.shape);
        backend::cuda::batch_norm_apply(x.data(), y.data(), mean, variance, as_float(g), as_float(b), float(bn.eps), relu,
                              x.shape[0], x.shape[1], x.positions(), stream());
        return y;
    }

    // The fastest algorithm cuDNN measures that also runs here, for each direction;
    // measured and tried on scratch buffers of the layer's sizes, so that a failure
    // shows now, not mid-step.
    ConvPlan& plan(const Value& x, const ConvSpec& s) {
        const ConvKey key{x.shape, s.out_channels, s.kernel, s.stride, s.padding, s.in_channels, s.dilation};
        auto found = plans_.find(key);
        if (found != plans_.end()) return *found->second;
        auto p = std::make_unique<ConvPlan>();
        const auto& in = x.shape;
        require(in[1] == s.in_channels, s.name + " expects " + std::to_string(s.in_channels) + " input channels");
        backend::cuda::check(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, in[0], in[1], in[2], in[3]),
                   "cudnnSetTensor4dDescriptor");
        backend::cuda::check(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, s.out_channels, s.in_channels,
                                              s.kernel, s.kernel),
                   "cudnnSetFilter4dDescriptor");
        backend::cuda::check(cudnnSetConvolution2dDescriptor(p->conv, s.padding, s.padding, s.stride, s.stride, s.dilation, s.dilation,
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                   "cudnnSetConvolution2dDescriptor");
        backend::cuda::check(cudnnSetConvolutionMathType(p->conv, CUDNN_FMA_MATH), "cudnnSetConvolutionMathType");
        p->out = {in[0], s.out_channels, s.output_size(in[2]), s.output_size(in[3])};
        backend::cuda::check(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, p->out[0], p->out[1],
                                              p->out[2], p->out[3]),
                   "cudnnSetTensor4dDescriptor");
        backend::cuda::check(cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, s.out_channels, 1, 1),
                   "cudnnSetTensor4dDescriptor");

        const Value scratch_x = allocate(in), scratch_y = allocate(p->out);
        const auto scratch_w = allocate_bytes(std::size_t(s.out_channels) * s.in_channels * s.kernel * s.kernel * 4);
        backend::cuda::check(cudaMemsetAsync(scratch_x.data(), 0, scratch_x.size() * 4, stream()), "cudaMemsetAsync");
        backend::cuda::check(cudaMemsetAsync(scratch_y.data(), 0, scratch_y.size() * 4, stream()), "cudaMemsetAsync");
        const float one = 1.f, zero = 0.f;
        const auto& h = q().cudnn;
        // cuDNN times every algorithm on these buffers, with a generous scratch space.
        std::size_t free = 0, total = 0;
        backend::cuda::check(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
        const std::size_t probe_bytes = std::min<std::size_t>(std::size_t(256) << 20, free / 8);
        void* probe = workspace(probe_bytes);
        p->forward = first_working<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT>(
            [&](int n, int* count, cudnnConvolutionFwdAlgoPerf_t* perf) {
                return cudnnFindConvolutionForwardAlgorithmEx(h, p->x, scratch_x.data(), p->w, scratch_w.get(), p->conv,
                                                              p->y, scratch_y.data(), n, count, perf, probe,
                                                              probe_bytes);
            },
            [&](auto algo, std::size_t bytes) {
                return cudnnConvolutionForward(h, &one, p->x, scratch_x.data(), p->w, scratch_w.get(), p->conv, algo,
                                               workspace(bytes), bytes, &zero, p->y, scratch_y.data());
            },
            p->workspace, s.name + " (forward)");
        p->data = first_working<cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT>(
            [&](int n, int* count, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
                return cudnnFindConvolutionBackwardDataAlgorithmEx(h, p->w, scratch_w.get(), p->y, scratch_y.data(),
                                                                   p->conv, p->x, scratch_x.data(), n, count, perf,
                                                                   probe, probe_bytes);
            },
            [&](auto algo, std::size_t bytes) {
                return cudnnConvolutionBackwardData(h, &one, p->w, scratch_w.get(), p->y, scratch_y.data(), p->conv,
                                                    algo, workspace(bytes), bytes, &zero, p->x, scratch_x.data());
            },
            p->workspace, s.name + " (backward data)");
        p->filter = first_working<cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT>(
            [&](int n, int* count, cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
                return cudnnFindConvolutionBackwardFilterAlgorithmEx(h, p->x, scratch_x.data(), p->y, scratch_y.data(),
                                                                     p->conv, p->w, scratch_w.get(), n, count, perf,
                                                                     probe, probe_bytes);
            },
            [&](auto algo, std::size_t bytes) {
                return cudnnConvolutionBackwardFilter(h, &one, p->x, scratch_x.data(), p->y, scratch_y.data(), p->conv,
                                                      algo, workspace(bytes), bytes, &zero, p->w, scratch_w.get());
            },
            p->workspace, s.name + " (backward filter)");
        queue_->synchronize();
        return *plans_.emplace(key, std::move(p)).first->second;
    }

    // For max-pooling padding counts as minus infinity (PyTorch's MaxPool2d); the
    // deterministic mode gives each window's gradient to the same maximum on every run.
    const PoolPlan& pool_plan(const Value& x, const Window& s, cudnnPoolingMode_t mode) {
        const PoolKey key{x.shape, int(mode), s.extent, s.stride, s.padding};
        auto found = pool_plans_.find(key);
        if (found != pool_plans_.end()) return *found->second;
        auto p = std::make_unique<PoolPlan>();
        const auto& in = x.shape;
        p->out = {in[0], in[1], s.output_size(in[2]), s.output_size(in[3])};
        backend::cuda::check(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, in[0], in[1], in[2], in[3]),
                   "cudnnSetTensor4dDescriptor");
        backend::cuda::check(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, p->out[0], p->out[1],
                                              p->out[2], p->out[3]),
                   "cudnnSetTensor4dDescriptor");
        backend::cuda::check(cudnnSetPooling2dDescriptor(p->pool, mode, CUDNN_NOT_PROPAGATE_NAN, s.extent, s.extent, s.padding,
                                               s.padding, s.stride, s.stride),
                   "cudnnSetPooling2dDescriptor");
        return *pool_plans_.emplace(key, std::move(p)).first->second;
    }

    Value pool_forward(const Value& x, const PoolPlan& p) {
        Value y = allocate(p.out);
        const float one = 1.f, zero = 0.f;
        backend::cuda::check(cudnnPoolingForward(q().cudnn, p.pool, &one, p.x, x.data(), &zero, p.y, y.data()),
                   "cudnnPoolingForward");
        return y;
    }

    Value pool_backward(const Value& x, const Value& y, const Value& dy, const PoolPlan& p) {
        Value dx = allocate(x.shape);
        const float one = 1.f, zero = 0.f;
        backend::cuda::check(cudnnPoolingBackward(q().cudnn, p.pool, &one, p.y, y.data(), p.y, dy.data(), p.x, x.data(), &zero,
                                        p.x, dx.data()),
                   "cudnnPoolingBackward");
        return dx;
    }

    // Ranks with `rank` (fastest first), tries each successful candidate with `run`; the
    // workspace the winner needs raises `workspace_bytes`.
    template <class Perf, int Count, class Rank, class Run>
    static decltype(Perf::algo) first_working(Rank&& rank, Run&& run, std::size_t& workspace_bytes,
                                              const std::string& what) {
        std::array<Perf, Count> perf{};
        int count = 0;
        backend::cuda::check(rank(Count, &count, perf.data()), ("ranking cuDNN algorithms for " + what).c_str());
        for (int i = 0; i < count; ++i) {
            const Perf& p = perf[std::size_t(i)];
            if (p.status != CUDNN_STATUS_SUCCESS || p.mathType == CUDNN_TENSOR_OP_MATH ||
                p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
                continue;
            if (run(p.algo, p.memory) == CUDNN_STATUS_SUCCESS) {
                workspace_bytes = std::max(workspace_bytes, p.memory);
                return p.algo;
            }
        }
        throw Error("cuDNN has no fp32 algorithm that runs for " + what + " on this GPU");
    }

    std::shared_ptr<backend::cuda::Queue> queue_;
    std::map<ConvKey, std::unique_ptr<ConvPlan>> plans_;
    std::map<PoolKey, std::unique_ptr<PoolPlan>> pool_plans_;
    backend::cuda::DeviceBuffer workspace_;
};

}  // namespace bagnet::train
