// Definitions of the kernels declared in kernels.hpp; compiled by nvcc into bagnet::cuda.
// A project that does not use CMake compiles this one file with nvcc and links it.
#include <cuda_bf16.h>

#include <algorithm>

#include "bagnet/backend/cuda/kernels.hpp"
#include "bagnet/backend/cuda/runtime.hpp"

namespace bagnet::backend::cuda {
namespace {

__device__ inline float to_float(float v) { return v; }
__device__ inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T>
__device__ inline T from_float(float v);
template <>
__device__ inline float from_float<float>(float v) {
    return v;
}
template <>
__device__ inline __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

// V consecutive values moved as one 16-byte (or smaller) access.
template <class T, int V>
struct alignas(sizeof(T) * V) Pack {
    T v[V];
};

constexpr int threads_per_block = 256;

// Enough blocks to fill any current GPU; the kernels loop over the rest (grid-stride).
inline unsigned blocks_for(std::size_t work) {
    return unsigned(std::min<std::size_t>((work + threads_per_block - 1) / threads_per_block, 8192));
}

#define BAGNET_GRID_STRIDE(index, total)                                                                   \
    for (std::size_t index = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; index < (total); \
         index += std::size_t(gridDim.x) * blockDim.x)

template <class T>
__global__ void gather_crops_kernel(const float* images, int c, int image_h, int image_w, const int* crops, T* y,
                                    bool channels_last, int padded_c, int crop_h, int crop_w, unsigned* nonfinite,
                                    std::size_t total) {
    BAGNET_GRID_STRIDE(o, total) {
        int channel, i, j;
        std::size_t p = o;
        if (channels_last) {
            channel = int(p % padded_c), p /= padded_c;
            j = int(p % crop_w), p /= crop_w;
            i = int(p % crop_h), p /= crop_h;
        } else {
            j = int(p % crop_w), p /= crop_w;
            i = int(p % crop_h), p /= crop_h;
            channel = int(p % padded_c), p /= padded_c;
        }
        const int* crop = crops + 3 * p;
        const float value =
            channel < c ? images[((std::size_t(crop[0]) * c + channel) * image_h + crop[1] + i) * image_w + crop[2] + j]
                        : 0.f;
        if (!isfinite(value)) *nonfinite = 1u;  // every writer writes the same: no atomics needed
        y[o] = from_float<T>(value);
    }
}

template <class T>
__global__ void convert_kernel(const float* x, T* y, std::size_t total) {
    BAGNET_GRID_STRIDE(i, total) { y[i] = from_float<T>(x[i]); }
}

// One thread per V channels of one pixel.
template <class T, int V>
__global__ void bias_shortcut_relu_kernel(T* y, const float* bias, const T* shortcut, int shortcut_h, int shortcut_w,
                                          int h, int w, int groups, bool relu, std::size_t total) {
    using P = Pack<T, V>;
    BAGNET_GRID_STRIDE(g, total) {
        const int group = int(g % groups);
        P out = reinterpret_cast<P*>(y)[g];
        float acc[V];
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] = to_float(out.v[k]) + (bias ? bias[group * V + k] : 0.f);
        if (shortcut) {
            std::size_t pixel = g / groups;
            const int j = int(pixel % w);
            pixel /= w;
            const int i = int(pixel % h);
            const std::size_t b = pixel / h;
            const P s = reinterpret_cast<const P*>(shortcut)[((b * shortcut_h + i) * shortcut_w + j) * groups + group];
#pragma unroll
            for (int k = 0; k < V; ++k) acc[k] += to_float(s.v[k]);
        }
#pragma unroll
        for (int k = 0; k < V; ++k) out.v[k] = from_float<T>(relu ? fmaxf(acc[k], 0.f) : acc[k]);
        reinterpret_cast<P*>(y)[g] = out;
    }
}

// Channels-first: one thread per value.
template <class T>
__global__ void bias_shortcut_relu_nchw_kernel(T* y, const float* bias, const T* shortcut, int shortcut_h,
                                               int shortcut_w, int c, int h, int w, bool relu, std::size_t total) {
    BAGNET_GRID_STRIDE(o, total) {
        std::size_t p = o;
        const int j = int(p % w);
        p /= w;
        const int i = int(p % h);
        p /= h;
        const int channel = int(p % c);
        float value = to_float(y[o]) + (bias ? bias[channel] : 0.f);
        if (shortcut) value += to_float(shortcut[(p * shortcut_h + i) * shortcut_w + j]);
        y[o] = from_float<T>(relu ? fmaxf(value, 0.f) : value);
    }
}

// Channels-first: one warp per (image, channel), its pixels contiguous.
template <class T>
__global__ void spatial_mean_nchw_kernel(const T* x, float* mean, int positions, std::size_t planes) {
    const std::size_t warp = (blockIdx.x * std::size_t(blockDim.x) + threadIdx.x) / 32;
    const int lane = int(threadIdx.x % 32);
    if (warp >= planes) return;
    const T* plane = x + warp * positions;
    float sum = 0.f;
    for (int p = lane; p < positions; p += 32) sum += to_float(plane[p]);
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
    if (lane == 0) mean[warp] = sum / float(positions);
}

template <class T>
__global__ void spatial_mean_kernel(const T* x, float* mean, int positions, int c, std::size_t total) {
    BAGNET_GRID_STRIDE(o, total) {
        const std::size_t b = o / c;
        const int channel = int(o % c);
        const T* column = x + b * positions * std::size_t(c) + channel;
        float sum = 0.f;
        for (int p = 0; p < positions; ++p) sum += to_float(column[std::size_t(p) * c]);
        mean[o] = sum / float(positions);
    }
}

__global__ void add_row_bias_kernel(float* y, const float* bias, int cols, std::size_t total) {
    BAGNET_GRID_STRIDE(i, total) { y[i] += bias[i % cols]; }
}

template <class T, int V>
void launch_epilogue(void* y, const float* bias, const void* shortcut, int shortcut_h, int shortcut_w, int n, int h,
                     int w, int c, bool relu, cudaStream_t stream) {
    const std::size_t total = std::size_t(n) * h * w * (c / V);
    bias_shortcut_relu_kernel<T, V><<<blocks_for(total), threads_per_block, 0, stream>>>(
        static_cast<T*>(y), bias, static_cast<const T*>(shortcut), shortcut_h, shortcut_w, h, w, c / V, relu, total);
}

template <class T>
void launch_epilogue_nchw(void* y, const float* bias, const void* shortcut, int shortcut_h, int shortcut_w, int n,
                          int h, int w, int c, bool relu, cudaStream_t stream) {
    const std::size_t total = std::size_t(n) * c * h * w;
    bias_shortcut_relu_nchw_kernel<T><<<blocks_for(total), threads_per_block, 0, stream>>>(
        static_cast<T*>(y), bias, static_cast<const T*>(shortcut), shortcut_h, shortcut_w, c, h, w, relu, total);
}

// ---- training kernels

// Sum over the threads of a block, in double (blockDim.x == threads_per_block).
__device__ inline double block_sum(double value, double* shared) {
    shared[threadIdx.x] = value;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
        __syncthreads();
    }
    const double total = shared[0];
    __syncthreads();
    return total;
}

// One block per channel; the channel's values are the n runs of `positions` at (b C + c) P.
__global__ void channel_moments_kernel(const float* x, int n, int c, int positions, float* mean, float* variance) {
    __shared__ double shared[threads_per_block];
    const int channel = blockIdx.x;
    const std::size_t count = std::size_t(n) * positions;
    double sum = 0;
    for (std::size_t i = threadIdx.x; i < count; i += blockDim.x)
        sum += x[(i / positions * c + channel) * positions + i % positions];
    const double m = block_sum(sum, shared) / double(count);
    double squares = 0;
    for (std::size_t i = threadIdx.x; i < count; i += blockDim.x) {
        const double d = x[(i / positions * c + channel) * positions + i % positions] - m;
        squares += d * d;
    }
    const double v = block_sum(squares, shared) / double(count);
    if (threadIdx.x == 0) {
        mean[channel] = float(m);
        variance[channel] = float(v);
    }
}

__global__ void batch_norm_apply_kernel(const float* x, float* y, const float* mean, const float* variance,
                                        const float* gamma, const float* beta, float eps, bool relu, int c,
                                        int positions, std::size_t total) {
    BAGNET_GRID_STRIDE(i, total) {
        const int channel = int(i / positions % c);
        const float scale = gamma[channel] * rsqrtf(variance[channel] + eps);
        const float value = (x[i] - mean[channel]) * scale + beta[channel];
        y[i] = relu ? fmaxf(value, 0.f) : value;
    }
}

__global__ void batch_norm_backward_sums_kernel(const float* x, const float* y, const float* dy, const float* mean,
                                                const float* variance, float eps, int n, int c, int positions,
                                                float* sum_dz, float* sum_dz_xhat) {
    __shared__ double shared[threads_per_block];
    const int channel = blockIdx.x;
    const std::size_t count = std::size_t(n) * positions;
    const double m = mean[channel], inverse = 1.0 / sqrt(double(variance[channel]) + eps);
    double dz_total = 0, dz_xhat_total = 0;
    for (std::size_t i = threadIdx.x; i < count; i += blockDim.x) {
        const std::size_t at = (i / positions * c + channel) * positions + i % positions;
        const double dz = y && y[at] <= 0.f ? 0.0 : double(dy[at]);
        dz_total += dz;
        dz_xhat_total += dz * (double(x[at]) - m) * inverse;
    }
    const double a = block_sum(dz_total, shared), b = block_sum(dz_xhat_total, shared);
    if (threadIdx.x == 0) {
        sum_dz[channel] = float(a);
        sum_dz_xhat[channel] = float(b);
    }
}

__global__ void batch_norm_backward_input_kernel(const float* x, const float* y, const float* dy, float* dx,
                                                 const float* mean, const float* variance, const float* gamma,
                                                 const float* sum_dz, const float* sum_dz_xhat, float eps,
                                                 bool training, int c, int positions, float count,
                                                 std::size_t total) {
    BAGNET_GRID_STRIDE(i, total) {
        const int channel = int(i / positions % c);
        const float inverse = rsqrtf(variance[channel] + eps);
        const float dz = y && y[i] <= 0.f ? 0.f : dy[i];
        float g = dz;
        if (training) {
            const float xhat = (x[i] - mean[channel]) * inverse;
            g = dz - (sum_dz[channel] + xhat * sum_dz_xhat[channel]) / count;
        }
        dx[i] = gamma[channel] * inverse * g;
    }
}

__global__ void relu_kernel(const float* x, float* y, std::size_t total) {
    BAGNET_GRID_STRIDE(i, total) { y[i] = fmaxf(x[i], 0.f); }
}

__global__ void relu_backward_kernel(const float* y, float* dy, std::size_t total) {
    BAGNET_GRID_STRIDE(i, total) {
        if (y[i] <= 0.f) dy[i] = 0.f;
    }
}

__global__ void uncrop_kernel(const float* dy, float* out, int h, int w, int shortcut_h, int shortcut_w,
                              std::size_t total) {
    BAGNET_GRID_STRIDE(i, total) {
        const int j = int(i % w);
        const std::size_t rest = i / w;
        const int row = int(rest % h);
        const std::size_t plane = rest / h;
        out[(plane * shortcut_h + row) * shortcut_w + j] = dy[i];
    }
}

__global__ void accumulate_kernel(float* sum, const float* g, std::size_t total) {
    BAGNET_GRID_STRIDE(i, total) { sum[i] += g[i]; }
}

}  // namespace

void gather_crops(const float* images, int c, int image_h, int image_w, const int* crops, int count, void* y,
                  DataType type, Layout layout, int padded_c, int crop_h, int crop_w, unsigned* nonfinite,
                  cudaStream_t stream) {
    const std::size_t total = std::size_t(count) * crop_h * crop_w * padded_c;
    const bool channels_last = layout == Layout::nhwc;
    if (type == DataType::fp32)
        gather_crops_kernel<<<blocks_for(total), threads_per_block, 0, stream>>>(
            images, c, image_h, image_w, crops, static_cast<float*>(y), channels_last, padded_c, crop_h, crop_w,
            nonfinite, total);
    else
        gather_crops_kernel<<<blocks_for(total), threads_per_block, 0, stream>>>(
            images, c, image_h, image_w, crops, static_cast<__nv_bfloat16*>(y), channels_last, padded_c, crop_h,
            crop_w, nonfinite, total);
    check(cudaGetLastError(), "the input gathering kernel");
}

void convert(const float* x, void* y, DataType type, std::size_t count, cudaStream_t stream) {
    if (type == DataType::fp32)
        convert_kernel<<<blocks_for(count), threads_per_block, 0, stream>>>(x, static_cast<float*>(y), count);
    else
        convert_kernel<<<blocks_for(count), threads_per_block, 0, stream>>>(x, static_cast<__nv_bfloat16*>(y), count);
    check(cudaGetLastError(), "the conversion kernel");
}

void bias_shortcut_relu(void* y, DataType type, Layout layout, const float* bias, const void* shortcut,
                        int shortcut_h, int shortcut_w, int n, int h, int w, int c, bool relu, cudaStream_t stream) {
    if (layout == Layout::nchw) {
        if (type == DataType::fp32)
            launch_epilogue_nchw<float>(y, bias, shortcut, shortcut_h, shortcut_w, n, h, w, c, relu, stream);
        else launch_epilogue_nchw<__nv_bfloat16>(y, bias, shortcut, shortcut_h, shortcut_w, n, h, w, c, relu, stream);
    } else if (type == DataType::fp32) {
        // 16-byte accesses where the channel count allows (every BagNet layer but the stem).
        if (c % 4 == 0) launch_epilogue<float, 4>(y, bias, shortcut, shortcut_h, shortcut_w, n, h, w, c, relu, stream);
        else launch_epilogue<float, 1>(y, bias, shortcut, shortcut_h, shortcut_w, n, h, w, c, relu, stream);
    } else {
        if (c % 8 == 0)
            launch_epilogue<__nv_bfloat16, 8>(y, bias, shortcut, shortcut_h, shortcut_w, n, h, w, c, relu, stream);
        else launch_epilogue<__nv_bfloat16, 1>(y, bias, shortcut, shortcut_h, shortcut_w, n, h, w, c, relu, stream);
    }
    check(cudaGetLastError(), "the convolution epilogue kernel");
}

void spatial_mean(const void* x, DataType type, Layout layout, float* mean, int n, int positions, int c,
                  cudaStream_t stream) {
    const std::size_t total = std::size_t(n) * c;
    if (layout == Layout::nchw) {
        const auto blocks = unsigned((total * 32 + threads_per_block - 1) / threads_per_block);
        if (type == DataType::fp32)
            spatial_mean_nchw_kernel<<<blocks, threads_per_block, 0, stream>>>(static_cast<const float*>(x), mean,
                                                                                positions, total);
        else
            spatial_mean_nchw_kernel<<<blocks, threads_per_block, 0, stream>>>(static_cast<const __nv_bfloat16*>(x),
                                                                                mean, positions, total);
    } else if (type == DataType::fp32) {
        spatial_mean_kernel<<<blocks_for(total), threads_per_block, 0, stream>>>(static_cast<const float*>(x), mean,
                                                                                   positions, c, total);
    } else {
        spatial_mean_kernel<<<blocks_for(total), threads_per_block, 0, stream>>>(
            static_cast<const __nv_bfloat16*>(x), mean, positions, c, total);
    }
    check(cudaGetLastError(), "the spatial mean kernel");
}

void add_row_bias(float* y, const float* bias, std::size_t rows, int cols, cudaStream_t stream) {
    const std::size_t total = rows * std::size_t(cols);
    add_row_bias_kernel<<<blocks_for(total), threads_per_block, 0, stream>>>(y, bias, cols, total);
    check(cudaGetLastError(), "the bias kernel");
}

void channel_moments(const float* x, int n, int c, int positions, float* mean, float* variance, cudaStream_t stream) {
    channel_moments_kernel<<<unsigned(c), threads_per_block, 0, stream>>>(x, n, c, positions, mean, variance);
    check(cudaGetLastError(), "the batch statistics kernel");
}

void batch_norm_apply(const float* x, float* y, const float* mean, const float* variance, const float* gamma,
                      const float* beta, float eps, bool relu, int n, int c, int positions, cudaStream_t stream) {
    const std::size_t total = std::size_t(n) * c * positions;
    batch_norm_apply_kernel<<<blocks_for(total), threads_per_block, 0, stream>>>(x, y, mean, variance, gamma, beta,
                                                                                  eps, relu, c, positions, total);
    check(cudaGetLastError(), "the batch norm kernel");
}

void batch_norm_backward_sums(const float* x, const float* y, const float* dy, const float* mean,
                              const float* variance, float eps, int n, int c, int positions, float* sum_dz,
                              float* sum_dz_xhat, cudaStream_t stream) {
    batch_norm_backward_sums_kernel<<<unsigned(c), threads_per_block, 0, stream>>>(x, y, dy, mean, variance, eps, n, c,
                                                                                    positions, sum_dz, sum_dz_xhat);
    check(cudaGetLastError(), "the batch norm gradient sums kernel");
}

void batch_norm_backward_input(const float* x, const float* y, const float* dy, float* dx, const float* mean,
                               const float* variance, const float* gamma, const float* sum_dz,
                               const float* sum_dz_xhat, float eps, bool training, int n, int c, int positions,
                               cudaStream_t stream) {
    const std::size_t total = std::size_t(n) * c * positions;
    batch_norm_backward_input_kernel<<<blocks_for(total), threads_per_block, 0, stream>>>(
        x, y, dy, dx, mean, variance, gamma, sum_dz, sum_dz_xhat, eps, training, c, positions,
        float(std::size_t(n) * positions), total);
    check(cudaGetLastError(), "the batch norm input gradient kernel");
}

void relu(const float* x, float* y, std::size_t count, cudaStream_t stream) {
    relu_kernel<<<blocks_for(count), threads_per_block, 0, stream>>>(x, y, count);
    check(cudaGetLastError(), "the ReLU kernel");
}

void relu_backward(const float* y, float* dy, std::size_t count, cudaStream_t stream) {
    relu_backward_kernel<<<blocks_for(count), threads_per_block, 0, stream>>>(y, dy, count);
    check(cudaGetLastError(), "the ReLU gradient kernel");
}

void uncrop(const float* dy, float* out, int planes, int h, int w, int shortcut_h, int shortcut_w,
            cudaStream_t stream) {
    const std::size_t total = std::size_t(planes) * h * w;
    uncrop_kernel<<<blocks_for(total), threads_per_block, 0, stream>>>(dy, out, h, w, shortcut_h, shortcut_w, total);
    check(cudaGetLastError(), "the uncrop kernel");
}

void accumulate(float* sum, const float* g, std::size_t count, cudaStream_t stream) {
    accumulate_kernel<<<blocks_for(count), threads_per_block, 0, stream>>>(sum, g, count);
    check(cudaGetLastError(), "the gradient sum kernel");
}

}  // namespace bagnet::backend::cuda
