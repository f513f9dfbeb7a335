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

    void update(long epoch, long step, double images_per_second, double loss) {
        const double now = seconds();
        if (now - last_print_ < interval_ && step < total_) return;
        last_print_ = now;
        const double remaining = images_per_second > 0 && rate_steps_per_second(step, now) > 0
                                     ? double(total_ - step) / rate_steps_per_second(step, now)
                                     : 0;
        std::fprintf(stream_, "%sepoch %ld  step %ld/%ld  %.1f img/s  loss %.4f  ETA %s%s", terminal_ ? "\r\033[K" : "",
                     epoch, step, total_, images_per_second, loss, duration(remaining).c_str(), terminal_ ? "" : "\n");
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
    double rate_steps_per_second(long step, double now) {
        if (first_step_ < 0) {
            first_step_ = step;
            first_time_ = now;
        }
        return now > first_time_ ? double(step - first_step_) / (now - first_time_) : 0;
    }

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
