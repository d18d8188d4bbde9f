// Test hooks shared by the coordinator and the cluster actors: the tests set an environment
// variable to make a process die at a named point, then prove recovery at the next open.
#pragma once

namespace telos::detail {

/// Kills the process with SIGKILL (like kill -9, no cleanup) when the environment variable
/// TELOS_TEST_CRASH equals `point`; otherwise does nothing.
void crash_point(const char* point);

} // namespace telos::detail
