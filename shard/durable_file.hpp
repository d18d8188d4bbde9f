// Files that survive a crash whole: the store manifest, the node binding, the cluster map and the
// decision log are replaced through a temporary file, fsync, rename (and a directory fsync).
#pragma once

#include "telos/messages/error.hpp"

#include <string>

namespace telos {

/// Writes a file so that a crash leaves either the old or the new content. With `unique_tmp`
/// the temporary file is this process's own (several processes may write the same file).
expected<void> replace_file(const std::string& path, const std::string& text,
                            bool unique_tmp = false);

/// Makes the directory's entries (a rename, a new file) durable.
expected<void> sync_directory(const std::string& dir);

} // namespace telos
