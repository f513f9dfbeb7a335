// The `bagnet` command line: one subcommand per task, one clear line on stderr
// and a non-zero exit code for anything that goes wrong.
#include <functional>
#include <iostream>
#include <map>

#include "explain_commands.hpp"
#include "inference_commands.hpp"
#include "robust_commands.hpp"
#include "train_commands.hpp"

namespace {

const char* usage = R"(usage: bagnet COMMAND [options]

commands:
  logits    --arch A --weights W --input X.npy --output Y.npy [--map]
  classify  --arch A --weights W IMAGE... [--topk 5] [--json]
  bench     --arch A [--weights W] [--batch B] [--size S] [--repeat R] [--map]
  train     [--arch A] (--dataset fashion-mnist | --data-dir DIR [--size S] [--skip-corrupt]
            | --data-npy X.npy --labels-npy Y.npy)
            --save OUT.safetensors [--metrics M.json] [--init W] [--optimizer sgd|adamw] [--lr F]
            [--momentum F] [--weight-decay F] [--batch-size N] (--epochs N | --steps N) [--seed N]
            [--no-shuffle] [--no-augment] [--crop-padding N] [--label-smoothing F] [--warmup N]
            [--accumulate N] [--fine-tune all|head|last-stage] [--checkpoint CKPT [--checkpoint-every N]]
            [--resume CKPT]         (--dataset fashion-mnist: default --arch fashion9 --epochs 12
                                     --label-smoothing 0.1 --crop-padding 0; else --epochs 1 --crop-padding 2)
  evaluate  --arch A --weights W (--dataset fashion-mnist | --data-dir DIR | --data-npy X.npy --labels-npy Y.npy)
  saliency  --arch A --weights W --input X.npy --class C --output G.npy
  heatmap   --arch A --weights W DATA (--class C[,C...] | --top K) [--dense] --output OUT.npy|OUT.png
            [--percentile 99]          (npy: the first image's map, H x W or K x H x W; coarse without --dense)
  patches   --arch A --weights W DATA --class C[,C...]|all [--top 8] [--batch 64] --output-dir DIR
            (also --data-dir DIR with DIR/<class>/<image>)
  explain   --arch A --weights W DATA [--label L] [--images I,J | --count 4 [--mistakes]] [--top 3]
            [--patches 6] --output-dir DIR                (DIR/report.html and DIR/report.json)
  attribute --arch A --weights W DATA [--tile T] [--steps 16] [--ig-steps 16] [--window W] [--stride S]
            [--output TABLE.md]        (deletion and rank-correlation scores, exact evidence first)

  certify   --arch A --weights W DATA --patch P [--defense masking|clipping] [--threshold T] [--clip C]
            [--batch 64] --output R.json      (exact per-image certificates against any P x P patch)
  attack-patch --arch A --weights W DATA --patch P [--defense ...] [--threshold T] [--clip C]
            [--at Y,X | --stride 1] [--steps 40] [--step-size 0.05] [--seed 0]
            [--normalization fashion-mnist|imagenet] --output R.json   (PGD patches vs. the certificates)
            (certify, attack-patch: DATA also --data-dir DIR; image files with --label L)

DATA: --input X.npy [--labels Y.npy] | --dataset fashion-mnist [--split test] | IMAGE...; --limit N
common options: --precision fp32|bf16  --threads N  --classes K  --device cpu|cuda
architectures: bagnet9, bagnet17, bagnet33 (ImageNet); fashion9, small9 (28 x 28 grey; also q = 3, 5, 17, 25);
               fashionfine9 (output stride 2: a 10 x 10 map on 28 x 28; also q = 3, 5, 13, 17)
exit codes: 0 success, 1 bad data or files, 2 bad usage
)";

using Command = std::function<int(const std::vector<std::string>&)>;

}  // namespace

int main(int argc, char** argv) {
    const std::map<std::string, Command> commands{
        {"logits", bagnet::cli::run_logits},
        {"classify", bagnet::cli::run_classify},
        {"bench", bagnet::cli::run_bench},
        {"train", bagnet::cli::run_train},
        {"evaluate", bagnet::cli::run_evaluate},
        {"saliency", bagnet::cli::run_saliency},
        {"heatmap", bagnet::cli::run_heatmap},
        {"patches", bagnet::cli::run_patches},
        {"explain", bagnet::cli::run_explain},
        {"attribute", bagnet::cli::run_attribute},
        {"certify", bagnet::cli::run_certify},
        {"attack-patch", bagnet::cli::run_attack_patch},
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
