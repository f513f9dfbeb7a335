#pragma once
// The library's tunables that a user may want to know or change, in one place.
// Each is a default or a budget; none changes a result, only how fast it comes
// and how much memory it takes.
#include <algorithm>
#include <cstddef>
#include <thread>

namespace bagnet::config {

// The cores of this machine (logical CPUs): the default number of compute threads,
// and the most that bagnet runs, since more only slows compute-bound work down.
inline int machine_cores() { return std::max(1, int(std::thread::hardware_concurrency())); }

// Image-loading threads beside `compute_threads`: the cores those leave free, at least 1.
inline int loading_workers(int compute_threads) { return std::max(1, machine_cores() - compute_threads); }

// How many input pixels one batched pass over many crops (the dense heatmap's
// shifted passes) holds: enough to keep the device busy, little enough that the
// batch's activations stay far below its memory. On the CPU and on a GPU.
constexpr std::size_t host_batch_pixels = 8 * 256 * 256;
constexpr std::size_t gpu_batch_pixels = 64 * 256 * 256;

// The dense heatmap's evaluation at every pixel (layers/a_trous.hpp) holds every
// value at full resolution: at most this many bytes for the widest value of a
// batch (BagNet-33's 2048-channel last stage: one 224 x 224 image in one band, in
// about 1 GB of activations in all); larger images are cut into bands of rows.
constexpr std::size_t dense_value_bytes = std::size_t(512) << 20;

// How many images the analyses that look at every image of a data set (heatmaps,
// the attribution benchmark, the search for mistakes) hold at once.
constexpr std::size_t analysis_batch = 16;

// Compiled inference plans kept per model (one per input shape, precision and
// output kind); each holds its own copy of the folded weights.
constexpr std::size_t cached_plans = 4;

// oneDNN training primitives kept per kind; a changing input shape refills them.
constexpr std::size_t cached_training_primitives = 512;

// A oneDNN reorder of at most this many bytes runs on one thread: starting the
// pool costs more than the copy.
constexpr std::size_t serial_reorder_bytes = 256 << 10;

// The scratch space cuDNN's convolution algorithm search may use: at most this
// many bytes, and at most 1 / gpu_probe_share of the GPU's free memory.
constexpr std::size_t gpu_probe_bytes = std::size_t(1) << 30;
constexpr std::size_t gpu_probe_share = 4;

}  // namespace bagnet::config
