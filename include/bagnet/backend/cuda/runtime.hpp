#pragma once
// The CUDA runtime, cuDNN and cuBLAS behind small owning types. Every failure
// becomes a one-line bagnet::Error that names the call and the library's own
// reason, so a user sees "no CUDA GPU" or "out of GPU memory" rather than a crash.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstddef>
#include <string>
#include <utility>

#include "bagnet/error.hpp"

namespace bagnet::backend::cuda {

inline void check(cudaError_t status, const char* what) {
    if (status == cudaSuccess) return;
    cudaGetLastError();  // reset the last-error slot so the next check does not report this one again
    throw Error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(status));
}

inline void check(cudnnStatus_t status, const char* what) {
    if (status != CUDNN_STATUS_SUCCESS) throw Error(std::string("cuDNN error in ") + what + ": " + cudnnGetErrorString(status));
}

inline void check(cublasStatus_t status, const char* what) {
    if (status != CUBLAS_STATUS_SUCCESS)
        throw Error(std::string("cuBLAS error in ") + what + ": " + cublasGetStatusString(status));
}

// Why no GPU can be used, or "" when one can. Asked once: the answer does not change.
inline const std::string& gpu_unavailable_reason() {
    static const std::string reason = [] {
        int count = 0;
        const cudaError_t status = cudaGetDeviceCount(&count);
        if (status != cudaSuccess) {
            cudaGetLastError();
            return std::string(cudaGetErrorString(status));
        }
        return count > 0 ? std::string() : std::string("the driver reports no device");
    }();
    return reason;
}

inline bool gpu_available() { return gpu_unavailable_reason().empty(); }

inline void require_gpu() {
    if (!gpu_available())
        throw Error("no CUDA GPU is available (" + gpu_unavailable_reason() + "); use the cpu backend");
}

inline std::string mebibytes(std::size_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

// Throws the one-line error for a failed allocation of `bytes` for `what`.
inline void check_allocation(cudaError_t status, std::size_t bytes, const std::string& what) {
    if (status == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        std::size_t free = 0, total = 0;
        cudaMemGetInfo(&free, &total);
        throw Error("out of GPU memory: " + what + " needs " + mebibytes(bytes) + ", " + mebibytes(free) + " of " +
                    mebibytes(total) + " are free (try a smaller batch)");
    }
    check(status, ("cudaMalloc for " + what).c_str());
}

// Device memory, freed with its owner.
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    DeviceBuffer(std::size_t bytes, const std::string& what) : bytes_(bytes) {
        if (bytes == 0) return;
        check_allocation(cudaMalloc(&data_, bytes), bytes, what);
    }
    DeviceBuffer(DeviceBuffer&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
    DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
        std::swap(data_, other.data_);
        std::swap(bytes_, other.bytes_);
        return *this;
    }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer() {
        if (data_) cudaFree(data_);
    }

    void* get() const { return data_; }
    template <class T>
    T* as() const {
        return static_cast<T*>(data_);
    }
    std::size_t bytes() const { return bytes_; }

private:
    void* data_ = nullptr;
    std::size_t bytes_ = 0;
};

// A handle-like cuDNN/cuBLAS/CUDA object with its create and destroy functions.
template <class Handle, class Status, Status (*create)(Handle*), Status (*destroy)(Handle)>
class Owned {
public:
    explicit Owned(const char* what) { check(create(&handle_), what); }
    Owned(Owned&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Owned& operator=(Owned&& other) noexcept {
        std::swap(handle_, other.handle_);
        return *this;
    }
    Owned(const Owned&) = delete;
    Owned& operator=(const Owned&) = delete;
    ~Owned() {
        if (handle_) destroy(handle_);
    }
    operator Handle() const { return handle_; }  // NOLINT: passes straight into the C APIs

private:
    Handle handle_ = nullptr;
};

inline cudaError_t create_stream(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamNonBlocking); }

using Stream = Owned<cudaStream_t, cudaError_t, create_stream, cudaStreamDestroy>;
using CudnnHandle = Owned<cudnnHandle_t, cudnnStatus_t, cudnnCreate, cudnnDestroy>;
using CublasHandle = Owned<cublasHandle_t, cublasStatus_t, cublasCreate, cublasDestroy>;
using TensorDescriptor =
    Owned<cudnnTensorDescriptor_t, cudnnStatus_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDescriptor =
    Owned<cudnnFilterDescriptor_t, cudnnStatus_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvolutionDescriptor = Owned<cudnnConvolutionDescriptor_t, cudnnStatus_t, cudnnCreateConvolutionDescriptor,
                                    cudnnDestroyConvolutionDescriptor>;
using ActivationDescriptor = Owned<cudnnActivationDescriptor_t, cudnnStatus_t, cudnnCreateActivationDescriptor,
                                   cudnnDestroyActivationDescriptor>;
using PoolingDescriptor =
    Owned<cudnnPoolingDescriptor_t, cudnnStatus_t, cudnnCreatePoolingDescriptor, cudnnDestroyPoolingDescriptor>;

// The GPU work queue of one model, with the library handles bound to it: work
// of different models can overlap, work of one model runs in order.
struct Queue {
    Queue() : stream("cudaStreamCreate"), cudnn("cudnnCreate"), cublas("cublasCreate") {
        check(cudnnSetStream(cudnn, stream), "cudnnSetStream");
        check(cublasSetStream(cublas, stream), "cublasSetStream");
    }
    void synchronize() const { check(cudaStreamSynchronize(stream), "cudaStreamSynchronize"); }

    Stream stream;
    CudnnHandle cudnn;
    CublasHandle cublas;
};

inline void upload(void* device, const void* host, std::size_t bytes, const Queue& queue) {
    check(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, queue.stream), "copy to the GPU");
}

inline void download(void* host, const void* device, std::size_t bytes, const Queue& queue) {
    check(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, queue.stream), "copy from the GPU");
    queue.synchronize();
}

}  // namespace bagnet::backend::cuda
