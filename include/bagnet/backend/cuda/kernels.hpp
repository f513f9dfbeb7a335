#pragma once
// The few GPU kernels cuDNN and cuBLAS do not provide. They are plain C++
// declarations so the rest of the backend compiles with any C++ compiler; the
// definitions (kernels.cu) are the one part of bagnet that nvcc compiles, into
// the bagnet::cuda library that CMake links when BAGNET_WITH_CUDA is on.
//
// Activations on the GPU are channels-last (N x H x W x C: bf16, and fp32 on TF32
// tensor cores) or channels-first (N x C x H x W: strict fp32, where cuDNN's
// classic kernels are fastest).
#include <cuda_runtime_api.h>

#include <cstddef>

namespace bagnet::gpu {

enum class DataType { fp32, bf16 };
enum class Layout { nchw, nhwc };

inline std::size_t size_of(DataType type) { return type == DataType::fp32 ? 4 : 2; }

// Crops of a batch of images: y[b] (padded_c channels of crop_h x crop_w, of `type`,
// in `layout`) is images[crops[3b]] (C x H x W fp32, the API's layout) from row
// crops[3b+1], column crops[3b+2]. Channels from c on are zeros (tensor-core kernels
// want channel counts in multiples of 8). A plain batch is the crops (b, 0, 0).
// Sets *nonfinite (zeroed by the caller) when a value read is NaN or infinite.
void gather_crops(const float* images, int c, int image_h, int image_w, const int* crops, int count, void* y,
                  DataType type, Layout layout, int padded_c, int crop_h, int crop_w, unsigned* nonfinite,
                  cudaStream_t stream);

// y[i] = x[i] converted to `type` (weights, once per plan).
void convert(const float* x, void* y, DataType type, std::size_t count, cudaStream_t stream);

// The epilogue of a convolution, in place on y (N images of C x H x W in `layout`):
//   y = relu?(y + bias[c] + shortcut[n, c, i, j])
// bias and shortcut may be null. shortcut has the same layout, at least H x W, and
// only its top-left H x W corner is added: the BagNet residual crop.
void bias_shortcut_relu(void* y, DataType type, Layout layout, const float* bias, const void* shortcut,
                        int shortcut_h, int shortcut_w, int n, int h, int w, int c, bool relu, cudaStream_t stream);

// mean[n, c] = average of x[n, c] over its `positions` pixels (x of `type` in `layout`), in fp32.
void spatial_mean(const void* x, DataType type, Layout layout, float* mean, int n, int positions, int c,
                  cudaStream_t stream);

// y[r, k] += bias[k] for a rows x cols row-major fp32 matrix.
void add_row_bias(float* y, const float* bias, std::size_t rows, int cols, cudaStream_t stream);

}  // namespace bagnet::gpu
