// Proves the test build itself works: Catch runs, the library's headers are found, and a failed
// requirement surfaces as bagnet::Error with its message intact.
#include <bagnet/error.hpp>

#include <catch2/catch.hpp>

TEST_CASE("require passes silently when the condition holds", "[smoke]") {
    CHECK_NOTHROW(bagnet::require(true, "never shown"));
}

TEST_CASE("require throws bagnet::Error carrying the message", "[smoke]") {
    CHECK_THROWS_MATCHES(bagnet::require(false, "weights.safetensors: missing key fc.bias"), bagnet::Error,
                         Catch::Matchers::Message("weights.safetensors: missing key fc.bias"));
}
