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

namespace bagnet::backend::cuda {

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

// ---- Training: activations and gradients are channels-first fp32 (N x C x P, P pixels).

// The biased mean and variance of every channel over N and P (two passes, summed in double).
void channel_moments(const float* x, int n, int c, int positions, float* mean, float* variance, cudaStream_t stream);

// y = relu?(gamma[c] (x - mean[c]) / sqrt(variance[c] + eps) + beta[c]).
void batch_norm_apply(const float* x, float* y, const float* mean, const float* variance, const float* gamma,
                      const float* beta, float eps, bool relu, int n, int c, int positions, cudaStream_t stream);

// For the gradient dz of the batch norm's output (dz = dy, or dy where y > 0 when y, the
// output of relu(batch_norm(x)), is given): sum_dz[c] and sum_dz_xhat[c], summed in double.
void batch_norm_backward_sums(const float* x, const float* y, const float* dy, const float* mean,
                              const float* variance, float eps, int n, int c, int positions, float* sum_dz,
                              float* sum_dz_xhat, cudaStream_t stream);

// dx = gamma / sqrt(variance + eps) (dz - (sum_dz + xhat sum_dz_xhat) / (N P)) in training mode
// (batch statistics), gamma / sqrt(variance + eps) dz in evaluation mode. dx may be dy.
void batch_norm_backward_input(const float* x, const float* y, const float* dy, float* dx, const float* mean,
                               const float* variance, const float* gamma, const float* sum_dz,
                               const float* sum_dz_xhat, float eps, bool training, int n, int c, int positions,
                               cudaStream_t stream);

// y = max(x, 0); y may be x.
void relu(const float* x, float* y, std::size_t count, cudaStream_t stream);

// dy = dy where y > 0, else 0 (in place).
void relu_backward(const float* y, float* dy, std::size_t count, cudaStream_t stream);

// The top-left h x w of every plane of out (planes x shortcut_h x shortcut_w, zeroed by
// the caller) = dy (planes x h x w): the gradient of the residual crop.
void uncrop(const float* dy, float* out, int planes, int h, int w, int shortcut_h, int shortcut_w,
            cudaStream_t stream);

// sum += g.
void accumulate(float* sum, const float* g, std::size_t count, cudaStream_t stream);

}  // namespace bagnet::backend::cuda
