#pragma once
// A compiled forward pass for one input shape and precision on an NVIDIA GPU.
//
// The algebra is the CPU plan's (batch norm folded into the convolutions, the
// stem's two linear convolutions composed into one). On the GPU: channels-last
// activations in fp32 or bf16 (tensor cores), cuDNN convolutions with the
// algorithm cuDNN measures fastest for each shape, bias + ReLU fused into the
// convolution where cuDNN accepts it, one small kernel for bias + cropped residual
// + ReLU where it does not, and the head on cuBLAS. Weights, activations and the
// workspace stay on the device: run() copies the input in and the result out,
// nothing else crosses the bus.
//
// Uses cuDNN's legacy convolution API (deprecated in cuDNN 9, still shipped and supported).
#include <array>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <vector>

#include "bagnet/arch.hpp"
#include "bagnet/backend/backend.hpp"
#include "bagnet/backend/cuda/kernels.hpp"
#include "bagnet/backend/cuda/runtime.hpp"
#include "bagnet/layers/fold.hpp"
#include "bagnet/parameters.hpp"

namespace bagnet::gpu {

struct PlanOptions {
    Precision precision = Precision::fp32;
    // Let fp32 convolutions use TF32 tensor cores (PyTorch's default): several
    // times faster, about 1e-3 relative error. Off: fp32 means fp32.
    bool allow_tf32 = false;
};

inline cudnnDataType_t cudnn_type(DataType type) {
    return type == DataType::fp32 ? CUDNN_DATA_FLOAT : CUDNN_DATA_BFLOAT16;
}

// Weights O x I x k x k (PyTorch's layout) -> O x k x k x padded_in (cuDNN's channels-last
// filter, zeros for the input channels from I on), on the host.
inline std::vector<float> channels_last_filter(const Tensor& weight, std::size_t padded_in) {
    const std::size_t out = weight.shape()[0], in = weight.shape()[1], kh = weight.shape()[2], kw = weight.shape()[3];
    std::vector<float> result(out * kh * kw * padded_in, 0.f);
    for (std::size_t o = 0; o < out; ++o)
        for (std::size_t i = 0; i < in; ++i)
            for (std::size_t y = 0; y < kh; ++y)
                for (std::size_t x = 0; x < kw; ++x) result[((o * kh + y) * kw + x) * padded_in + i] = weight(o, i, y, x);
    return result;
}

// The input's channel count rounded up to what fast channels-last kernels read
// (8 bf16 or 4 fp32 values: 16 bytes); the extra channels are zeros.
inline int padded_channels(int channels, DataType type) {
    const int multiple = type == DataType::bf16 ? 8 : 4;
    return (channels + multiple - 1) / multiple * multiple;
}

class InferencePlan {
public:
    InferencePlan(const Architecture& arch, const Parameters& params, const std::array<int, 4>& input_shape,
                  PlanOptions options, Output output, std::shared_ptr<const Queue> queue)
        : queue_(std::move(queue)),
          type_(options.precision == Precision::bf16 ? DataType::bf16 : DataType::fp32),
          options_(options),
          output_kind_(output) {
        if (type_ == DataType::bf16) require_bf16_support();
        const int n = input_shape[0];
        staging_ = {Slot::staging, n, input_shape[2], input_shape[3], input_shape[1]};
        reserve(staging_, sizeof(float));
        input_ = {Slot::input, n, input_shape[2], input_shape[3], padded_channels(input_shape[1], type_)};
        reserve(input_, size_of(type_));

        Activation x = add_conv(fold_stem(arch, params), input_, Slot::block_a, {true, true, std::nullopt});
        for (const auto& block : arch.blocks) {
            const Activation t1 =
                add_conv(fold_conv_bn(block.conv1, block.bn1, params), x, Slot::temp1, {true, true, std::nullopt});
            const Activation t2 =
                add_conv(fold_conv_bn(block.conv2, block.bn2, params), t1, Slot::temp2, {true, true, std::nullopt});
            FoldedConv c3 = fold_conv_bn(block.conv3, block.bn3, params);
            Activation shortcut = x;
            if (block.projection) {
                const FoldedConv p = fold_conv_bn(*block.projection, *block.projection_bn, params);
                // crop(conv(x) + b) = crop(conv(x)) + b: the projection's bias joins conv3's epilogue.
                c3.bias += p.bias;
                shortcut = add_conv(p, x, Slot::shortcut, {false, false, std::nullopt});
            }
            const Slot out = x.slot == Slot::block_a ? Slot::block_b : Slot::block_a;
            x = add_conv(c3, t2, out, {true, true, shortcut});
            require(shortcut.h >= x.h && shortcut.w >= x.w,
                    "internal: the shortcut of " + block.conv1.name + " is smaller than the block's output");
        }
        features_ = x;
        add_head(arch, params, output);
        allocate_and_tune();
    }

    int map_height() const { return features_.h; }
    int map_width() const { return features_.w; }

    // input: N x C x H x W fp32 on the host; output: N x classes or N x H' x W' x classes fp32 on the host.
    void run(const float* input, float* output) {
        const Queue& q = *queue_;
        upload(pointer(staging_), input, staging_.bytes(sizeof(float)), q);
        nchw_to_nhwc(static_cast<const float*>(pointer(staging_)), pointer(input_), type_, input_.n, staging_.c,
                     input_.c, input_.h, input_.w, q.stream);
        for (const auto& step : steps_) execute(step, workspace_.get(), workspace_.bytes());
        run_head();
        download(output, output_.get(), output_.bytes(), q);
    }

private:
    enum class Slot { staging, input, block_a, block_b, temp1, temp2, shortcut, head, count };

    // An N x H x W x C tensor living in one of the slots (buffers reused layer after layer).
    struct Activation {
        Slot slot = Slot::input;
        int n = 0, h = 0, w = 0, c = 0;
        std::size_t elements() const { return std::size_t(n) * h * w * c; }
        std::size_t bytes(std::size_t element) const { return elements() * element; }
    };

    struct Epilogue {
        bool bias = true;
        bool relu = true;
        std::optional<Activation> shortcut;  // added after cropping to the output's size
    };

    struct ConvStep {
        Activation in, out;
        Epilogue epilogue;
        std::tuple<int, int, int, int, int, int, int, int> geometry;  // n, h, w, c, out c, kernel, stride, padding
        TensorDescriptor x_desc{"cudnnCreateTensorDescriptor"}, y_desc{"cudnnCreateTensorDescriptor"};
        TensorDescriptor bias_desc{"cudnnCreateTensorDescriptor"};
        FilterDescriptor w_desc{"cudnnCreateFilterDescriptor"};
        ConvolutionDescriptor conv_desc{"cudnnCreateConvolutionDescriptor"};
        ActivationDescriptor relu{"cudnnCreateActivationDescriptor"};
        DeviceBuffer weight, bias;  // weight in the activation type, bias fp32 (the epilogue's)
        DeviceBuffer fused_bias;    // the bias in the type the fused call accepted
        cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
        std::size_t workspace = 0;
        bool fused = false;  // bias + ReLU inside cudnnConvolutionBiasActivationForward
    };

    // Each algorithm choice is measured once per geometry, then shared by the steps that have it.
    struct Choice {
        cudnnConvolutionFwdAlgo_t algo;
        cudnnMathType_t math;
        std::size_t workspace;
    };

    void require_bf16_support() const {
        int device = 0, major = 0;
        check(cudaGetDevice(&device), "cudaGetDevice");
        check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), "cudaDeviceGetAttribute");
        require(major >= 8, "bf16 needs an NVIDIA GPU of compute capability 8.0 or newer; this one has " +
                                std::to_string(major) + ".x");
    }

    void reserve(const Activation& a, std::size_t element) {
        auto& bytes = slot_bytes_[std::size_t(a.slot)];
        bytes = std::max(bytes, a.bytes(element));
    }
    void* pointer(const Activation& a) const { return slots_[std::size_t(a.slot)].get(); }

    // `values` (fp32 on the host) on the device in `type`.
    DeviceBuffer to_device(const float* values, std::size_t count, DataType type, const std::string& what) const {
        DeviceBuffer fp32(count * sizeof(float), what);
        upload(fp32.get(), values, count * sizeof(float), *queue_);
        if (type == DataType::fp32) return fp32;
        DeviceBuffer converted(count * size_of(type), what);
        convert(fp32.as<float>(), converted.get(), type, count, queue_->stream);
        queue_->synchronize();  // before fp32 is freed
        return converted;
    }

    void describe(const TensorDescriptor& desc, const Activation& a) const {
        check(cudnnSetTensor4dDescriptor(desc, CUDNN_TENSOR_NHWC, cudnn_type(type_), a.n, a.c, a.h, a.w),
              "cudnnSetTensor4dDescriptor");
    }

    Activation add_conv(const FoldedConv& conv, const Activation& in, Slot slot, Epilogue epilogue) {
        const ConvSpec& s = conv.spec;
        // Only the input may have more channels (zero padding) than the convolution reads.
        require(in.c == s.in_channels || (in.slot == Slot::input && in.c > s.in_channels),
                "internal: " + s.name + " expects " + std::to_string(s.in_channels) + " channels");
        const Activation out{slot, in.n, s.output_size(in.h), s.output_size(in.w), s.out_channels};
        reserve(out, size_of(type_));
        ConvStep step;
        step.in = in;
        step.out = out;
        step.epilogue = std::move(epilogue);
        step.geometry = {in.n, in.h, in.w, in.c, s.out_channels, s.kernel, s.stride, s.padding};
        describe(step.x_desc, in);
        describe(step.y_desc, out);
        check(cudnnSetFilter4dDescriptor(step.w_desc, cudnn_type(type_), CUDNN_TENSOR_NHWC, s.out_channels, in.c,
                                         s.kernel, s.kernel),
              "cudnnSetFilter4dDescriptor");
        check(cudnnSetConvolution2dDescriptor(step.conv_desc, s.padding, s.padding, s.stride, s.stride, 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
              "cudnnSetConvolution2dDescriptor");
        check(cudnnSetActivationDescriptor(step.relu, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0),
              "cudnnSetActivationDescriptor");
        int n = 0, c = 0, h = 0, w = 0;
        check(cudnnGetConvolution2dForwardOutputDim(step.conv_desc, step.x_desc, step.w_desc, &n, &c, &h, &w),
              "cudnnGetConvolution2dForwardOutputDim");
        require(n == out.n && c == out.c && h == out.h && w == out.w,
                "internal: cuDNN and bagnet disagree on the output size of " + s.name);
        const std::vector<float> filter = channels_last_filter(conv.weight, std::size_t(in.c));
        step.weight = to_device(filter.data(), filter.size(), type_, s.name + " weights");
        step.bias = to_device(conv.bias.data(), conv.bias.size(), DataType::fp32, s.name + " bias");
        steps_.push_back(std::move(step));
        return out;
    }

    void add_head(const Architecture& arch, const Parameters& params, Output output) {
        const Tensor& weight = params.at(arch.fc.name + ".weight");  // classes x C
        const Tensor& bias = params.at(arch.fc.name + ".bias");
        classes_ = arch.fc.out_features;
        // The logit map multiplies the features as they are (bf16 on tensor cores for bf16);
        // logits average the features first, in fp32, then multiply in fp32.
        const DataType weight_type = output == Output::logit_map ? type_ : DataType::fp32;
        head_weight_ = to_device(weight.data(), weight.size(), weight_type, "the linear head's weights");
        head_bias_ = to_device(bias.data(), bias.size(), DataType::fp32, "the linear head's bias");
        const std::size_t rows = output == Output::logit_map
                                     ? std::size_t(features_.n) * features_.h * features_.w
                                     : std::size_t(features_.n);
        if (output == Output::logits) reserve({Slot::head, features_.n, 1, 1, features_.c}, sizeof(float));
        output_ = DeviceBuffer(rows * std::size_t(classes_) * sizeof(float), "the output");
    }

    // rows x classes = rows x C (row-major, `type`) times the head's classes x C weights, transposed.
    // cuBLAS is column-major: this is classes x rows = W^T' x F' with both operands read as stored.
    void head_product(const void* features, DataType type, std::size_t rows) const {
        const float one = 1.f, zero = 0.f;
        const int channels = features_.c;
        if (type == DataType::fp32) {
            check(cublasSgemm(queue_->cublas, CUBLAS_OP_T, CUBLAS_OP_N, classes_, int(rows), channels, &one,
                              head_weight_.as<float>(), channels, static_cast<const float*>(features), channels, &zero,
                              output_.as<float>(), classes_),
                  "cublasSgemm (linear head)");
        } else {
            check(cublasGemmEx(queue_->cublas, CUBLAS_OP_T, CUBLAS_OP_N, classes_, int(rows), channels, &one,
                               head_weight_.get(), CUDA_R_16BF, channels, features, CUDA_R_16BF, channels, &zero,
                               output_.get(), CUDA_R_32F, classes_, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                  "cublasGemmEx (linear head)");
        }
        add_row_bias(output_.as<float>(), head_bias_.as<float>(), rows, classes_, queue_->stream);
    }

    void run_head() const {
        if (output_kind_ == Output::logit_map) {
            head_product(pointer(features_), type_, std::size_t(features_.n) * features_.h * features_.w);
            return;
        }
        float* mean = static_cast<float*>(slots_[std::size_t(Slot::head)].get());
        spatial_mean(pointer(features_), type_, mean, features_.n, features_.h * features_.w, features_.c,
                     queue_->stream);
        head_product(mean, DataType::fp32, std::size_t(features_.n));
    }

    cudnnMathType_t math_type() const {
        if (type_ == DataType::bf16) return CUDNN_TENSOR_OP_MATH;
        return options_.allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
    }

    void execute(const ConvStep& s, void* workspace, std::size_t workspace_bytes) const {
        const float one = 1.f, zero = 0.f;
        const Queue& q = *queue_;
        if (s.fused) {
            check(cudnnConvolutionBiasActivationForward(q.cudnn, &one, s.x_desc, pointer(s.in), s.w_desc, s.weight.get(),
                                                        s.conv_desc, s.algo, workspace, workspace_bytes, &zero,
                                                        s.y_desc, pointer(s.out), s.bias_desc, s.fused_bias.get(),
                                                        s.relu, s.y_desc, pointer(s.out)),
                  "cudnnConvolutionBiasActivationForward");
            return;
        }
        check(cudnnConvolutionForward(q.cudnn, &one, s.x_desc, pointer(s.in), s.w_desc, s.weight.get(), s.conv_desc,
                                      s.algo, workspace, workspace_bytes, &zero, s.y_desc, pointer(s.out)),
              "cudnnConvolutionForward");
        const Epilogue& e = s.epilogue;
        if (!e.bias && !e.relu && !e.shortcut) return;
        bias_shortcut_relu(pointer(s.out), type_, e.bias ? s.bias.as<float>() : nullptr,
                           e.shortcut ? pointer(*e.shortcut) : nullptr, e.shortcut ? e.shortcut->h : 0,
                           e.shortcut ? e.shortcut->w : 0, s.out.n, s.out.h, s.out.w, s.out.c, e.relu, q.stream);
    }

    // The fastest algorithm cuDNN measures on the real buffers that also runs here
    // (a candidate that fails when tried is skipped); then, should none of those run,
    // every algorithm cuDNN has. TF32 and tensor-core kernels are excluded for strict fp32.
    Choice choose(ConvStep& s, void* probe, std::size_t probe_bytes) {
        const Queue& q = *queue_;
        const bool strict = type_ == DataType::fp32 && !options_.allow_tf32;
        check(cudnnSetConvolutionMathType(s.conv_desc, math_type()), "cudnnSetConvolutionMathType");
        std::vector<Choice> candidates;
        std::array<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT> perf{};
        int count = 0;
        if (cudnnFindConvolutionForwardAlgorithmEx(q.cudnn, s.x_desc, pointer(s.in), s.w_desc, s.weight.get(),
                                                   s.conv_desc, s.y_desc, pointer(s.out), int(perf.size()), &count,
                                                   perf.data(), probe, probe_bytes) == CUDNN_STATUS_SUCCESS)
            for (int i = 0; i < count; ++i) {
                const auto& p = perf[std::size_t(i)];
                const bool tensor_cores = p.mathType == CUDNN_TENSOR_OP_MATH ||
                                          p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
                if (p.status == CUDNN_STATUS_SUCCESS && p.memory <= probe_bytes && !(strict && tensor_cores))
                    candidates.push_back({p.algo, strict ? CUDNN_FMA_MATH : p.mathType, p.memory});
            }
        for (int a = 0; a < CUDNN_CONVOLUTION_FWD_ALGO_COUNT; ++a) {
            const auto algo = cudnnConvolutionFwdAlgo_t(a);
            std::size_t bytes = 0;
            if (cudnnGetConvolutionForwardWorkspaceSize(q.cudnn, s.x_desc, s.w_desc, s.conv_desc, s.y_desc, algo,
                                                        &bytes) == CUDNN_STATUS_SUCCESS &&
                bytes <= probe_bytes)
                candidates.push_back({algo, math_type(), bytes});
        }
        for (const Choice& c : candidates) {
            check(cudnnSetConvolutionMathType(s.conv_desc, c.math), "cudnnSetConvolutionMathType");
            const float one = 1.f, zero = 0.f;
            if (cudnnConvolutionForward(q.cudnn, &one, s.x_desc, pointer(s.in), s.w_desc, s.weight.get(), s.conv_desc,
                                        c.algo, probe, probe_bytes, &zero, s.y_desc,
                                        pointer(s.out)) == CUDNN_STATUS_SUCCESS)
                return c;
        }
        throw Error("cuDNN has no " + std::string(type_ == DataType::bf16 ? "bf16" : options_.allow_tf32 ? "TF32" : "fp32") +
                    " convolution algorithm for a layer of batch " + std::to_string(s.in.n) + ", " +
                    std::to_string(s.in.c) + " x " + std::to_string(s.in.h) + " x " + std::to_string(s.in.w) +
                    " -> " + std::to_string(s.out.c) + " channels, on this GPU");
    }

    // cuDNN's fused convolution + bias + ReLU, if it accepts this layer (it takes
    // the bias in the activation type or in fp32, depending on version and type).
    void try_fusing(ConvStep& s, void* probe, std::size_t probe_bytes) {
        if (!s.epilogue.bias || !s.epilogue.relu || s.epilogue.shortcut) return;
        const Queue& q = *queue_;
        for (DataType bias_type : {type_, DataType::fp32}) {
            check(cudnnSetTensor4dDescriptor(s.bias_desc, CUDNN_TENSOR_NCHW, cudnn_type(bias_type), 1, s.out.c, 1, 1),
                  "cudnnSetTensor4dDescriptor");
            DeviceBuffer bias(s.out.c * size_of(bias_type), "a bias");
            if (bias_type == DataType::fp32) check(cudaMemcpyAsync(bias.get(), s.bias.get(), s.bias.bytes(),
                                                                   cudaMemcpyDeviceToDevice, q.stream), "cudaMemcpyAsync");
            else convert(s.bias.as<float>(), bias.get(), bias_type, std::size_t(s.out.c), q.stream);
            const float one = 1.f, zero = 0.f;
            const cudnnStatus_t status = cudnnConvolutionBiasActivationForward(
                q.cudnn, &one, s.x_desc, pointer(s.in), s.w_desc, s.weight.get(), s.conv_desc, s.algo, probe,
                probe_bytes, &zero, s.y_desc, pointer(s.out), s.bias_desc, bias.get(), s.relu, s.y_desc, pointer(s.out));
            q.synchronize();
            if (status == CUDNN_STATUS_SUCCESS) {
                s.fused = true;
                s.fused_bias = std::move(bias);
                return;
            }
            if (bias_type == DataType::fp32) return;
        }
    }

    void allocate_and_tune() {
        for (std::size_t i = 0; i < slots_.size(); ++i)
            slots_[i] = DeviceBuffer(slot_bytes_[i], "activations of batch " + std::to_string(input_.n));
        // Algorithms are measured with a generous scratch space; the plan keeps only what the chosen ones need.
        std::size_t free = 0, total = 0;
        check(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
        const std::size_t probe_bytes = std::min<std::size_t>(std::size_t(1) << 30, free / 4);
        DeviceBuffer probe(probe_bytes, "the convolution algorithm search");
        std::map<decltype(ConvStep::geometry), Choice> chosen;
        std::size_t needed = 0;
        for (auto& step : steps_) {
            auto found = chosen.find(step.geometry);
            if (found == chosen.end()) found = chosen.emplace(step.geometry, choose(step, probe.get(), probe_bytes)).first;
            const Choice& c = found->second;
            check(cudnnSetConvolutionMathType(step.conv_desc, c.math), "cudnnSetConvolutionMathType");
            step.algo = c.algo;
            step.workspace = c.workspace;
            try_fusing(step, probe.get(), probe_bytes);
            needed = std::max(needed, c.workspace);
        }
        queue_->synchronize();
        probe = DeviceBuffer();
        workspace_ = DeviceBuffer(needed, "the convolution workspace");
    }

    std::shared_ptr<const Queue> queue_;
    DataType type_;
    PlanOptions options_;
    Output output_kind_;
    Activation staging_, input_, features_;
    std::vector<ConvStep> steps_;
    std::array<std::size_t, std::size_t(Slot::count)> slot_bytes_{};
    std::array<DeviceBuffer, std::size_t(Slot::count)> slots_;
    DeviceBuffer workspace_, head_weight_, head_bias_, output_;
    int classes_ = 0;
};

}  // namespace bagnet::gpu
