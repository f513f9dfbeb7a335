#pragma once
// Fixtures made by the PyTorch reference (tests/reference/make_all_fixtures.sh),
// found through the environment that CTest sets.
#include <cstdlib>
#include <string>

#include <catch2/catch.hpp>

namespace bagnet::testing {

inline std::string environment(const char* name) {
    const char* value = std::getenv(name);
    if (!value) FAIL(std::string(name) + " is not set: run the tests through ctest");
    return value;
}

inline std::string fixture(const std::string& relative) { return environment("BAGNET_FIXTURE_DIR") + "/" + relative; }

inline std::string bagnet_program() { return environment("BAGNET_BIN") + "/bagnet"; }

}  // namespace bagnet::testing
