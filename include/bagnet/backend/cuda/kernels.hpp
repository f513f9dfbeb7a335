#pragma once
// The few GPU kernels cuDNN and cuBLAS do not provide. They are plain C++
// declarations so the rest of the backend compiles with any C++ compiler; the
// definitions (kernels.cu) are the one part of bagnet that nvcc compiles, into
// the bagnet::cuda library that CMake links when BAGNET_WITH_CUDA is on.
//
// Activations on the GPU are channels-last (N x H x W x C), in fp32 or bf16.
#include <cuda_runtime_api.h>

#include <cstddef>

namespace bagnet::gpu {

enum class DataType { fp32, bf16 };

inline std::size_t size_of(DataType type) { return type == DataType::fp32 ? 4 : 2; }

// x: N x C x H x W fp32 (the API's layout) -> y: N x H x W x padded_c of `type`, the
// channels from c on zero (tensor-core kernels want channel counts in multiples of 8).
void nchw_to_nhwc(const float* x, void* y, DataType type, int n, int c, int padded_c, int h, int w,
                  cudaStream_t stream);

// y[i] = x[i] converted to `type` (weights, once per plan).
void convert(const float* x, void* y, DataType type, std::size_t count, cudaStream_t stream);

// The epilogue of a convolution, in place on y (N x H x W x C):
//   y = relu?(y + bias[c] + shortcut[n, i, j, c])
// bias and shortcut may be null. shortcut is N x shortcut_h x shortcut_w x C, at least H x W, and
// only its top-left H x W corner is added: the BagNet residual crop.
void bias_shortcut_relu(void* y, DataType type, const float* bias, const void* shortcut, int shortcut_h,
                        int shortcut_w, int n, int h, int w, int c, bool relu, cudaStream_t stream);

// mean[n, c] = average over the h*w positions of x[n, ., c] (x: N x HW x C of `type`), in fp32.
void spatial_mean(const void* x, DataType type, float* mean, int n, int positions, int c, cudaStream_t stream);

// y[r, k] += bias[k] for a rows x cols row-major fp32 matrix.
void add_row_bias(float* y, const float* bias, std::size_t rows, int cols, cudaStream_t stream);

}  // namespace bagnet::gpu
