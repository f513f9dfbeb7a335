#pragma once
// Batch norm over a batch shared by several processes (TrainOptions::sync_batch_norm): the
// statistics and the backward pass's sums are all-reduced, so that N processes
// compute what one process computes on the whole batch (PyTorch's SyncBatchNorm).
//
// It runs on plain NCHW tensors whatever the backend (backprop converts in and
// out), in double like the reference backend's sums: it is opt-in, and the extra
// conversions are small beside the all-reduces themselves.
#include <cmath>
#include <utility>
#include <vector>

#include "bagnet/backend/reference/backward.hpp"
#include "bagnet/distributed/communicator.hpp"

namespace bagnet::train {

namespace detail {
// Per-channel sums of f(channel, value index) over this process's share.
template <class F>
std::vector<double> local_channel_sums(const Tensor4& x, F&& f) {
    std::vector<double> sums(x.shape()[1], 0.0);
    backend::reference::for_each_plane(x, [&](std::size_t c, std::size_t offset, std::size_t plane) {
        for (std::size_t j = 0; j < plane; ++j) sums[c] += f(c, offset + j);
    });
    return sums;
}

// The same summed over all processes.
template <class F>
std::vector<double> channel_sums(const Tensor4& x, distributed::Communicator& communicator, F&& f) {
    std::vector<double> sums = local_channel_sums(x, std::forward<F>(f));
    communicator.all_reduce_sum(sums.data(), sums.size());
    return sums;
}

inline double global_count(const Tensor4& x, distributed::Communicator& communicator) {
    double count = double(x.size() / std::max<std::size_t>(1, x.shape()[1]));
    communicator.all_reduce_sum(&count, 1);
    return count;
}
}  // namespace detail

// The batch statistics over every process's share (mean, then the biased variance
// around it: two passes, as the reference backend computes them), and the count of
// values per channel they cover.
inline BatchStatistics synchronised_statistics(const Tensor4& x, distributed::Communicator& communicator) {
    const double count = detail::global_count(x, communicator);
    const std::vector<double> sum = detail::channel_sums(x, communicator, [&](std::size_t, std::size_t i) {
        return double(x.data()[i]);
    });
    const std::vector<double> squares = detail::channel_sums(x, communicator, [&](std::size_t c, std::size_t i) {
        const double d = double(x.data()[i]) - sum[c] / count;
        return d * d;
    });
    BatchStatistics stats{Tensor::from_shape({sum.size()}), Tensor::from_shape({sum.size()}), count};
    for (std::size_t c = 0; c < sum.size(); ++c) {
        stats.mean(c) = float(sum[c] / count);
        stats.variance(c) = float(squares[c] / count);
    }
    return stats;
}

// d loss / d x and the parameter gradients of y = batch_norm(x) with statistics over
// every process's share; dy is the gradient of y (of relu(y) already masked, when a
// ReLU follows). The input gradient needs the sums of dy and dy * xhat over all
// processes; the parameter gradients are this process's part, which the gradient
// exchange then sums as it does every other parameter's (PyTorch's SyncBatchNorm).
inline LayerGradients<Tensor4> synchronised_batch_norm_backward(const Tensor4& x, const Tensor4& dy,
                                                                const BatchStatistics& stats, const Tensor& gamma,
                                                                double eps, distributed::Communicator& communicator) {
    const std::size_t channels = x.shape()[1];
    std::vector<double> inv_std(channels);
    for (std::size_t c = 0; c < channels; ++c) inv_std[c] = 1.0 / std::sqrt(double(stats.variance(c)) + eps);
    const auto xhat = [&](std::size_t c, std::size_t i) { return (double(x.data()[i]) - double(stats.mean(c))) * inv_std[c]; };
    std::vector<double> sums = detail::local_channel_sums(dy, [&](std::size_t, std::size_t i) { return double(dy.data()[i]); });
    const std::vector<double> weighted =
        detail::local_channel_sums(dy, [&](std::size_t c, std::size_t i) { return double(dy.data()[i]) * xhat(c, i); });
    LayerGradients<Tensor4> g{Tensor4::from_shape(x.shape()), Tensor::from_shape({channels}), Tensor::from_shape({channels})};
    for (std::size_t c = 0; c < channels; ++c) {
        g.weight(c) = float(weighted[c]);
        g.bias(c) = float(sums[c]);
    }
    sums.insert(sums.end(), weighted.begin(), weighted.end());
    communicator.all_reduce_sum(sums.data(), sums.size());
    const double* dbeta = sums.data();
    const double* dgamma = sums.data() + channels;
    backend::reference::for_each_plane(x, [&](std::size_t c, std::size_t offset, std::size_t plane) {
        const double scale = double(gamma(c)) * inv_std[c];
        for (std::size_t j = 0; j < plane; ++j) {
            const std::size_t i = offset + j;
            g.input.data()[i] = float(scale * (double(dy.data()[i]) - (dbeta[c] + xhat(c, i) * dgamma[c]) / stats.count));
        }
    });
    return g;
}

}  // namespace bagnet::train
