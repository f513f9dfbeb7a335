// write_file_atomically: the destination holds either its old content or the
// complete new content, and no temporary file survives a failure.
#include <bagnet/io/atomic_file.hpp>

#include "error_matchers.hpp"
#include "test_files.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include <sys/resource.h>
#include <sys/stat.h>

namespace {

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("write_file_atomically creates and replaces files whole", "[atomic_file]") {
    using bagnet::io::write_file_atomically;
    bagnet::testing::ScratchDirectory directory;
    const std::string path = directory.file("out.txt");
    write_file_atomically(path, [](std::ostream& out) { out << "first"; });
    CHECK(read_text(path) == "first");
    const std::string large(300000, 'x');  // larger than the write buffer
    write_file_atomically(path, [&](std::ostream& out) { out << "second" << large; });
    CHECK(read_text(path) == "second" + large);
    CHECK(directory.entries() == std::vector<std::string>{"out.txt"});

    // Like any newly created file: 0666 filtered by the umask, not mkstemp's 0600.
    const mode_t mask = ::umask(022);
    write_file_atomically(directory.file("shared.txt"), [](std::ostream& out) { out << "x"; });
    ::umask(mask);
    struct stat info {};
    REQUIRE(::stat(directory.file("shared.txt").c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0644);
}

TEST_CASE("write_file_atomically keeps the old file when the writer throws", "[atomic_file]") {
    using bagnet::io::write_file_atomically;
    bagnet::testing::ScratchDirectory directory;
    const std::string path = directory.file("out.txt");
    write_file_atomically(path, [](std::ostream& out) { out << "old"; });
    auto half_then_throw = [](std::ostream& out) {
        out << "half of the new";
        throw std::logic_error("writer gave up");
    };
    REQUIRE_THROWS_WITH(write_file_atomically(path, half_then_throw), "writer gave up");
    CHECK(read_text(path) == "old");
    CHECK(directory.entries() == std::vector<std::string>{"out.txt"});
}

TEST_CASE("write_file_atomically reports paths it cannot write, naming them", "[atomic_file]") {
    using bagnet::io::write_file_atomically;
    using bagnet::testing::one_line_mentioning;
    bagnet::testing::ScratchDirectory directory;
    auto write_something = [](std::ostream& out) { out << "data"; };

    const std::string missing_directory = directory.file("absent/out.txt");
    REQUIRE_THROWS_WITH(write_file_atomically(missing_directory, write_something),
                        one_line_mentioning({missing_directory, "cannot create a temporary file next to it",
                                             "No such file or directory"}));

    // A directory cannot be replaced by a file: the rename fails after everything was written.
    const std::string occupied = directory.file("occupied");
    std::filesystem::create_directory(occupied);
    REQUIRE_THROWS_WITH(write_file_atomically(occupied, write_something),
                        one_line_mentioning({occupied, "cannot replace it"}));
    CHECK(directory.entries() == std::vector<std::string>{"occupied"});

    // A failing write (here: the file size limit, as a full disk would) is reported with its reason.
    const std::string path = directory.file("large.txt");
    struct rlimit old_limit {};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
    struct rlimit small_limit = old_limit;
    small_limit.rlim_cur = 1000;
    const auto old_handler =
        std::signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails with EFBIG instead
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small_limit) == 0);
    auto write_too_much = [](std::ostream& out) { out << std::string(5000, 'x'); };
    CHECK_THROWS_WITH(write_file_atomically(path, write_too_much),
                      one_line_mentioning({path, "cannot write: File too large"}));
    ::setrlimit(RLIMIT_FSIZE, &old_limit);
    std::signal(SIGXFSZ, old_handler);
    CHECK(directory.entries() == std::vector<std::string>{"occupied"});
}
