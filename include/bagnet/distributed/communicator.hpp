#pragma once
// The processes that share one piece of work, and what they say to each other.
//
// A Communicator is what training and the data-set analyses are written against:
// its rank and size, sums over all processes (all-reduce), a broadcast from one
// process and a gather to one. SingleProcess is the trivial one (every program
// has it); distributed/mpi.hpp adds MPI's (Open MPI: many processes, many
// machines). A NCCL communicator for the cuda backend would implement the same
// interface over device buffers on the model's stream: the sums take raw
// pointers for that reason, and callers never assume host memory beyond what
// they hand in themselves.
//
// Failures: a process that fails calls fail(message). Every collective first
// agrees whether some process has failed, so the others, wherever they are in
// the same sequence of collectives, throw that process's message instead of
// waiting for it forever. All processes therefore stop within one collective of
// each other, with the failing process's one-line message.
#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "bagnet/error.hpp"

namespace bagnet::distributed {

// What the other processes throw when one of them failed: its message, as theirs.
// A process that catches it must not call fail() again (the failure is known).
class PeerFailure : public Error {
public:
    using Error::Error;
};

class Communicator {
public:
    virtual ~Communicator() = default;

    virtual int rank() const = 0;
    virtual int size() const = 0;
    bool is_root() const { return rank() == 0; }

    // values[i] = the sum of values[i] over all processes, on every process. Every
    // process gets the same result (the MPI standard's guarantee), whatever the order
    // of the terms.
    virtual void all_reduce_sum(float* values, std::size_t count) = 0;
    virtual void all_reduce_sum(double* values, std::size_t count) = 0;
    // `bytes` of process `root`, on every process.
    virtual void broadcast(void* bytes, std::size_t count, int root) = 0;
    // Every process's `bytes`, in rank order, on process `root` (empty elsewhere).
    virtual std::vector<std::string> gather(const std::string& bytes, int root) = 0;
    // Waits until every process gets here (or one has failed: then throws its message).
    virtual void check() = 0;
    // This process cannot go on: tells the others (see above), then throws PeerFailure
    // with the message of the first process that failed (this one's, or a lower rank's
    // that failed at the same time).
    // `remedy`: the failing error's (Error::remedy), kept for this process's caller.
    [[noreturn]] void fail(const std::string& message, Remedy remedy = Remedy::none) {
        tell_failure(message);
        throw PeerFailure(message, remedy);
    }

    // Runs `work`; if it throws anything but a PeerFailure, this process fails with its
    // message (so that the others stop too) and every process throws PeerFailure. Alone,
    // a process has no one to tell, and an exception that is not a bagnet::Error goes on
    // as it is (a front end's own, such as Python's KeyboardInterrupt, keeps its type).
    template <class Work>
    auto guard(Work&& work) -> decltype(work()) {
        try {
            return work();
        } catch (const PeerFailure&) {
            throw;
        } catch (const Error& e) {
            fail(e.what(), e.remedy());
        } catch (const std::exception& e) {
            if (size() == 1) throw;
            fail(e.what());
        }
    }

protected:
    // The collective side of fail(): may throw PeerFailure itself (with the first
    // failing process's message).
    virtual void tell_failure(const std::string& message) = 0;
};

// The environment variables through which MPI launchers (Open MPI, MPICH, Slurm's
// PMI) tell a process how many processes were started; 1 when there are none.
inline int launched_processes() {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"})
        if (const char* value = std::getenv(name)) return std::max(1, std::atoi(value));
    return 1;
}

// A program built without MPI refuses to be one of several processes a launcher
// started: each would train the same model on the same data and write the same files.
inline void require_one_launched_process() {
    const int launched = launched_processes();
    require(launched == 1, "this program was started as one of " + std::to_string(launched) +
                               " processes, but was built without MPI: rebuild with -DBAGNET_WITH_MPI=ON "
                               "(libopenmpi-dev) or start one process");
}

// One process: every collective is the identity.
class SingleProcess : public Communicator {
public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    void all_reduce_sum(float*, std::size_t) override {}
    void all_reduce_sum(double*, std::size_t) override {}
    void broadcast(void*, std::size_t, int) override {}
    std::vector<std::string> gather(const std::string& bytes, int) override { return {bytes}; }
    void check() override {}

protected:
    void tell_failure(const std::string&) override {}
};

}  // namespace bagnet::distributed
