#pragma once
// A small command-line parser: `--name value` options, `--flag` switches and
// positional arguments, each command declaring which it accepts.
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "bagnet/error.hpp"

namespace bagnet::cli {

// A mistake in how the program was called (exit code 2), as opposed to a
// problem with the data it was given (bagnet::Error, exit code 1).
class UsageError : public Error {
public:
    using Error::Error;
};

class Arguments {
public:
    Arguments(std::vector<std::string> args, std::set<std::string> options, std::set<std::string> flags) {
        for (std::size_t i = 0; i < args.size(); ++i) {
            const std::string& arg = args[i];
            if (arg.rfind("--", 0) != 0 || arg == "--") {
                positional_.push_back(arg);
                continue;
            }
            const std::string name = arg.substr(2);
            if (flags.count(name)) {
                flags_.insert(name);
            } else if (options.count(name)) {
                if (i + 1 >= args.size()) throw UsageError("option --" + name + " needs a value");
                values_[name] = args[++i];
            } else {
                throw UsageError("unknown option --" + name);
            }
        }
    }

    bool has(const std::string& name) const { return values_.count(name) > 0; }
    bool flag(const std::string& name) const { return flags_.count(name) > 0; }
    const std::vector<std::string>& positional() const { return positional_; }
    void forbid_positional() const {
        if (!positional_.empty()) throw UsageError("unexpected argument '" + positional_.front() + "'");
    }

    std::string get(const std::string& name) const {
        auto it = values_.find(name);
        if (it == values_.end()) throw UsageError("missing required option --" + name);
        return it->second;
    }
    std::string get(const std::string& name, const std::string& fallback) const {
        return has(name) ? get(name) : fallback;
    }

    long get_int(const std::string& name, long fallback, long minimum, long maximum) const {
        if (!has(name)) return fallback;
        const std::string text = get(name);
        char* end = nullptr;
        const long value = std::strtol(text.c_str(), &end, 10);
        if (text.empty() || *end != '\0') throw UsageError("--" + name + " expects an integer, got '" + text + "'");
        if (value < minimum || value > maximum)
            throw UsageError("--" + name + " must be between " + std::to_string(minimum) + " and " +
                             std::to_string(maximum) + ", got " + text);
        return value;
    }

    double get_double(const std::string& name, double fallback) const {
        if (!has(name)) return fallback;
        const std::string text = get(name);
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0') throw UsageError("--" + name + " expects a number, got '" + text + "'");
        return value;
    }

private:
    std::map<std::string, std::string> values_;
    std::set<std::string> flags_;
    std::vector<std::string> positional_;
};

}  // namespace bagnet::cli
