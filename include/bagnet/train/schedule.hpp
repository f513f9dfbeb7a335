#pragma once
// Learning-rate schedules: a value type mapping the step number to a rate.
//
//   auto schedule = train::Schedule::cosine(0.1, total_steps).warmup(200);
//   double lr = schedule(step);
#include <cmath>
#include <string>

#include "bagnet/error.hpp"

namespace bagnet::train {

class Schedule {
public:
    enum class Kind { constant, step, cosine };

    static Schedule constant(double lr) { return Schedule(Kind::constant, lr); }
    // lr * gamma^(floor(step / every)), counted after the warm-up.
    static Schedule step(double lr, long every, double gamma = 0.1) {
        require(every >= 1, "a step schedule needs a step size of at least 1, got " + std::to_string(every));
        require_number("the step schedule's gamma", gamma, gamma > 0, "> 0");
        Schedule s(Kind::step, lr);
        s.every_ = every;
        s.gamma_ = gamma;
        return s;
    }
    // From lr down to `minimum` along half a cosine over `total` steps (warm-up included).
    static Schedule cosine(double lr, long total, double minimum = 0) {
        require(total >= 1, "a cosine schedule needs at least 1 step, got " + std::to_string(total));
        require_number("the cosine schedule's final learning rate", minimum, minimum >= 0 && minimum <= lr,
                       "in [0, " + number_text(lr) + "]");
        Schedule s(Kind::cosine, lr);
        s.total_ = total;
        s.minimum_ = minimum;
        return s;
    }
    // Linear warm-up over the first `steps` steps: lr * (step + 1) / steps.
    Schedule& warmup(long steps) {
        require(steps >= 0, "warm-up steps must not be negative, got " + std::to_string(steps));
        warmup_ = steps;
        return *this;
    }

    double operator()(long step) const {
        if (step < warmup_) return base_ * double(step + 1) / double(warmup_);
        const long after = step - warmup_;
        switch (kind_) {
        case Kind::constant: return base_;
        case Kind::step: return base_ * std::pow(gamma_, double(after / every_));
        case Kind::cosine: {
            const double span = double(std::max(1L, total_ - warmup_));
            const double progress = std::min(1.0, double(after) / span);
            return minimum_ + 0.5 * (base_ - minimum_) * (1 + std::cos(M_PI * progress));
        }
        }
        return base_;
    }
    double base() const { return base_; }

    // What the schedule does, in words whose numbers read back exactly: printed at the
    // start of training and kept in checkpoints, so that a resumed run can be held to it.
    std::string describe() const {
        std::string text;
        switch (kind_) {
        case Kind::constant: text = "constant lr " + number_text(base_); break;
        case Kind::step:
            text = "step lr " + number_text(base_) + " times " + number_text(gamma_) + " every " +
                   std::to_string(every_) + " steps";
            break;
        case Kind::cosine:
            text = "cosine lr " + number_text(base_) + " to " + number_text(minimum_) + " over " +
                   std::to_string(total_) + " steps";
            break;
        }
        return warmup_ > 0 ? text + ", " + std::to_string(warmup_) + " warm-up steps" : text;
    }

private:
    Schedule(Kind kind, double lr) : kind_(kind), base_(lr) {
        require_number("the learning rate", lr, lr > 0, "> 0");
    }
    Kind kind_;
    double base_;
    long warmup_ = 0, every_ = 1, total_ = 1;
    double gamma_ = 0.1, minimum_ = 0;
};

}  // namespace bagnet::train
