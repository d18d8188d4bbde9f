// Test hooks (owns every one): the tests set an environment variable to make a process die, pause
// or fail at a named point (coordinator, store facade, shard node), or inject disk faults, then
// prove what the process or the next open does.
#pragma once

namespace telos::detail {

/// Kills the process with SIGKILL (like kill -9, no cleanup) when the environment variable
/// TELOS_TEST_CRASH equals `point`; otherwise does nothing.
void crash_point(const char* point);

/// TELOS_TEST_PAUSE=before-commit:DIR|after-commit:DIR makes a shard host stop once at that point
/// of a commit (before applying its part, or after applying it and before answering) until told to
/// go on: it writes a byte to the FIFO DIR/reached, then reads one from DIR/resume. tests/cluster
/// use it to hold one shard's commit while another shard's part is visible.
void pause_point(const char* point);

/// True once, the first time `point` is reached, when TELOS_TEST_FAIL equals it:
/// TELOS_TEST_FAIL=restore-copy makes the first live restore of a shard on a node fail after its
/// shard was closed (tests/cluster prove that running the restore again finishes).
bool fail_point(const char* point);

/// Disk faults under the control of a test: when the environment variable TELOS_TEST_FAULT_FILE
/// names a file, installs a fault injector that reads it before each file operation (a fault
/// kind name, e.g. "no_space", arms it; an empty or missing file lifts it; storage/
/// fault_injection.hpp). For LMDB's calls the process must run with libfiu's POSIX preload
/// library: when it does not, this starts the program again (`argv`) with it, so call it first in
/// main. Does nothing without the variable. An error it cannot get past is printed and ends the
/// process with exit code 2.
void test_faults_from_environment(char** argv);

} // namespace telos::detail
