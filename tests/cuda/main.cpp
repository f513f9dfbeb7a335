// Catch's main for the GPU tests. Without a usable GPU only the [no-gpu] checks
// run (the clear error a user then gets), and the exit code 77 tells CTest the
// GPU tests were skipped rather than passed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <iostream>

#include "bagnet/backend/cuda/runtime.hpp"

int main(int argc, char** argv) {
    Catch::Session session;
    if (const int status = session.applyCommandLine(argc, argv)) return status;
    if (bagnet::backend::cuda::gpu_available()) return session.run();
    std::cerr << "bagnet_cuda_tests: GPU tests skipped: no CUDA GPU (" << bagnet::backend::cuda::gpu_unavailable_reason()
              << "); running the [no-gpu] checks only\n";
    Catch::ConfigData config = session.configData();
    config.testsOrTags = {"[no-gpu]"};
    session.useConfigData(config);
    const int failed = session.run();
    return failed != 0 ? failed : 77;
}
