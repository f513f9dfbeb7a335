#pragma once
// A progress line for long work: epoch, step, images/s, loss and ETA. On a
// terminal it rewrites one line in place; otherwise (a log file, a pipe) it
// prints a plain line now and then, so logs stay readable.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace bagnet::train {

class Progress {
public:
    // `total_steps` for the ETA; `stream` is usually stderr.
    explicit Progress(long total_steps, std::FILE* stream = stderr, double plain_interval_seconds = 10.0)
        : total_(total_steps), stream_(stream), terminal_(isatty(fileno(stream)) != 0),
          interval_(terminal_ ? 0.25 : plain_interval_seconds) {}

    // The ETA appears once it is known: from the second update on, when at least one
    // step has been timed (the first update only starts the clock; an ETA of 0:00:00
    // there would be a guess that reads as a fact). A resumed run times its own steps.
    void update(long epoch, long step, double images_per_second, double loss) {
        const double now = seconds();
        if (first_step_ < 0) {
            first_step_ = step;
            first_time_ = now;
        }
        if (now - last_print_ < interval_ && step < total_) return;
        last_print_ = now;
        const bool timed = step > first_step_ && now > first_time_;
        const std::string eta =
            timed ? "  ETA " + duration(double(total_ - step) * (now - first_time_) / double(step - first_step_)) : "";
        std::fprintf(stream_, "%sepoch %ld  step %ld/%ld  %.1f img/s  loss %.4f%s%s", terminal_ ? "\r\033[K" : "",
                     epoch, step, total_, images_per_second, loss, eta.c_str(), terminal_ ? "" : "\n");
        std::fflush(stream_);
        printed_ = true;
    }

    // Ends the in-place line, so what follows starts on a fresh one.
    void finish() {
        if (terminal_ && printed_) std::fputc('\n', stream_);
        printed_ = false;
    }

    static std::string duration(double seconds) {
        const long s = long(seconds + 0.5);
        char text[32];
        std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
        return text;
    }

private:
    double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
    long total_;
    std::FILE* stream_;
    bool terminal_;
    double interval_;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    double last_print_ = -1e9, first_time_ = 0;
    long first_step_ = -1;
    bool printed_ = false;
};

}  // namespace bagnet::train
