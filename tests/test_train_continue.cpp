// `bagnet train` continued: resumed for more steps than first planned, and stopped by
// SIGINT or SIGTERM at a step boundary (the program started as a child process and
// signalled while it trains), then resumed to the weights of an uninterrupted run.
#include <catch2/catch.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bagnet/io/safetensors.hpp"
#include "cli_runner.hpp"
#include "cli_training_data.hpp"

extern char** environ;

namespace {

using namespace bagnet::testing;
namespace fs = std::filesystem;

std::string bytes_of(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// `launcher bagnet arguments` running in the background, its stdout and stderr going to
// files in `dir`. SIGINT and SIGTERM start at their default action in it, as in a
// terminal's foreground job, whatever the test runner does with them. In a process group
// of its own, so that a test that fails kills what it started (mpirun's processes too).
class RunningBagnet {
public:
    RunningBagnet(const std::string& arguments, const ScratchDirectory& dir, const std::string& launcher = "")
        : err_(dir.file("child.err")) {
        std::string command =
            "exec " + launcher + bagnet_program() + " " + arguments + " >" + dir.file("child.out") + " 2>" + err_;
        posix_spawnattr_t attributes;
        posix_spawnattr_init(&attributes);
        sigset_t signals;
        sigemptyset(&signals);
        sigaddset(&signals, SIGINT);
        sigaddset(&signals, SIGTERM);
        posix_spawnattr_setsigdefault(&attributes, &signals);
        sigemptyset(&signals);
        posix_spawnattr_setsigmask(&attributes, &signals);
        posix_spawnattr_setpgroup(&attributes, 0);
        posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
        std::string shell = "/bin/sh", option = "-c";
        char* argv[] = {shell.data(), option.data(), command.data(), nullptr};
        started_ = posix_spawn(&pid_, "/bin/sh", nullptr, &attributes, argv, environ) == 0;
        posix_spawnattr_destroy(&attributes);
    }
    ~RunningBagnet() {
        if (started_ && !ended_) {
            ::kill(-pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    RunningBagnet(const RunningBagnet&) = delete;
    RunningBagnet& operator=(const RunningBagnet&) = delete;

    // Whether its stderr came to hold `text` within two minutes, while it ran.
    bool says(const std::string& text) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::minutes(2);
        while (started_ && !ended_ && std::chrono::steady_clock::now() < until) {
            if (read_text(err_).find(text) != std::string::npos) return true;
            ended_ = ::waitpid(pid_, nullptr, WNOHANG) != 0;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }
    void signal(int number) const { ::kill(pid_, number); }
    // The processes it started (mpirun's), by process id.
    std::vector<pid_t> children() const {
        std::vector<pid_t> found;
        for (const auto& entry : fs::directory_iterator("/proc")) {
            std::ifstream stat(entry.path() / "stat");
            std::string line;
            if (!std::getline(stat, line) || line.rfind(')') == std::string::npos) continue;
            std::istringstream after_name(line.substr(line.rfind(')') + 1));
            char state = 0;
            pid_t parent = 0;
            if (after_name >> state >> parent && parent == pid_)
                found.push_back(pid_t(std::stol(entry.path().filename())));
        }
        return found;
    }
    // The wait status once it ends.
    int wait() {
        int status = -1;
        ::waitpid(pid_, &status, 0);
        ended_ = true;
        return status;
    }
    std::string err() const { return read_text(err_); }
    // Sends `number` once it has logged its first step; then its exit code (-1: it did not
    // log the step, or ended without exiting).
    int exit_code_after(int number) {
        if (!says("step 1/")) return -1;
        signal(number);
        const int status = wait();
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

private:
    std::string err_;
    pid_t pid_ = -1;
    bool started_ = false, ended_ = false;
};

// The value of "steps" in a metrics file.
long steps_in(const std::string& metrics) {
    const std::string text = read_text(metrics), key = "\"steps\": ";
    const std::size_t at = text.rfind(key);  // the run's, after the recipe's
    return at == std::string::npos ? -1 : std::stol(text.substr(at + key.size()));
}

}  // namespace

TEST_CASE("a run continues for more steps than first planned, to the weights of a run that long", "[cli][train]") {
    ScratchDirectory dir;
    const std::string data = small_data(dir);  // 2 batches an epoch
    for (const std::string schedule : {"", " --schedule step --step-size 2 --gamma 0.5 --warmup 1"}) {
        INFO(schedule);
        const std::string train = "train " + data + schedule;
        REQUIRE(run_bagnet(train + " --steps 3 --checkpoint " + dir.file("c.ckpt") + " --save " + dir.file("w3"))
                    .exit_code == 0);
        const auto resumed = run_bagnet(train + " --steps 6 --resume " + dir.file("c.ckpt") + " --checkpoint " +
                                        dir.file("c.ckpt") + " --save " + dir.file("resumed"));
        INFO(resumed.err);
        REQUIRE(resumed.exit_code == 0);
        CHECK_THAT(resumed.out, Catch::Contains("6 steps"));
        REQUIRE(run_bagnet(train + " --steps 6 --save " + dir.file("straight")).exit_code == 0);
        CHECK(bytes_of(dir.file("resumed")) == bytes_of(dir.file("straight")));
        // Not to fewer steps than the checkpoint's run has taken.
        CHECK(fails_cleanly(run_bagnet(train + " --steps 5 --resume " + dir.file("c.ckpt") + " --save " +
                                       dir.file("r")),
                            1, "at step 6, past the 5 steps"));
    }
    // A cosine spans the run's steps: continued for longer it keeps the recorded length when asked to.
    const std::string cosine = "train " + data + " --schedule cosine";
    const std::string first = cosine + " --steps 3 --checkpoint " + dir.file("k.ckpt") + " --save " + dir.file("w");
    REQUIRE(run_bagnet(first).exit_code == 0);
    const std::string resume = cosine + " --steps 6 --resume " + dir.file("k.ckpt") + " --save " + dir.file("resumed");
    CHECK(fails_cleanly(run_bagnet(resume), 1, "--cosine-steps"));
    REQUIRE(run_bagnet(resume + " --cosine-steps 3").exit_code == 0);
    REQUIRE(run_bagnet(cosine + " --steps 6 --cosine-steps 3 --save " + dir.file("straight")).exit_code == 0);
    CHECK(bytes_of(dir.file("resumed")) == bytes_of(dir.file("straight")));
}

TEST_CASE("SIGINT stops a training at a step boundary with its checkpoint, and resuming finishes the run",
          "[cli][train][signal]") {
    ScratchDirectory dir;
    const std::string train = "train " + small_data(dir);
    const std::string checkpoint = dir.file("c.ckpt"), metrics = dir.file("m.json");
    RunningBagnet running(train + " --steps 1000000 --checkpoint " + checkpoint + " --save " + dir.file("w") +
                              " --metrics " + metrics,
                          dir);
    CHECK(running.exit_code_after(SIGINT) == 130);
    INFO(running.err());
    const std::string err = running.err();
    const std::string last = err.substr(err.rfind('\n', err.size() - 2) + 1);
    CHECK_THAT(last, Catch::StartsWith("bagnet train: stopped by SIGINT after step") &&
                         Catch::Contains("continue with: bagnet " + train) &&
                         Catch::EndsWith("--resume " + checkpoint + "\n"));
    // The weights, the metrics and the checkpoint, all where the run stopped.
    const long step = steps_in(metrics);
    CHECK(step >= 1);
    CHECK_THAT(read_text(metrics), Catch::Contains("\"stopped\": true"));
    CHECK(std::stol(bagnet::io::SafetensorsFile(checkpoint).metadata().at("step")) == step);
    CHECK(fs::exists(dir.file("w")));
    // Continued (for two more steps than it took), it ends with the weights of a run that long.
    const std::string more = " --steps " + std::to_string(step + 2);
    const auto resumed = run_bagnet(train + more + " --resume " + checkpoint + " --save " + dir.file("resumed"));
    INFO(resumed.err);
    REQUIRE(resumed.exit_code == 0);
    REQUIRE(run_bagnet(train + more + " --save " + dir.file("straight")).exit_code == 0);
    CHECK(bytes_of(dir.file("resumed")) == bytes_of(dir.file("straight")));
}

TEST_CASE("SIGTERM stops a training with exit code 143; without a checkpoint it says it cannot continue",
          "[cli][train][signal]") {
    ScratchDirectory dir;
    RunningBagnet running("train " + small_data(dir) + " --steps 1000000 --save " + dir.file("w"), dir);
    CHECK(running.exit_code_after(SIGTERM) == 143);
    INFO(running.err());
    CHECK_THAT(running.err(), Catch::Contains("stopped by SIGTERM after step") &&
                                  Catch::EndsWith("without --checkpoint the run cannot be continued\n"));
    CHECK(dir.entries() == std::vector<std::string>{"child.err", "child.out", "w", "x.npy", "y.npy"});
}

TEST_CASE("a second SIGINT ends a training at once", "[cli][train][signal]") {
    ScratchDirectory dir;
    // Steps of about half a second: the second signal comes while the step after the first runs.
    small_data(dir);  // for its labels, y.npy
    bagnet::io::save_npy(dir.file("big.npy"), random_input(8, 3, 96, 96, 1));
    RunningBagnet running("train --arch bagnet9 --classes 10 --input " + dir.file("big.npy") + " --labels " +
                              dir.file("y.npy") + " --batch-size 2 --threads 1 --steps 1000 --save " + dir.file("w"),
                          dir);
    REQUIRE(running.says("step 1/1000"));
    running.signal(SIGINT);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    running.signal(SIGINT);
    const int status = running.wait();
    INFO(running.err());
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGINT);
    CHECK_FALSE(fs::exists(dir.file("w")));
}

#if BAGNET_TEST_MPIRUN
TEST_CASE("under mpirun a signal to one process stops both after the same step", "[mpi][cli][train][signal]") {
    ScratchDirectory dir;
    const std::string train = "train " + small_data(dir);
    const std::string checkpoint = dir.file("c.ckpt"), metrics = dir.file("m.json");
    RunningBagnet running(train + " --steps 1000000 --checkpoint " + checkpoint + " --save " + dir.file("w") +
                              " --metrics " + metrics,
                          dir, mpirun_launcher(2));
    REQUIRE(running.says("step 1/1000000"));
    const std::vector<pid_t> processes = running.children();
    REQUIRE(processes.size() == 2);
    ::kill(processes[1], SIGTERM);  // one of them: whichever rank it is, both stop
    const int status = running.wait();
    INFO(running.err());
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 143);
    CHECK_THAT(running.err(), Catch::Contains("stopped by SIGTERM after step") &&
                                  Catch::Contains("continue with: mpirun -np 2 bagnet " + train));
    const long step = steps_in(metrics);
    CHECK(std::stol(bagnet::io::SafetensorsFile(checkpoint).metadata().at("step")) == step);
    const std::string more = " --steps " + std::to_string(step + 2);
    const auto resumed =
        run_bagnet_processes(2, train + more + " --resume " + checkpoint + " --save " + dir.file("resumed"));
    INFO(resumed.err);
    REQUIRE(resumed.exit_code == 0);
    REQUIRE(run_bagnet_processes(2, train + more + " --save " + dir.file("straight")).exit_code == 0);
    CHECK(bytes_of(dir.file("resumed")) == bytes_of(dir.file("straight")));
}
#endif  // BAGNET_TEST_MPIRUN
