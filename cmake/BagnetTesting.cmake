# Test helpers: the environment every test sees, and fixture-setup tests that the Catch tests wait for.
#
# BAGNET_TEST_ENVIRONMENT (list of NAME=VALUE) is set by tests/CMakeLists.txt before this is used:
#   BAGNET_FIXTURE_DIR  where fixture scripts write and tests read reference data
#   BAGNET_BIN          where the built programs are (the `bagnet` command line, examples)
#   BAGNET_SOURCE_DIR   the source tree
#   BAGNET_PYTHON       the Python interpreter that has torch

# Python3_EXECUTABLE defaults to Debian's python3 (the top-level CMakeLists.txt says why).
find_package(Python3 REQUIRED COMPONENTS Interpreter)

# bagnet_fixture(<name> COMMAND <command> <arg>...): a test that sets up fixture <name>; every
# discovered Catch test requires it, so `ctest -R something` still runs the setup first.
function(bagnet_fixture name)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "COMMAND")
    add_test(NAME ${name} COMMAND ${arg_COMMAND})
    set_tests_properties(${name} PROPERTIES
        FIXTURES_SETUP ${name}
        ENVIRONMENT "${BAGNET_TEST_ENVIRONMENT}"
        LABELS fixture)
    set_property(GLOBAL APPEND PROPERTY BAGNET_TEST_FIXTURES ${name})
endfunction()

# bagnet_python_fixture(<name> COMMAND <script.py> <arg>...): the same, run by the torch Python.
function(bagnet_python_fixture name)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "COMMAND")
    bagnet_fixture(${name} COMMAND ${Python3_EXECUTABLE} ${arg_COMMAND})
endfunction()

# bagnet_require_fixtures(<test target>): after catch_discover_tests(<target>), gives every test
# it discovers the environment and makes it require every fixture declared so far. The tests are only
# known when the executable has been built, so the properties are set by a CTest include file that
# runs after Catch's own (the route catch_discover_tests documents); passing ENVIRONMENT through its
# PROPERTIES argument would split the list at its semicolons.
function(bagnet_require_fixtures target)
    get_property(fixtures GLOBAL PROPERTY BAGNET_TEST_FIXTURES)
    set(include_file ${CMAKE_CURRENT_BINARY_DIR}/${target}_properties.cmake)
    file(WRITE ${include_file}
        "if(${target}_TESTS)\n"
        "    set_tests_properties(\${${target}_TESTS} PROPERTIES\n"
        "        ENVIRONMENT [==[${BAGNET_TEST_ENVIRONMENT}]==]\n"
        "        FIXTURES_REQUIRED [==[${fixtures}]==])\n"
        "endif()\n")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${include_file})
endfunction()
