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

}  // namespace bagnet::gpu
