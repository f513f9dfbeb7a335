// The `bagnet` command line: one subcommand per task, a thin layer over the
// library's free functions. Anything that goes wrong ends the program with one
// line on stderr and a non-zero exit code: 1 for bad data or files, 2 for bad usage.
// A training stopped by SIGINT or SIGTERM says in one line how to continue it and
// exits with 128 + the signal (130, 143), as a shell reports a program the signal ended.
//
// Started by mpirun, every process runs the same command and the work is shared (the
// commands registered with Processes::share_work, options.hpp); only the first process
// prints and writes files, and a failure in any process stops them all.
#include <algorithm>
#include <iostream>

#include "bagnet/distributed/launch.hpp"
#include "explain_commands.hpp"
#include "inference_commands.hpp"
#include "robust_commands.hpp"
#include "train_commands.hpp"

namespace {

using bagnet::distributed::Communicator;

const char* epilogue = R"(
Run `bagnet COMMAND --help` (or `bagnet help COMMAND`) for a command's options and their defaults.
Exit codes: 0 success, 1 bad data or files, 2 bad usage; train stopped by SIGINT 130, by SIGTERM 143.)";

// "bagnet train" while the train command is parsed or run, else "bagnet".
std::string program(const CLI::App& app) {
    for (const CLI::App* command : app.get_subcommands())
        if (command->get_name() != "help") return "bagnet " + command->get_name();
    return "bagnet";
}

// The option of this command line that gets past an error the library reports.
std::string option_for(bagnet::Remedy remedy) {
    switch (remedy) {
    case bagnet::Remedy::raise_pixel_limit: return " (raise the limit with --max-pixels)";
    case bagnet::Remedy::skip_undecodable: return " (skip undecodable images with --skip-corrupt)";
    case bagnet::Remedy::keep_cosine_length: return " (give --cosine-steps with the recorded length)";
    case bagnet::Remedy::none: break;
    }
    return "";
}

// `text` as one word of a shell command line.
std::string shell_word(const std::string& text) {
    if (!text.empty() && text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                                "_-+=.,:/@%") == std::string::npos)
        return text;
    std::string quoted = "'";
    for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

// What a stopped `train` says: where it stopped, where the weights are, and the
// command that continues it (this one, resuming from the checkpoint).
std::string stopped_line(const bagnet::cli::TrainingStopped& s, int argc, char** argv, int processes) {
    std::string line = "bagnet train: stopped by " + std::string(s.signal == SIGINT ? "SIGINT" : "SIGTERM") +
                       " after step " + std::to_string(s.step) + " of " + std::to_string(s.total) +
                       "; the weights so far are in " + s.save;
    if (s.checkpoint.empty()) return line + "; without --checkpoint the run cannot be continued";
    std::string command = processes > 1 ? "mpirun -np " + std::to_string(processes) + " bagnet" : "bagnet";
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--resume" && i + 1 < argc) ++i;  // replaced by the checkpoint below
        else if (arg.rfind("--resume=", 0) != 0) command += " " + shell_word(arg);
    }
    return line + "; continue with: " + command + " --resume " + shell_word(s.checkpoint);
}

// Stops every process when one failed (a failure seen by all of them, such as a bad
// option, stops them all the same way) and returns what the first process prints.
std::string stop_all(Communicator& processes, const std::string& message) {
    try {
        processes.fail(message);
    } catch (const bagnet::distributed::PeerFailure& e) {
        return e.what();
    }
}

int run(int argc, char** argv, Communicator& processes) {
    CLI::App app{"bagnet: BagNets (Brendel & Bethge, ICLR 2019) on the CPU and the GPU", "bagnet"};
    app.option_defaults()->always_capture_default();
    app.footer(epilogue);
    app.require_subcommand(1);
    bagnet::cli::add_inference_commands(app, processes);
    bagnet::cli::add_train_commands(app, processes);
    bagnet::cli::add_explain_commands(app, processes);
    bagnet::cli::add_robust_commands(app, processes);
    std::vector<CLI::App*> commands = app.get_subcommands({});
    std::string topic;
    CLI::App* help = app.add_subcommand("help", "the options of a command: bagnet help COMMAND");
    help->add_option("command", topic, "a command")->required();
    help->callback([&] {
        for (const CLI::App* command : commands)
            if (command->get_name() == topic) {
                if (processes.is_root()) std::cout << command->help("bagnet");
                return;
            }
        throw bagnet::cli::UsageError("unknown command '" + topic + "' (try bagnet --help)");
    });
    const auto report = [&](const std::string& line, int code) {
        if (processes.is_root()) std::cerr << line << "\n";
        return code;
    };
    if (argc < 2) return report(app.help(), 2);
    const std::string first = argv[1];
    const auto known = app.get_subcommands({});  // the commands and help
    if (first[0] != '-' &&
        std::none_of(known.begin(), known.end(), [&](const CLI::App* c) { return c->get_name() == first; }))
        return report("bagnet: error: unknown command '" + first + "' (try bagnet --help)", 2);
    // Every process parses the same arguments, so a parse error stops each of them alike.
    try {
        app.parse(argc, argv);
    } catch (const bagnet::cli::TrainingStopped& stopped) {  // every process stopped after the same step
        report(stopped_line(stopped, argc, argv, processes.size()), 0);
        return 128 + stopped.signal;
    } catch (const CLI::CallForHelp&) {
        if (processes.is_root()) std::cout << app.help();  // the help of the command being parsed, if any
        return 0;
    } catch (const CLI::ParseError& e) {
        return report(program(app) + ": error: " + e.what() + " (see " + program(app) + " --help)", 2);
    } catch (const bagnet::cli::UsageError& e) {
        return report(program(app) + ": error: " + stop_all(processes, e.what()), 2);
    } catch (const bagnet::distributed::PeerFailure& e) {
        return report(program(app) + ": error: " + e.what() + option_for(e.remedy()), 1);
    } catch (const bagnet::Error& e) {
        return report(program(app) + ": error: " + stop_all(processes, e.what() + option_for(e.remedy())), 1);
    } catch (const std::bad_alloc&) {
        return report(program(app) + ": error: " + stop_all(processes, "out of memory"), 1);
    } catch (const std::exception& e) {
        return report(program(app) + ": error: " + stop_all(processes, e.what()), 1);
    }
    // The last collective: a process that fails while the others finish stops them here.
    try {
        processes.check();
    } catch (const bagnet::distributed::PeerFailure& e) {
        return report(program(app) + ": error: " + e.what(), 1);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return bagnet::distributed::on_launched_processes(
            argc, argv, [&](bagnet::distributed::Communicator& processes) { return run(argc, argv, processes); });
    } catch (const bagnet::Error& e) {  // started as one of several processes, without MPI
        std::cerr << "bagnet: error: " << e.what() << "\n";
        return 2;
    }
}
