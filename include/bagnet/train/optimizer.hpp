#pragma once
// Optimizers with PyTorch's update rules, so a recipe moves between the two
// unchanged. Options are small value types with chained setters:
//
//   train::Sgd sgd(train::SgdOptions().momentum(0.9).nesterov(true).weight_decay(5e-4));
//   sgd.step(params, gradients, learning_rate);
//
// State (momentum buffers, Adam moments, the step count) is a map of named
// tensors so that checkpoints save and restore it like parameters.
#include <cmath>
#include <map>
#include <memory>
#include <string>

#include "bagnet/parameters.hpp"
#include "bagnet/train/backprop.hpp"

namespace bagnet::train {

#define BAGNET_OPTION(Options, type, name) \
    type name##_;                          \
    Options& name(type value) {            \
        name##_ = value;                   \
        return *this;                      \
    }

struct SgdOptions {
    BAGNET_OPTION(SgdOptions, double, momentum)
    BAGNET_OPTION(SgdOptions, double, dampening)
    BAGNET_OPTION(SgdOptions, double, weight_decay)
    BAGNET_OPTION(SgdOptions, bool, nesterov)
    SgdOptions() : momentum_(0), dampening_(0), weight_decay_(0), nesterov_(false) {}
};

struct AdamWOptions {
    BAGNET_OPTION(AdamWOptions, double, beta1)
    BAGNET_OPTION(AdamWOptions, double, beta2)
    BAGNET_OPTION(AdamWOptions, double, eps)
    BAGNET_OPTION(AdamWOptions, double, weight_decay)
    AdamWOptions() : beta1_(0.9), beta2_(0.999), eps_(1e-8), weight_decay_(1e-2) {}
};

#undef BAGNET_OPTION

class Optimizer {
public:
    virtual ~Optimizer() = default;
    // Updates every parameter that has a gradient, with learning rate `lr`.
    void step(Parameters& params, const Gradients& gradients, double lr) {
        require_number("the learning rate", lr, lr >= 0, ">= 0");
        update(params, gradients, lr);
    }
    virtual std::string name() const = 0;
    // Named state tensors, for checkpoints; restoring them continues the run exactly.
    std::map<std::string, Tensor>& state() { return state_; }
    const std::map<std::string, Tensor>& state() const { return state_; }

protected:
    virtual void update(Parameters& params, const Gradients& gradients, double lr) = 0;

    static void require_matching(const Tensor& param, const Tensor& gradient, const std::string& key) {
        require(param.shape() == gradient.shape(), "gradient of '" + key + "' has shape " +
                                                       shape_string(gradient.shape()) + ", the parameter " +
                                                       shape_string(param.shape()));
    }
    // The state tensor `name`, created as zeros shaped like `like` on first use.
    Tensor& slot(const std::string& name, const Tensor& like, bool* created = nullptr) {
        auto it = state_.find(name);
        if (created) *created = it == state_.end();
        if (it == state_.end()) it = state_.emplace(name, Tensor(xt::zeros<float>(like.shape()))).first;
        require(it->second.shape() == like.shape(), "optimizer state '" + name + "' has shape " +
                                                        shape_string(it->second.shape()) + ", expected " +
                                                        shape_string(like.shape()));
        return it->second;
    }

    std::map<std::string, Tensor> state_;
};

// torch.optim.SGD: g += wd * p; buf = momentum * buf + (1 - dampening) * g (buf = g
// on the first step); g = nesterov ? g + momentum * buf : buf; p -= lr * g.
class Sgd : public Optimizer {
public:
    explicit Sgd(SgdOptions options = {}) : options_(options) {
        const auto& o = options_;
        require_number("SGD momentum", o.momentum_, o.momentum_ >= 0 && o.momentum_ < 1, "in [0, 1)");
        require_number("SGD dampening", o.dampening_, o.dampening_ >= 0 && o.dampening_ <= 1, "in [0, 1]");
        require_number("SGD weight decay", o.weight_decay_, o.weight_decay_ >= 0, ">= 0");
        require(!o.nesterov_ || (o.momentum_ > 0 && o.dampening_ == 0),
                "Nesterov momentum needs a momentum above 0 and no dampening");
    }
    std::string name() const override { return "sgd"; }

private:
    void update(Parameters& params, const Gradients& gradients, double lr) override {
        const float wd = float(options_.weight_decay_), m = float(options_.momentum_);
        const float damp = 1.f - float(options_.dampening_);
        for (const auto& [key, gradient] : gradients) {
            Tensor& p = params.at(key);
            require_matching(p, gradient, key);
            bool first = false;
            Tensor* buffer = m != 0.f ? &slot("momentum_buffer." + key, p, &first) : nullptr;
            for (std::size_t i = 0; i < p.size(); ++i) {
                float g = gradient.data()[i] + wd * p.data()[i];
                if (buffer) {
                    float& b = buffer->data()[i];
                    b = first ? g : m * b + damp * g;
                    g = options_.nesterov_ ? g + m * b : b;
                }
                p.data()[i] -= float(lr) * g;
            }
        }
    }

    SgdOptions options_;
};

// torch.optim.AdamW: p *= 1 - lr * wd; Adam's bias-corrected moments; p -= lr * m^ / (sqrt(v^) + eps).
class AdamW : public Optimizer {
public:
    explicit AdamW(AdamWOptions options = {}) : options_(options) {
        const auto& o = options_;
        require_number("AdamW beta1", o.beta1_, o.beta1_ >= 0 && o.beta1_ < 1, "in [0, 1)");
        require_number("AdamW beta2", o.beta2_, o.beta2_ >= 0 && o.beta2_ < 1, "in [0, 1)");
        require_number("AdamW eps", o.eps_, o.eps_ > 0, "> 0");
        require_number("AdamW weight decay", o.weight_decay_, o.weight_decay_ >= 0, ">= 0");
    }
    std::string name() const override { return "adamw"; }

private:
    void update(Parameters& params, const Gradients& gradients, double lr) override {
        const double b1 = options_.beta1_, b2 = options_.beta2_;
        for (const auto& [key, gradient] : gradients) {
            Tensor& p = params.at(key);
            require_matching(p, gradient, key);
            Tensor& m = slot("exp_avg." + key, p);
            Tensor& v = slot("exp_avg_sq." + key, p);
            Tensor& count = slot("step." + key, Tensor(xt::zeros<float>(Shape{})));
            count() += 1.f;
            const double correction1 = 1 - std::pow(b1, double(count())), correction2 = 1 - std::pow(b2, double(count()));
            const float decay = float(1 - lr * options_.weight_decay_);
            const float step_size = float(lr / correction1);
            const float root_correction2 = float(std::sqrt(correction2));
            for (std::size_t i = 0; i < p.size(); ++i) {
                const float g = gradient.data()[i];
                float& mi = m.data()[i];
                float& vi = v.data()[i];
                mi = float(b1) * mi + float(1 - b1) * g;
                vi = float(b2) * vi + float(1 - b2) * g * g;
                p.data()[i] = p.data()[i] * decay - step_size * mi / (std::sqrt(vi) / root_correction2 + float(options_.eps_));
            }
        }
    }

    AdamWOptions options_;
};

}  // namespace bagnet::train
