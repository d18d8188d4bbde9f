// Test hooks shared by the coordinator and the cluster actors: the tests set an environment
// variable to make a process die at a named point, then prove recovery at the next open.
#pragma once

namespace telos::detail {

/// Kills the process with SIGKILL (like kill -9, no cleanup) when the environment variable
/// TELOS_TEST_CRASH equals `point`; otherwise does nothing.
void crash_point(const char* point);

/// Disk faults under the control of a test: when the environment variable TELOS_TEST_FAULT_FILE
/// names a file, installs a fault injector that reads it before each file operation (a fault
/// kind name, e.g. "no_space", arms it; an empty or missing file lifts it; storage/
/// fault_injection.hpp). For LMDB's calls the process must run with libfiu's POSIX preload
/// library: when it does not, this starts the program again (`argv`) with it, so call it first in
/// main. Does nothing without the variable. An error it cannot get past is printed and ends the
/// process with exit code 2.
void test_faults_from_environment(char** argv);

} // namespace telos::detail
