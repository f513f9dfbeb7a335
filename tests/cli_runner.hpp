#pragma once
// Runs the `bagnet` program as a user would and captures what it says.
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "fixtures.hpp"
#include "test_files.hpp"

namespace bagnet::testing {

struct ProgramResult {
    int exit_code = -1;
    std::string out, err;
};

inline std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// Runs `launcher bagnet arguments` in the shell; `arguments` is passed as written (quote
// paths with spaces).
inline ProgramResult run_program(const std::string& launcher, const std::string& arguments) {
    ScratchDirectory scratch;
    const std::string command =
        launcher + bagnet_program() + " " + arguments + " >" + scratch.file("out") + " 2>" + scratch.file("err");
    const int status = std::system(command.c_str());
    ProgramResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = read_text(scratch.file("out"));
    result.err = read_text(scratch.file("err"));
    return result;
}

inline ProgramResult run_bagnet(const std::string& arguments) { return run_program("", arguments); }

// The launcher that runs a program as `processes` MPI processes (BAGNET_MPIEXEC: Open MPI's
// mpirun, which may run as root and start more processes than there are cores; -q keeps its own
// notices off stderr). Open MPI's start-up allocations stay reachable only through libraries
// without frame pointers, so the leak checker can match them to tests/lsan.supp only with full
// unwinding. `env` execs mpirun in its place, so mpirun keeps the launching process's id.
inline std::string mpirun_launcher(int processes) {
    return "env ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0 " + environment("BAGNET_MPIEXEC") +
           " --allow-run-as-root --oversubscribe -q -np " + std::to_string(processes) + " ";
}

// The same as `processes` MPI processes, ended if they run past five minutes.
inline ProgramResult run_bagnet_processes(int processes, const std::string& arguments) {
    return run_program("timeout 300 " + mpirun_launcher(processes), arguments);
}

// A failure as the project promises it: the given exit code and exactly one line on stderr.
inline bool fails_cleanly(const ProgramResult& result, int exit_code, const std::string& mentioning) {
    const auto& err = result.err;
    const bool one_line = !err.empty() && err.back() == '\n' && err.find('\n') == err.size() - 1;
    return result.exit_code == exit_code && one_line && err.find(mentioning) != std::string::npos;
}

}  // namespace bagnet::testing
