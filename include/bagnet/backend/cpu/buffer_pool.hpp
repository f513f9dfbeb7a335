#pragma once
// Reused storage for training activations.
//
// A training step allocates the same few hundred buffers every time, many of
// them tens of megabytes. glibc serves such sizes with fresh mmaps, so every step
// page-faults its whole working set anew (for BagNet-33 at batch 8 that was half
// of the step's time, spent in the kernel). The pool hands freed buffers back out
// by exact size; what it caches is bounded by the most that was ever in use at
// once, so a change of input shape cannot make it grow without limit.
#include <cstdlib>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "bagnet/error.hpp"

namespace bagnet::backend::cpu {

class BufferPool : public std::enable_shared_from_this<BufferPool> {
public:
    static std::shared_ptr<BufferPool> create() { return std::shared_ptr<BufferPool>(new BufferPool()); }

    BufferPool(const BufferPool&) = delete;
    BufferPool& operator=(const BufferPool&) = delete;
    ~BufferPool() {
        for (auto& block : free_) std::free(block.second);
    }

    // 64-byte aligned storage of at least `bytes`; returned to the pool when the last owner lets go.
    std::shared_ptr<void> get(std::size_t bytes) {
        bytes = std::max<std::size_t>(64, (bytes + 63) / 64 * 64);
        void* data = nullptr;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (auto it = free_.begin(); it != free_.end(); ++it)
                if (it->first == bytes) {
                    data = it->second;
                    cached_ -= bytes;
                    free_.erase(it);
                    break;
                }
            in_use_ += bytes;
            peak_ = std::max(peak_, in_use_);
        }
        if (!data) data = std::aligned_alloc(64, bytes);
        if (!data) {
            std::lock_guard<std::mutex> lock(mutex_);
            in_use_ -= bytes;
            throw Error("out of memory allocating " + std::to_string(bytes) +
                        " bytes for training activations");
        }
        return std::shared_ptr<void>(data,
                                     [pool = shared_from_this(), bytes](void* p) { pool->put(p, bytes); });
    }

private:
    BufferPool() = default;

    void put(void* data, std::size_t bytes) {
        std::lock_guard<std::mutex> lock(mutex_);
        in_use_ -= bytes;
        free_.emplace_front(bytes, data);  // most recently freed first: found first, evicted last
        cached_ += bytes;
        while (cached_ > peak_ && !free_.empty()) {
            cached_ -= free_.back().first;
            std::free(free_.back().second);
            free_.pop_back();
        }
    }

    std::mutex mutex_;
    std::list<std::pair<std::size_t, void*>> free_;
    std::size_t cached_ = 0, in_use_ = 0, peak_ = 0;
};

}  // namespace bagnet::backend::cpu
