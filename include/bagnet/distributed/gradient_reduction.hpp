#pragma once
// Data parallelism's one exchange: each process has the gradient of its share of
// a batch (its part of the batch's mean loss), and every process gets their sum,
// the gradient of the whole batch's loss.
#include <algorithm>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "bagnet/distributed/communicator.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet::distributed {

// PyTorch DDP's bucket size: large enough that per-message costs vanish, small
// enough that no message holds a whole large model.
constexpr std::size_t gradient_bucket_bytes = std::size_t(25) << 20;

// Replaces every gradient by its sum over the processes. The tensors are packed,
// in key order (the same on every process), into buckets of about `bucket_bytes`,
// each summed by one all-reduce.
inline void sum_gradients(std::map<std::string, Tensor>& gradients, Communicator& communicator,
                          std::size_t bucket_bytes = gradient_bucket_bytes) {
    if (communicator.size() == 1) return;
    std::vector<Tensor*> bucket;
    std::vector<float> packed;
    auto flush = [&] {
        packed.clear();
        for (const Tensor* g : bucket) packed.insert(packed.end(), g->begin(), g->end());
        communicator.all_reduce_sum(packed.data(), packed.size());
        std::size_t offset = 0;
        for (Tensor* g : bucket) {
            std::copy_n(packed.begin() + std::ptrdiff_t(offset), g->size(), g->begin());
            offset += g->size();
        }
        bucket.clear();
    };
    std::size_t bytes = 0;
    for (auto& [key, g] : gradients) {
        bucket.push_back(&g);
        bytes += g.size() * sizeof(float);
        if (bytes >= bucket_bytes) {
            flush();
            bytes = 0;
        }
    }
    if (!bucket.empty()) flush();
}

}  // namespace bagnet::distributed
