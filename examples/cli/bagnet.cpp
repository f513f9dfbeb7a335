// The `bagnet` command line: one subcommand per task, a thin layer over the
// library's free functions. Anything that goes wrong ends the program with one
// line on stderr and a non-zero exit code: 1 for bad data or files, 2 for bad usage.
#include <algorithm>
#include <iostream>

#include "explain_commands.hpp"
#include "inference_commands.hpp"
#include "train_commands.hpp"

namespace {

const char* epilogue = R"(
Run `bagnet COMMAND --help` (or `bagnet help COMMAND`) for a command's options and their defaults.
Exit codes: 0 success, 1 bad data or files, 2 bad usage.)";

// "bagnet train" while the train command is parsed or run, else "bagnet".
std::string program(const CLI::App& app) {
    for (const CLI::App* command : app.get_subcommands())
        if (command->get_name() != "help") return "bagnet " + command->get_name();
    return "bagnet";
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"bagnet: BagNets (Brendel & Bethge, ICLR 2019) on the CPU and the GPU", "bagnet"};
    app.option_defaults()->always_capture_default();
    app.footer(epilogue);
    app.require_subcommand(1);
    bagnet::cli::add_inference_commands(app);
    bagnet::cli::add_train_commands(app);
    bagnet::cli::add_explain_commands(app);
    std::vector<CLI::App*> commands;
    std::string topic;
    CLI::App* help = app.add_subcommand("help", "the options of a command: bagnet help COMMAND");
    help->add_option("command", topic, "a command")->required();
    help->callback([&] {
        for (const CLI::App* command : commands)
            if (command->get_name() == topic) {
                std::cout << command->help("bagnet");
                return;
            }
        throw bagnet::cli::UsageError("unknown command '" + topic + "' (try bagnet --help)");
    });
    if (argc < 2) {
        std::cerr << app.help();
        return 2;
    }
    const std::string first = argv[1];
    commands = app.get_subcommands({});
    if (first[0] != '-' && std::none_of(commands.begin(), commands.end(),
                                        [&](const CLI::App* c) { return c->get_name() == first; })) {
        std::cerr << "bagnet: error: unknown command '" << first << "' (try bagnet --help)\n";
        return 2;
    }
    try {
        app.parse(argc, argv);
        return 0;
    } catch (const CLI::CallForHelp&) {
        std::cout << app.help();  // the help of the command being parsed, if any
        return 0;
    } catch (const CLI::ParseError& e) {
        std::cerr << program(app) << ": error: " << e.what() << " (see " << program(app) << " --help)\n";
        return 2;
    } catch (const bagnet::cli::UsageError& e) {
        std::cerr << program(app) << ": error: " << e.what() << "\n";
        return 2;
    } catch (const bagnet::Error& e) {
        std::cerr << program(app) << ": error: " << e.what() << "\n";
        return 1;
    } catch (const dnnl::error& e) {
        std::cerr << program(app) << ": error: " << "oneDNN failed: " << e.what() << "\n";
        return 1;
    } catch (const std::bad_alloc&) {
        std::cerr << program(app) << ": error: " << "out of memory\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << program(app) << ": error: " << e.what() << "\n";
        return 1;
    }
}
