// Distributed semantics, with processes simulated by threads (tests/thread_communicator.hpp):
// the bucketed gradient exchange sums exactly, and synchronised batch norm over a
// batch split between processes computes what one process computes on the whole batch.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xview.hpp>

#include "bagnet/backend/cpu/training.hpp"
#include "bagnet/distributed/gradient_reduction.hpp"
#include "thread_communicator.hpp"
#include "train_test_support.hpp"

using namespace bagnet;
using bagnet::testing::max_relative_error;
using bagnet::testing::random_input;
using bagnet::testing::random_parameters;
using bagnet::testing::run_ranks;

TEST_CASE("the gradient exchange sums every tensor over the processes, in buckets", "[distributed]") {
    const std::vector<std::string> keys{"a", "b", "c", "d"};
    const std::vector<std::size_t> sizes{5, 1000, 3, 2500};
    auto gradients_of = [&](int rank) {
        std::map<std::string, Tensor> g;
        for (std::size_t k = 0; k < keys.size(); ++k) g[keys[k]] = random_input(1, 1, 1, sizes[k], 10 * k + rank);
        return g;
    };
    for (std::size_t bucket : {std::size_t(64), std::size_t(4096), distributed::gradient_bucket_bytes}) {
        INFO("bucket " << bucket << " bytes");
        std::vector<std::map<std::string, Tensor>> results(3);
        run_ranks(3, [&](distributed::Communicator& communicator) {
            auto g = gradients_of(communicator.rank());
            distributed::sum_gradients(g, communicator, bucket);
            results[std::size_t(communicator.rank())] = std::move(g);
        });
        for (const auto& key : keys) {
            Tensor expected = gradients_of(0).at(key) + gradients_of(1).at(key) + gradients_of(2).at(key);
            for (const auto& result : results) CHECK(max_relative_error(result.at(key), expected) < 1e-6);
            // every process holds exactly the same values
            CHECK(std::equal(results[0].at(key).begin(), results[0].at(key).end(), results[2].at(key).begin()));
        }
    }
}

namespace {

// Gradients of sum(output * seed) for the images [begin, end) of x on one simulated
// process each, batch norms synchronised, against one process on the whole batch.
template <class Backend>
void compare_synchronised(const Graph& graph, const Parameters& params, const Tensor4& x, double tolerance) {
    auto& whole_ops = train::training_ops<Backend>();
    const auto whole_tape = train::forward(whole_ops, graph, params, x, train::Mode::training);
    const Tensor4 seed = random_input(x.shape()[0], whole_tape.output().shape()[1], 1, 1, 17);
    const auto whole = train::backward(whole_ops, graph, params, whole_tape, seed, {true, true, {}});
    const std::size_t n = x.shape()[0], ranks = 2;
    std::vector<train::BackwardResult> parts(ranks);
    std::vector<train::TapeOf<Backend>> tapes(ranks);
    run_ranks(int(ranks), [&](distributed::Communicator& communicator) {
        const std::size_t r = std::size_t(communicator.rank()), begin = n * r / ranks, end = n * (r + 1) / ranks;
        auto& ops = train::training_ops<Backend>();  // one per thread
        const Tensor4 share = xt::view(x, xt::range(begin, end));
        const Tensor4 share_seed = xt::view(seed, xt::range(begin, end));
        tapes[r] = train::forward(ops, graph, params, share, train::Mode::training, &communicator);
        parts[r] = train::backward(ops, graph, params, tapes[r], share_seed, {true, true, {}});
    });
    for (const auto& [index, stats] : whole_tape.statistics) {
        CHECK(max_relative_error(tapes[0].statistics.at(index).mean, stats.mean, 1e-3) < tolerance);
        CHECK(max_relative_error(tapes[1].statistics.at(index).variance, stats.variance) < tolerance);
        CHECK(tapes[1].statistics.at(index).count == double(n) * tapes[1].shapes[graph.layers()[index].input][2] *
                                                         tapes[1].shapes[graph.layers()[index].input][3]);
    }
    const Tensor4 input = xt::concatenate(xt::xtuple(parts[0].input, parts[1].input), 0);
    CHECK(max_relative_error(input, whole.input) < tolerance);
    for (const auto& [key, expected] : whole.parameters) {
        INFO(key);
        CHECK(max_relative_error(Tensor(parts[0].parameters.at(key) + parts[1].parameters.at(key)), expected, 1e-2) <
              tolerance);
    }
}

}  // namespace

TEST_CASE("synchronised batch norm over two processes equals one process on the whole batch", "[distributed][train]") {
    SECTION("reference backend, a whole small BagNet") {
        const Graph graph = make_architecture<bagnet::small<10, 1>>(9).graph;
        compare_synchronised<reference>(graph, random_parameters(graph, 3), random_input(6, 1, 28, 28, 4), 1e-4);
    }
    SECTION("cpu backend, every fusion") {
        const Graph graph = bagnet::testing::fusion_graph();
        compare_synchronised<cpu>(graph, random_parameters(graph, 11), random_input(6, 3, 13, 11, 12), 2e-4);
    }
}

TEST_CASE("a program without MPI refuses to run as one of several processes", "[distributed]") {
    ::setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    CHECK_THROWS_WITH(distributed::require_one_launched_process(),
                      Catch::Contains("one of 2 processes") && Catch::Contains("built without MPI"));
    ::unsetenv("OMPI_COMM_WORLD_SIZE");
    CHECK_NOTHROW(distributed::require_one_launched_process());
}

// (The thread communicator does not simulate failures; several processes' failures are tested
// under mpirun, tests/test_mpi_cli.cpp.)
TEST_CASE("alone, a process's guard lets a foreign exception through and turns an Error into PeerFailure",
          "[distributed]") {
    distributed::SingleProcess one;
    CHECK_THROWS_AS(one.guard([] { throw std::out_of_range("a front end's own exception"); }), std::out_of_range);
    CHECK_THROWS_AS(one.guard([] { throw Error("bad input"); }), distributed::PeerFailure);
    CHECK_THROWS_WITH(one.guard([] { throw Error("bad input"); }), "bad input");
    CHECK(one.guard([] { return 3; }) == 3);
}
