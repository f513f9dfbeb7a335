// The `bagnet` command line: one subcommand per task, one clear line on stderr
// and a non-zero exit code for anything that goes wrong.
#include <functional>
#include <iostream>
#include <map>

#include "explain_commands.hpp"
#include "inference_commands.hpp"

namespace {

const char* usage = R"(usage: bagnet COMMAND [options]

commands:
  logits    --arch A --weights W --input X.npy --output Y.npy [--map]
  classify  --arch A --weights W IMAGE... [--topk 5] [--json]
  bench     --arch A [--weights W] [--batch B] [--size S] [--repeat R] [--map]
  heatmap   --arch A --weights W (--input X.npy | IMAGE...) (--class C[,C...] | --top K) [--dense]
            --output OUT.npy|OUT.png [--percentile 99]

common options: --precision fp32|bf16  --threads N  --classes K  --device cpu|cuda
architectures: bagnet9, bagnet17, bagnet33
exit codes: 0 success, 1 bad data or files, 2 bad usage
)";

using Command = std::function<int(const std::vector<std::string>&)>;

}  // namespace

int main(int argc, char** argv) {
    const std::map<std::string, Command> commands{
        {"logits", bagnet::cli::run_logits},
        {"classify", bagnet::cli::run_classify},
        {"bench", bagnet::cli::run_bench},
        {"heatmap", bagnet::cli::run_heatmap},
    };
    if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
        (argc < 2 ? std::cerr : std::cout) << usage;
        return argc < 2 ? 2 : 0;
    }
    const auto command = commands.find(argv[1]);
    if (command == commands.end()) {
        std::cerr << "bagnet: error: unknown command '" << argv[1] << "' (try bagnet --help)\n";
        return 2;
    }
    try {
        return command->second(std::vector<std::string>(argv + 2, argv + argc));
    } catch (const bagnet::cli::UsageError& e) {
        std::cerr << "bagnet " << argv[1] << ": error: " << e.what() << "\n";
        return 2;
    } catch (const bagnet::Error& e) {
        std::cerr << "bagnet " << argv[1] << ": error: " << e.what() << "\n";
        return 1;
    } catch (const dnnl::error& e) {
        std::cerr << "bagnet " << argv[1] << ": error: oneDNN failed: " << e.what() << "\n";
        return 1;
    } catch (const std::bad_alloc&) {
        std::cerr << "bagnet " << argv[1] << ": error: out of memory\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "bagnet " << argv[1] << ": error: " << e.what() << "\n";
        return 1;
    }
}
