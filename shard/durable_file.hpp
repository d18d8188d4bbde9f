// Files that survive a crash whole: the store manifest, the node binding, the cluster map and the
// decision log are replaced through a temporary file, fsync, rename (and a directory fsync); a
// restored store directory is swapped in whole (copy beside it, fsync, one atomic exchange). Also
// reading such a small file back.
#pragma once

#include "telos/messages/error.hpp"

#include <optional>
#include <string>

namespace telos {

/// Writes a file so that a crash leaves either the old or the new content. With `unique_tmp`
/// the temporary file is this call's own (several processes, or threads of one, may write the
/// same file).
expected<void> replace_file(const std::string& path, const std::string& text,
                            bool unique_tmp = false);

/// Makes the directory's entries (a rename, a new file) durable.
expected<void> sync_directory(const std::string& dir);

/// Makes every file and directory under `dir`, and `dir` itself, durable.
expected<void> sync_tree(const std::string& dir);

/// Puts the directory `staging` at `target` in one step and makes that durable. When `target`
/// exists the two are exchanged atomically (renameat2 RENAME_EXCHANGE), so a crash leaves one or
/// the other at `target`, never neither, and `staging` then holds what `target` held. When
/// `target` does not exist, `staging` is renamed to it. On a file system that cannot exchange,
/// `target` is first renamed to `staging + ".old"` (a crash between the two renames leaves no
/// directory at `target`; both remain beside it).
expected<void> swap_directory(const std::string& staging, const std::string& target);

/// The content of a small file Telos wrote (at most 1 MiB; a larger one is ec::corrupt_value).
expected<std::string> read_small_file(const std::string& path);

/// The text of a small file, or nothing when there is no such file.
expected<std::optional<std::string>> read_optional_file(const std::string& path);

} // namespace telos
