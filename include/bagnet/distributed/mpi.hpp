#pragma once
// MPI's communicator (Open MPI from Debian: libopenmpi-dev, openmpi-bin); needs
// the bagnet::mpi CMake target, which defines BAGNET_WITH_MPI and links MPI.
// Its life is MPI's (MPI_Init to MPI_Finalize); launch.hpp makes one where a
// launcher started several processes.
//
// Only the main thread calls MPI (MPI_THREAD_FUNNELED); the compute threads are
// OpenMP's and oneDNN's.
#include <mpi.h>

#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "bagnet/distributed/communicator.hpp"

namespace bagnet::distributed {

class Mpi : public Communicator {
public:
    Mpi(int& argc, char**& argv) {
        int provided = 0;
        MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
        MPI_Comm_size(MPI_COMM_WORLD, &size_);
    }
    ~Mpi() override { MPI_Finalize(); }
    Mpi(const Mpi&) = delete;
    Mpi& operator=(const Mpi&) = delete;

    int rank() const override { return rank_; }
    int size() const override { return size_; }

    void all_reduce_sum(float* values, std::size_t count) override {
        agree("");
        for_chunks(count, [&](std::size_t begin, int n) {
            MPI_Allreduce(MPI_IN_PLACE, values + begin, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        });
    }
    void all_reduce_sum(double* values, std::size_t count) override {
        agree("");
        for_chunks(count, [&](std::size_t begin, int n) {
            MPI_Allreduce(MPI_IN_PLACE, values + begin, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        });
    }
    void broadcast(void* bytes, std::size_t count, int root) override {
        agree("");
        for_chunks(count, [&](std::size_t begin, int n) {
            MPI_Bcast(static_cast<char*>(bytes) + begin, n, MPI_BYTE, root, MPI_COMM_WORLD);
        });
    }
    std::vector<std::string> gather(const std::string& bytes, int root) override {
        agree("");
        require(bytes.size() <= std::size_t(INT_MAX), "cannot gather more than 2 GiB from one process");
        const int length = int(bytes.size());
        std::vector<int> lengths(static_cast<std::size_t>(size_)), offsets(static_cast<std::size_t>(size_));
        MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, root, MPI_COMM_WORLD);
        std::string all;
        if (rank_ == root) {
            std::int64_t total = 0;
            for (int r = 0; r < size_; ++r) {
                offsets[std::size_t(r)] = int(total);
                total += lengths[std::size_t(r)];
            }
            require(total <= INT_MAX, "cannot gather more than 2 GiB in all");
            all.resize(std::size_t(total));
        }
        MPI_Gatherv(bytes.data(), length, MPI_BYTE, all.data(), lengths.data(), offsets.data(), MPI_BYTE, root,
                    MPI_COMM_WORLD);
        std::vector<std::string> parts;
        if (rank_ == root)
            for (int r = 0; r < size_; ++r)
                parts.push_back(all.substr(std::size_t(offsets[std::size_t(r)]), std::size_t(lengths[std::size_t(r)])));
        return parts;
    }
    void check() override { agree(""); }

protected:
    void tell_failure(const std::string& message) override { agree(message.empty() ? "failed" : message); }

private:
    // The start of every collective: whether some process failed. Each offers its rank
    // if it failed (a non-empty message) and `size` if not; the smallest failing rank
    // then tells its message to all, and every process throws it.
    void agree(const std::string& failure) {
        int mine = failure.empty() ? size_ : rank_, first = size_;
        MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        if (first == size_) return;
        std::string message = rank_ == first ? failure : std::string();
        unsigned long length = message.size();
        MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG, first, MPI_COMM_WORLD);
        message.resize(length);
        MPI_Bcast(message.data(), int(length), MPI_CHAR, first, MPI_COMM_WORLD);
        if (size_ == 1) throw PeerFailure(message);
        throw PeerFailure("process " + std::to_string(first) + " of " + std::to_string(size_) + ": " + message);
    }

    // MPI counts are ints: large buffers go in pieces.
    template <class Call>
    static void for_chunks(std::size_t count, Call&& call) {
        constexpr std::size_t chunk = std::size_t(1) << 30;
        for (std::size_t begin = 0; begin < count; begin += chunk) call(begin, int(std::min(chunk, count - begin)));
    }

    int rank_ = 0, size_ = 1;
};

}  // namespace bagnet::distributed
