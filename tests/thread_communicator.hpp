#pragma once
// Several processes simulated by threads of one test, for checking distributed
// semantics without mpirun: each thread holds a ThreadCommunicator of one group,
// and the collectives meet at a barrier. Sums are taken in rank order, so every
// rank gets the same result (as MPI guarantees).
#include <condition_variable>
#include <algorithm>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bagnet/distributed/communicator.hpp"

namespace bagnet::testing {

class ThreadGroup {
public:
    explicit ThreadGroup(int size) : size_(size), slots_(std::size_t(size)) {}
    int size() const { return size_; }

    // Every rank deposits `mine`; when all have, `combine` sees the deposits in rank
    // order and the rank's own slot, and may rewrite the rank's `mine`.
    void exchange(int rank, std::string& mine, const std::function<void(const std::vector<std::string>&, std::string&)>& combine) {
        std::unique_lock<std::mutex> lock(mutex_);
        const long generation = generation_;
        slots_[std::size_t(rank)] = mine;
        if (++arrived_ == size_) {
            deposits_ = slots_;
            arrived_ = 0;
            ++generation_;
            ready_.notify_all();
        } else {
            ready_.wait(lock, [&] { return generation_ != generation; });
        }
        const std::vector<std::string> deposits = deposits_;
        lock.unlock();
        combine(deposits, mine);
        // A second barrier, so that no rank deposits the next exchange's values over these.
        lock.lock();
        const long second = generation_;
        if (++arrived_ == size_) {
            arrived_ = 0;
            ++generation_;
            ready_.notify_all();
        } else {
            ready_.wait(lock, [&] { return generation_ != second; });
        }
    }

private:
    const int size_;
    std::mutex mutex_;
    std::condition_variable ready_;
    int arrived_ = 0;
    long generation_ = 0;
    std::vector<std::string> slots_, deposits_;
};

class ThreadCommunicator : public distributed::Communicator {
public:
    ThreadCommunicator(ThreadGroup& group, int rank) : group_(group), rank_(rank) {}
    int rank() const override { return rank_; }
    int size() const override { return group_.size(); }
    void all_reduce_sum(float* values, std::size_t count) override { sum(values, count); }
    void all_reduce_sum(double* values, std::size_t count) override { sum(values, count); }
    void broadcast(void* bytes, std::size_t count, int root) override {
        std::string mine(static_cast<const char*>(bytes), count);
        group_.exchange(rank_, mine, [&](const std::vector<std::string>& all, std::string& own) { own = all[std::size_t(root)]; });
        std::copy(mine.begin(), mine.end(), static_cast<char*>(bytes));
    }
    std::vector<std::string> gather(const std::string& bytes, int root) override {
        std::string mine = bytes;
        std::vector<std::string> result;
        group_.exchange(rank_, mine, [&](const std::vector<std::string>& all, std::string&) {
            if (rank_ == root) result = all;
        });
        return result;
    }
    void check() override {
        std::string nothing;
        group_.exchange(rank_, nothing, [](const std::vector<std::string>&, std::string&) {});
    }

protected:
    void tell_failure(const std::string&) override {}

private:
    template <class T>
    void sum(T* values, std::size_t count) {
        std::string mine(reinterpret_cast<const char*>(values), count * sizeof(T));
        group_.exchange(rank_, mine, [&](const std::vector<std::string>& all, std::string& own) {
            std::vector<T> total(count, T(0)), part(count);
            for (const std::string& bytes : all) {
                std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(part.data()));
                for (std::size_t i = 0; i < count; ++i) total[i] += part[i];
            }
            own.assign(reinterpret_cast<const char*>(total.data()), count * sizeof(T));
        });
        std::copy(mine.begin(), mine.end(), reinterpret_cast<char*>(values));
    }

    ThreadGroup& group_;
    const int rank_;
};

// Runs body(communicator) on `size` threads, one rank each; rethrows the first failure.
template <class Body>
void run_ranks(int size, Body&& body) {
    ThreadGroup group(size);
    std::vector<std::exception_ptr> failures(static_cast<std::size_t>(size));
    std::vector<std::thread> threads;
    for (int r = 0; r < size; ++r)
        threads.emplace_back([&, r] {
            try {
                ThreadCommunicator communicator(group, r);
                body(communicator);
            } catch (...) {
                failures[std::size_t(r)] = std::current_exception();
            }
        });
    for (auto& t : threads) t.join();
    for (auto& f : failures)
        if (f) std::rethrow_exception(f);
}

}  // namespace bagnet::testing
