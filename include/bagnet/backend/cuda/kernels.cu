// Definitions of the kernels declared in kernels.hpp; compiled by nvcc into bagnet::cuda.
// A project that does not use CMake compiles this one file with nvcc and links it.
#include <cuda_bf16.h>

#include <algorithm>

#include "bagnet/backend/cuda/kernels.hpp"
#include "bagnet/backend/cuda/runtime.hpp"

namespace bagnet::gpu {
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

// Channels beyond c (up to padded_c) are zeros.
template <class T>
__global__ void nchw_to_nhwc_kernel(const float* x, T* y, int c, int padded_c, int h, int w, std::size_t total) {
    BAGNET_GRID_STRIDE(o, total) {
        const int channel = int(o % padded_c);
        std::size_t p = o / padded_c;
        const int j = int(p % w);
        p /= w;
        const int i = int(p % h);
        const std::size_t b = p / h;
        y[o] = from_float<T>(channel < c ? x[((b * c + channel) * h + i) * w + j] : 0.f);
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

}  // namespace

void nchw_to_nhwc(const float* x, void* y, DataType type, int n, int c, int padded_c, int h, int w,
                  cudaStream_t stream) {
    const std::size_t total = std::size_t(n) * padded_c * h * w;
    if (type == DataType::fp32)
        nchw_to_nhwc_kernel<<<blocks_for(total), threads_per_block, 0, stream>>>(x, static_cast<float*>(y), c, padded_c,
                                                                                   h, w, total);
    else
        nchw_to_nhwc_kernel<<<blocks_for(total), threads_per_block, 0, stream>>>(x, static_cast<__nv_bfloat16*>(y), c,
                                                                                   padded_c, h, w, total);
    check(cudaGetLastError(), "the input layout kernel");
}

void convert(const float* x, void* y, DataType type, std::size_t count, cudaStream_t stream) {
    if (type == DataType::fp32)
        convert_kernel<<<blocks_for(count), threads_per_block, 0, stream>>>(x, static_cast<float*>(y), count);
    else
        convert_kernel<<<blocks_for(count), threads_per_block, 0, stream>>>(x, static_cast<__nv_bfloat16*>(y), count);
    check(cudaGetLastError(), "the conversion kernel");
}

void bias_shortcut_relu(void* y, DataType type, const float* bias, const void* shortcut, int shortcut_h,
                        int shortcut_w, int n, int h, int w, int c, bool relu, cudaStream_t stream) {
    // 16-byte accesses where the channel count allows (every BagNet layer but the stem).
    if (type == DataType::fp32) {
        if (c % 4 == 0) launch_epilogue<float, 4>(y, bias, shortcut, shortcut_h, shortcut_w, n, h, w, c, relu, stream);
        else launch_epilogue<float, 1>(y, bias, shortcut, shortcut_h, shortcut_w, n, h, w, c, relu, stream);
    } else {
        if (c % 8 == 0)
            launch_epilogue<__nv_bfloat16, 8>(y, bias, shortcut, shortcut_h, shortcut_w, n, h, w, c, relu, stream);
        else launch_epilogue<__nv_bfloat16, 1>(y, bias, shortcut, shortcut_h, shortcut_w, n, h, w, c, relu, stream);
    }
    check(cudaGetLastError(), "the convolution epilogue kernel");
}

void spatial_mean(const void* x, DataType type, float* mean, int n, int positions, int c, cudaStream_t stream) {
    const std::size_t total = std::size_t(n) * c;
    if (type == DataType::fp32)
        spatial_mean_kernel<<<blocks_for(total), threads_per_block, 0, stream>>>(static_cast<const float*>(x), mean,
                                                                                   positions, c, total);
    else
        spatial_mean_kernel<<<blocks_for(total), threads_per_block, 0, stream>>>(
            static_cast<const __nv_bfloat16*>(x), mean, positions, c, total);
    check(cudaGetLastError(), "the spatial mean kernel");
}

void add_row_bias(float* y, const float* bias, std::size_t rows, int cols, cudaStream_t stream) {
    const std::size_t total = rows * std::size_t(cols);
    add_row_bias_kernel<<<blocks_for(total), threads_per_block, 0, stream>>>(y, bias, cols, total);
    check(cudaGetLastError(), "the bias kernel");
}

}  // namespace bagnet::gpu
