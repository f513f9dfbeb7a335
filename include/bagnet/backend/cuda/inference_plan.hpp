#pragma once
// A compiled forward pass for one input shape and precision on an NVIDIA GPU.
//
// Compiled from the graph's inference pass (backend/inference_pass.hpp), so the
// algebra is the CPU plan's (batch norm folded into the convolutions, the stem's two
// linear convolutions composed into one, the residual add and ReLU in the step of
// the convolution before them). On the GPU: activations in bf16 or fp32
// (channels-last for tensor cores, channels-first for strict fp32), cuDNN
// convolutions with the algorithm cuDNN measures fastest for each shape, bias + ReLU
// fused into the convolution where cuDNN accepts it, one small kernel for bias +
// cropped residual + ReLU where it does not, max-pools on cuDNN and the head on
// cuBLAS. Every value is computed in full (the epilogue reads a shortcut's top-left
// corner in place), in a few arenas, each reused once the value in it has been read
// for the last time. Weights, activations and the workspace stay on the device:
// run() copies the input in and the result out, nothing else crosses the bus.
//
// Uses cuDNN's legacy convolution and pooling API (deprecated in cuDNN 9, still shipped and supported).
#include <algorithm>
#include <array>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include "bagnet/arch.hpp"
#include "bagnet/backend/backend.hpp"
#include "bagnet/backend/cuda/kernels.hpp"
#include "bagnet/backend/cuda/runtime.hpp"
#include "bagnet/backend/inference_pass.hpp"
#include "bagnet/parameters.hpp"

namespace bagnet::backend::cuda {

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
inline int padded_channels(int channels, DataType type, Layout layout) {
    if (layout == Layout::nchw) return channels;
    const int multiple = type == DataType::bf16 ? 8 : 4;
    return (channels + multiple - 1) / multiple * multiple;
}

class InferencePlan {
public:
    InferencePlan(const Architecture& arch, const Parameters& params, const std::array<int, 4>& input_shape,
                  PlanOptions options, Output output, std::shared_ptr<const Queue> queue)
        : queue_(std::move(queue)),
          type_(options.precision == Precision::bf16 ? DataType::bf16 : DataType::fp32),
          // Tensor cores want channels-last; cuDNN's strict fp32 kernels are fastest channels-first.
          layout_(type_ == DataType::fp32 && !options.allow_tf32 ? Layout::nchw : Layout::nhwc),
          options_(options),
          output_kind_(output) {
        if (type_ == DataType::bf16) require_bf16_support();
        const int n = input_shape[0];
        image_channels_ = input_shape[1];
        const InferenceProgram program =
            compile_inference(arch.graph, params,
                              {std::size_t(n), std::size_t(input_shape[1]), std::size_t(input_shape[2]),
                               std::size_t(input_shape[3])});
        input_ = {input_buffer, n, input_shape[2], input_shape[3], padded_channels(input_shape[1], type_, layout_)};
        values_.resize(program.shapes.size());
        values_[0] = input_;
        for (std::size_t s = 0; s < program.steps.size(); ++s)
            if (!program.inside[s]) release_after(program, s, add_step(program, s).arena);
        features_ = values_[std::size_t(program.features)];
        add_head(program, output);
        allocate_and_tune();
    }

    int map_height() const { return features_.h; }
    int map_width() const { return features_.w; }

    // input: N x C x H x W fp32 on the host; output: N x classes or N x H' x W' x classes fp32 on the host.
    void run(const float* input, float* output) {
        std::vector<int> crops;
        for (int b = 0; b < input_.n; ++b) crops.insert(crops.end(), {b, 0, 0});
        run_crops(input, input_.n, input_.h, input_.w, crops, {}, output);
    }

    // The same for crops cut on the GPU from `images` (count x C x image_h x image_w fp32
    // on the host): input b is the plan's H x W window of image crops[3b] whose top-left
    // pixel is (crops[3b+1], crops[3b+2]). A logit map may be restricted to `classes`
    // (all when empty): output N x H' x W' x classes.size(). Shifted crops of a few
    // images are what the dense heatmap runs: this way only the images cross the bus.
    void run_crops(const float* images, int count, int image_h, int image_w, const std::vector<int>& crops,
                   const std::vector<int>& classes, float* output) {
        require(crops.size() == 3 * std::size_t(input_.n), "internal: a plan for batch " + std::to_string(input_.n) +
                                                                " got " + std::to_string(crops.size() / 3) + " crops");
        for (std::size_t b = 0; b < crops.size(); b += 3)
            require(crops[b] >= 0 && crops[b] < count && crops[b + 1] >= 0 && crops[b + 1] + input_.h <= image_h &&
                        crops[b + 2] >= 0 && crops[b + 2] + input_.w <= image_w,
                    "internal: crop " + std::to_string(b / 3) + " lies outside its image");
        require(classes.empty() || output_kind_ == Output::logit_map, "internal: only a logit map takes classes");
        const Queue& q = *queue_;
        const std::size_t image_bytes = std::size_t(count) * image_channels_ * image_h * image_w * sizeof(float);
        grow(images_, image_bytes, "the input images");
        grow(crop_table_, crops.size() * sizeof(int), "the crop table");
        upload(images_.get(), images, image_bytes, q);
        upload(crop_table_.get(), crops.data(), crops.size() * sizeof(int), q);
        check(cudaMemsetAsync(nonfinite_.get(), 0, sizeof(unsigned), q.stream), "cudaMemsetAsync");
        gather_crops(images_.as<float>(), image_channels_, image_h, image_w, crop_table_.as<int>(), input_.n,
                     pointer(input_), type_, layout_, input_.c, input_.h, input_.w, nonfinite_.as<unsigned>(),
                     q.stream);
        if (steps_graph_) check(cudaGraphLaunch(steps_graph_.get(), q.stream), "cudaGraphLaunch");
        else for (const auto& step : steps_) execute(step, workspace_.get(), workspace_.bytes());
        const HeadRows head = head_rows(classes);
        const std::size_t rows = run_head(head);
        unsigned nonfinite = 0;
        download(&nonfinite, nonfinite_.get(), sizeof nonfinite, q);
        require(nonfinite == 0, "the input contains non-finite values (NaN or infinity)");
        if (output) download(output, output_.get(), rows * std::size_t(head.count) * sizeof(float), q);
    }

    // Where the time of one run goes: each step (a convolution with its algorithm and
    // whether bias + ReLU are fused, or a max-pool) timed on the GPU, averaged over
    // `repeat` runs of `input`. A tuning aid: cuda_speed --profile prints it.
    std::string profile(const float* input, int repeat) {
        run(input, nullptr);
        std::vector<cudaEvent_t> events(steps_.size() + 1);
        for (auto& e : events) check(cudaEventCreate(&e), "cudaEventCreate");
        std::vector<double> total(steps_.size(), 0.0);
        for (int r = 0; r < repeat; ++r) {
            check(cudaEventRecord(events[0], queue_->stream), "cudaEventRecord");
            for (std::size_t i = 0; i < steps_.size(); ++i) {
                execute(steps_[i], workspace_.get(), workspace_.bytes());
                check(cudaEventRecord(events[i + 1], queue_->stream), "cudaEventRecord");
            }
            queue_->synchronize();
            for (std::size_t i = 0; i < steps_.size(); ++i) {
                float ms = 0;
                check(cudaEventElapsedTime(&ms, events[i], events[i + 1]), "cudaEventElapsedTime");
                total[i] += ms / repeat;
            }
        }
        for (auto& e : events) cudaEventDestroy(e);
        std::string table = "step | input N x H x W x C | out C | k/s | algo | fused | ms\n";
        double sum = 0;
        for (std::size_t i = 0; i < steps_.size(); ++i) {
            sum += total[i];
            const auto row = [&](const auto& s, int kernel, int stride, const std::string& algo, const char* fused) {
                return s.name + " | " + std::to_string(s.in.n) + "x" + std::to_string(s.in.h) + "x" +
                       std::to_string(s.in.w) + "x" + std::to_string(s.in.c) + " | " + std::to_string(s.out.c) + " | " +
                       std::to_string(kernel) + "/" + std::to_string(stride) + " | " + algo + " | " + fused + " | " +
                       std::to_string(total[i]) + "\n";
            };
            if (const auto* pool = std::get_if<PoolStep>(&steps_[i])) {
                table += row(*pool, pool->window.extent, pool->window.stride, pool->kind, "-");
            } else {
                const ConvStep& s = std::get<ConvStep>(steps_[i]);
                table += row(s, std::get<5>(s.geometry), std::get<6>(s.geometry), std::to_string(int(s.algo)),
                             s.fused ? "yes" : "no");
            }
        }
        return table + "all steps: " + std::to_string(sum) + " ms\n";
    }

private:
    static constexpr int input_buffer = -1;  // the arena of the input, which has a buffer of its own

    // An N x H x W x C tensor in one of the arenas (buffers reused from step to step), or the input.
    struct Activation {
        int arena = input_buffer;
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
        std::string name;
        Activation in, out;
        Epilogue epilogue;
        std::tuple<int, int, int, int, int, int, int, int, int> geometry;  // n, h, w, c, out c, kernel, stride, padding, dilation
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

    struct PoolStep {
        std::string name;
        const char* kind = "max-pool";  // or "average-pool", for the timing table
        Window window;
        Activation in, out;
        TensorDescriptor x_desc{"cudnnCreateTensorDescriptor"}, y_desc{"cudnnCreateTensorDescriptor"};
        PoolingDescriptor pool{"cudnnCreatePoolingDescriptor"};
    };

    using Step = std::variant<ConvStep, PoolStep>;

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

    void* pointer(const Activation& a) const {
        return a.arena == input_buffer ? input_buffer_.get() : arena_buffers_[std::size_t(a.arena)].get();
    }

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

    cudnnTensorFormat_t cudnn_format() const { return layout_ == Layout::nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW; }

    void describe(const TensorDescriptor& desc, const Activation& a) const {
        check(cudnnSetTensor4dDescriptor(desc, cudnn_format(), cudnn_type(type_), a.n, a.c, a.h, a.w),
              "cudnnSetTensor4dDescriptor");
    }

    // The output of program step `s`, in a fresh arena; with `defer_bias`, a convolution's
    // without its bias, which its reader adds.
    Activation add_step(const InferenceProgram& program, std::size_t s, bool defer_bias = false) {
        const InferenceStep& step = program.steps[s];
        const Activation in = values_[std::size_t(step.input)];
        // The value's natural shape, whatever its readers read: an epilogue crops a shortcut
        // by reading its top-left with the shortcut's own height and width.
        const Shape4& shape = program.shapes[std::size_t(step.output)];
        Activation out{input_buffer, int(shape[0]), int(shape[2]), int(shape[3]), int(shape[1])};
        if (step.kind != InferenceStep::Kind::convolution) {
            out.arena = arenas_.acquire(out.bytes(size_of(type_)));
            add_pool(step, in, out);
        } else {
            std::optional<Activation> shortcut;
            const FoldedConv* conv = &step.conv;
            FoldedConv joined;
            if (step.residual_step >= 0) {
                // The shortcut computed for this step alone (a projection), just before it.
                const InferenceStep& projection = program.steps[std::size_t(step.residual_step)];
                // crop(conv(x) + b) = crop(conv(x)) + b: a linear projection's bias joins this step's epilogue.
                const bool join = projection.kind == InferenceStep::Kind::convolution && !projection.relu &&
                                  projection.residual < 0;
                shortcut = add_step(program, std::size_t(step.residual_step), join);
                if (join) {
                    joined = step.conv;
                    joined.bias += projection.conv.bias;
                    conv = &joined;
                }
            } else if (step.residual >= 0) {
                shortcut = values_[std::size_t(step.residual)];  // kept in its arena until this step has run
            }
            out.arena = arenas_.acquire(out.bytes(size_of(type_)));
            add_conv(*conv, in, out, {!defer_bias, step.relu, shortcut});
        }
        values_[std::size_t(step.output)] = out;
        return out;
    }

    // Gives back the arenas of the values whose last reader is step `s`, except `kept`
    // (where the step's output lives).
    void release_after(const InferenceProgram& program, std::size_t s, int kept) {
        for (std::size_t v = 0; v < values_.size(); ++v)
            if (program.last_use[v] == int(s) && values_[v].arena != input_buffer && values_[v].arena != kept)
                arenas_.release(values_[v].arena);
    }

    void add_conv(const FoldedConv& conv, const Activation& in, const Activation& out, Epilogue epilogue) {
        const ConvSpec& s = conv.spec;
        // Only the input may have more channels (zero padding) than the convolution reads.
        require(in.c == s.in_channels || (in.arena == input_buffer && in.c > s.in_channels),
                "internal: " + s.name + " expects " + std::to_string(s.in_channels) + " channels");
        const auto& shortcut = epilogue.shortcut;
        require(!shortcut ||
                    (shortcut->n == out.n && shortcut->c == out.c && shortcut->h >= out.h && shortcut->w >= out.w),
                "internal: the shortcut of " + s.name + " does not cover its output");
        ConvStep step;
        step.name = s.name;
        step.in = in;
        step.out = out;
        step.epilogue = std::move(epilogue);
        step.geometry = {in.n, in.h, in.w, in.c, s.out_channels, s.kernel, s.stride, s.padding, s.dilation};
        describe(step.x_desc, in);
        describe(step.y_desc, out);
        check(cudnnSetFilter4dDescriptor(step.w_desc, cudnn_type(type_), cudnn_format(), s.out_channels, in.c,
                                         s.kernel, s.kernel),
              "cudnnSetFilter4dDescriptor");
        check(cudnnSetConvolution2dDescriptor(step.conv_desc, s.padding, s.padding, s.stride, s.stride, s.dilation, s.dilation,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
              "cudnnSetConvolution2dDescriptor");
        check(cudnnSetActivationDescriptor(step.relu, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0),
              "cudnnSetActivationDescriptor");
        int n = 0, c = 0, h = 0, w = 0;
        check(cudnnGetConvolution2dForwardOutputDim(step.conv_desc, step.x_desc, step.w_desc, &n, &c, &h, &w),
              "cudnnGetConvolution2dForwardOutputDim");
        require(n == out.n && c == out.c && h == out.h && w == out.w,
                "internal: cuDNN and bagnet disagree on the output size of " + s.name);
        const std::vector<float> filter = layout_ == Layout::nhwc
                                              ? channels_last_filter(conv.weight, std::size_t(in.c))
                                              : std::vector<float>(conv.weight.begin(), conv.weight.end());
        step.weight = to_device(filter.data(), filter.size(), type_, s.name + " weights");
        step.bias = to_device(conv.bias.data(), conv.bias.size(), DataType::fp32, s.name + " bias");
        steps_.push_back(std::move(step));
    }

    // As PyTorch's MaxPool2d and AvgPool2d and the reference backend: for a max-pool padding
    // counts as minus infinity, for an average it counts as zeros in the divisor.
    void add_pool(const InferenceStep& step, const Activation& in, const Activation& out) {
        // The input's padded channels would be pooled too; no graph pools its input.
        require(in.c == out.c, "internal: " + step.name + " reads the input, whose channels are padded");
        const Window& p = step.pool;
        PoolStep pool;
        pool.name = step.name;
        pool.window = p;
        pool.in = in;
        pool.out = out;
        describe(pool.x_desc, in);
        describe(pool.y_desc, out);
        const bool max = step.kind == InferenceStep::Kind::max_pool;
        pool.kind = max ? "max-pool" : "average-pool";
        const cudnnPoolingMode_t mode = max ? CUDNN_POOLING_MAX : CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING;
        check(cudnnSetPooling2dDescriptor(pool.pool, mode, CUDNN_NOT_PROPAGATE_NAN, p.extent, p.extent, p.padding,
                                          p.padding, p.stride, p.stride),
              "cudnnSetPooling2dDescriptor");
        int n = 0, c = 0, h = 0, w = 0;
        check(cudnnGetPooling2dForwardOutputDim(pool.pool, pool.x_desc, &n, &c, &h, &w),
              "cudnnGetPooling2dForwardOutputDim");
        require(n == out.n && c == out.c && h == out.h && w == out.w,
                "internal: cuDNN and bagnet disagree on the output size of " + step.name);
        steps_.push_back(std::move(pool));
    }

    // A buffer at least `bytes` large (contents not kept when it grows).
    static void grow(DeviceBuffer& buffer, std::size_t bytes, const std::string& what) {
        if (buffer.bytes() < bytes) buffer = DeviceBuffer(bytes, what);
    }

    void add_head(const InferenceProgram& program, Output output) {
        head_weight_host_ = program.head_weight;  // classes x C
        head_bias_host_ = program.head_bias;
        classes_ = program.head.out_features;
        // The logit map multiplies the features as they are (bf16 on tensor cores for bf16);
        // logits average the features first, in fp32, then multiply in fp32.
        head_type_ = output == Output::logit_map ? type_ : DataType::fp32;
        head_weight_ = to_device(head_weight_host_.data(), head_weight_host_.size(), head_type_,
                                 "the linear head's weights");
        head_bias_ = to_device(head_bias_host_.data(), head_bias_host_.size(), DataType::fp32, "the linear head's bias");
        const std::size_t rows = output == Output::logit_map
                                     ? std::size_t(features_.n) * features_.h * features_.w
                                     : std::size_t(features_.n);
        if (output == Output::logits)
            mean_ = DeviceBuffer(std::size_t(features_.n) * features_.c * sizeof(float), "the spatial mean");
        output_ = DeviceBuffer(rows * std::size_t(classes_) * sizeof(float), "the output");
    }

    // The rows of the head for some classes, on the device.
    struct HeadRows {
        const void* weight;  // count x C, of head_type_
        const float* bias;   // count
        int count;
    };

    // All classes when `classes` is empty; else the chosen rows, gathered once per choice.
    HeadRows head_rows(const std::vector<int>& classes) {
        if (classes.empty()) return {head_weight_.get(), head_bias_.as<float>(), classes_};
        if (classes != selected_classes_) {
            const std::size_t channels = head_weight_host_.shape()[1];
            std::vector<float> weight(classes.size() * channels), bias(classes.size());
            for (std::size_t k = 0; k < classes.size(); ++k) {
                require(classes[k] >= 0 && classes[k] < classes_, "internal: class " + std::to_string(classes[k]) +
                                                                        " is out of range");
                std::copy_n(head_weight_host_.data() + std::size_t(classes[k]) * channels, channels,
                            weight.data() + k * channels);
                bias[k] = head_bias_host_(std::size_t(classes[k]));
            }
            selected_weight_ = to_device(weight.data(), weight.size(), head_type_, "the chosen classes' weights");
            selected_bias_ = to_device(bias.data(), bias.size(), DataType::fp32, "the chosen classes' bias");
            selected_classes_ = classes;
        }
        return {selected_weight_.get(), selected_bias_.as<float>(), int(classes.size())};
    }

    // rows x K = rows x C (row-major, `type`) times the K x C head rows, transposed. cuBLAS is
    // column-major: this is K x rows = W^T' x F' with both operands read as stored.
    void head_product(const void* features, DataType type, std::size_t rows, const HeadRows& head) const {
        const float one = 1.f, zero = 0.f;
        const int channels = features_.c;
        if (type == DataType::fp32) {
            check(cublasSgemm(queue_->cublas, CUBLAS_OP_T, CUBLAS_OP_N, head.count, int(rows), channels, &one,
                              static_cast<const float*>(head.weight), channels, static_cast<const float*>(features),
                              channels, &zero, output_.as<float>(), head.count),
                  "cublasSgemm (linear head)");
        } else {
            check(cublasGemmEx(queue_->cublas, CUBLAS_OP_T, CUBLAS_OP_N, head.count, int(rows), channels, &one,
                               head.weight, CUDA_R_16BF, channels, features, CUDA_R_16BF, channels, &zero,
                               output_.get(), CUDA_R_32F, head.count, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                  "cublasGemmEx (linear head)");
        }
        add_row_bias(output_.as<float>(), head.bias, rows, head.count, queue_->stream);
    }

    // Channels-first features: per image, the P x K map is F' W' for its C x P features F.
    void head_product_channels_first(const HeadRows& head) const {
        const float one = 1.f, zero = 0.f;
        const int channels = features_.c, positions = features_.h * features_.w;
        check(cublasSgemmStridedBatched(queue_->cublas, CUBLAS_OP_T, CUBLAS_OP_T, head.count, positions, channels, &one,
                                        static_cast<const float*>(head.weight), channels, 0,
                                        static_cast<const float*>(pointer(features_)), positions,
                                        static_cast<long long>(channels) * positions, &zero, output_.as<float>(),
                                        head.count, static_cast<long long>(positions) * head.count, features_.n),
              "cublasSgemmStridedBatched (linear head)");
        add_row_bias(output_.as<float>(), head.bias, std::size_t(features_.n) * positions, head.count, queue_->stream);
    }

    // Returns the number of output rows.
    std::size_t run_head(const HeadRows& head) const {
        if (output_kind_ == Output::logit_map) {
            const std::size_t rows = std::size_t(features_.n) * features_.h * features_.w;
            if (layout_ == Layout::nchw) head_product_channels_first(head);
            else head_product(pointer(features_), type_, rows, head);
            return rows;
        }
        spatial_mean(pointer(features_), type_, layout_, mean_.as<float>(), features_.n, features_.h * features_.w,
                     features_.c, queue_->stream);
        head_product(mean_.get(), DataType::fp32, std::size_t(features_.n), head);
        return std::size_t(features_.n);
    }

    cudnnMathType_t math_type() const {
        if (type_ == DataType::bf16) return CUDNN_TENSOR_OP_MATH;
        return options_.allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
    }

    void execute(const Step& step, void* workspace, std::size_t workspace_bytes) const {
        if (const auto* pool = std::get_if<PoolStep>(&step)) execute(*pool);
        else execute(std::get<ConvStep>(step), workspace, workspace_bytes);
    }

    void execute(const PoolStep& s) const {
        const float one = 1.f, zero = 0.f;
        check(cudnnPoolingForward(queue_->cudnn, s.pool, &one, s.x_desc, pointer(s.in), &zero, s.y_desc,
                                  pointer(s.out)),
              "cudnnPoolingForward");
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
        bias_shortcut_relu(pointer(s.out), type_, layout_, e.bias ? s.bias.as<float>() : nullptr,
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
        const std::string what = "activations of batch " + std::to_string(input_.n);
        input_buffer_ = DeviceBuffer(input_.bytes(size_of(type_)), what);
        for (std::size_t bytes : arenas_.bytes()) arena_buffers_.emplace_back(bytes, what);
        // Algorithms are measured with a generous scratch space; the plan keeps only what the chosen ones need.
        std::size_t free = 0, total = 0;
        check(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
        const std::size_t probe_bytes = std::min(config::gpu_probe_bytes, free / config::gpu_probe_share);
        DeviceBuffer probe(probe_bytes, "the convolution algorithm search");
        std::map<decltype(ConvStep::geometry), Choice> chosen;
        std::size_t needed = 0;
        for (auto& any : steps_) {
            auto* conv = std::get_if<ConvStep>(&any);
            if (!conv) continue;  // only convolutions have algorithms to choose
            ConvStep& step = *conv;
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
        capture_steps();
    }

    // The steps recorded once as a CUDA graph, so that a run launches
    // one graph instead of some hundred kernels (what bounds small batches). Where
    // cuDNN's kernels cannot be recorded, the steps simply run one by one.
    void capture_steps() {
        const Queue& q = *queue_;
        if (cudaStreamBeginCapture(q.stream, cudaStreamCaptureModeRelaxed) != cudaSuccess) {
            cudaGetLastError();
            return;
        }
        bool recorded = true;
        try {
            for (const auto& step : steps_) execute(step, workspace_.get(), workspace_.bytes());
        } catch (const Error&) {
            recorded = false;
        }
        cudaGraph_t graph = nullptr;
        const bool ended = cudaStreamEndCapture(q.stream, &graph) == cudaSuccess;
        cudaGraphExec_t executable = nullptr;
        if (recorded && ended && graph && cudaGraphInstantiate(&executable, graph, 0) == cudaSuccess)
            steps_graph_.reset(executable);
        cudaGetLastError();  // a failed recording leaves only this behind
        if (graph) cudaGraphDestroy(graph);
    }

    std::shared_ptr<const Queue> queue_;
    DataType type_;
    Layout layout_;
    PlanOptions options_;
    Output output_kind_;
    Activation input_, features_;
    int image_channels_ = 0;                  // the input's channels before padding
    DeviceBuffer images_, crop_table_;        // what run_crops cuts the input from
    DeviceBuffer nonfinite_{sizeof(unsigned), "a flag"};
    struct GraphDeleter {
        void operator()(cudaGraphExec_t graph) const { cudaGraphExecDestroy(graph); }
    };
    std::unique_ptr<std::remove_pointer_t<cudaGraphExec_t>, GraphDeleter> steps_graph_;
    std::vector<Step> steps_;
    std::vector<Activation> values_;  // by graph value, while the plan is built
    Arenas arenas_;
    DeviceBuffer input_buffer_;
    std::vector<DeviceBuffer> arena_buffers_;
    DeviceBuffer mean_;  // the features' spatial mean, N x C fp32 (logits only)
    DeviceBuffer workspace_, head_weight_, head_bias_, output_;
    Tensor head_weight_host_, head_bias_host_;  // for gathering the rows of chosen classes
    DataType head_type_ = DataType::fp32;
    std::vector<int> selected_classes_;
    DeviceBuffer selected_weight_, selected_bias_;
    int classes_ = 0;
};

}  // namespace bagnet::backend::cuda
