#pragma once
// Checks on bagnet::Error messages: one self-contained line that mentions
// everything a user needs (the file, the key, the problem).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace bagnet::testing {

class OneLineMentioning : public Catch::MatcherBase<std::string> {
public:
    explicit OneLineMentioning(std::vector<std::string> parts) : parts_(std::move(parts)) {}

    bool match(const std::string& message) const override {
        if (message.find('\n') != std::string::npos) return false;
        for (const auto& part : parts_) {
            if (message.find(part) == std::string::npos) return false;
        }
        return true;
    }

    std::string describe() const override {
        std::string description = "is one line mentioning";
        for (const auto& part : parts_) description += " \"" + part + "\"";
        return description;
    }

private:
    std::vector<std::string> parts_;
};

// REQUIRE_THROWS_WITH(load(path), one_line_mentioning({path, "too short"})).
// (Catch2 v2's && on matchers keeps references, so a combined matcher cannot be returned from a helper.)
inline OneLineMentioning one_line_mentioning(std::vector<std::string> parts) {
    return OneLineMentioning(std::move(parts));
}

}  // namespace bagnet::testing
