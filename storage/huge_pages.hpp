// Transparent huge pages for the whole heap of a process. Opening a large store fills tens of
// millions of small allocations (the indexes' id maps, postings and list ids); with glibc's malloc
// on 4 KiB pages each new page is a page fault, and on a virtual machine a first touch of memory
// is expensive. glibc (2.35 and later) asks for transparent huge pages on its heaps when the
// process starts with GLIBC_TUNABLES=glibc.malloc.hugetlb=1; the variable is read once, at
// start, so a process that wants it restarts itself with it. Telos's programs (telos, telosd,
// telos-bench, telos-stress) do that first thing when TELOS_HUGE_PAGES=1 (opt-in: huge pages can
// make the kernel compact memory in a page fault, which is not yet measured on a long ingest); an
// application that embeds Telos can call restart_with_huge_pages() at the top of main() or set
// the variable itself. docs/ENGINE.md ("Opening a large store") has the measurements.
#pragma once

#include <optional>
#include <string>

namespace telos::storage {

/// The GLIBC_TUNABLES value a process should start with given the current one (`tunables`, null
/// when unset) and TELOS_HUGE_PAGES (`setting`: only "1" asks for huge pages), or nullopt when
/// nothing is to change: not asked for, or the tunables already name glibc.malloc.hugetlb (the
/// user's own choice, or this process after its restart). Other tunables are kept.
std::optional<std::string> huge_page_tunables(const char* tunables, const char* setting);

/// Restarts the calling program (execv of /proc/self/exe with `argv`, same process id, open
/// files and arguments) with huge_page_tunables() set in GLIBC_TUNABLES, when TELOS_HUGE_PAGES=1
/// and that asks for a change; returns without a change otherwise, in sanitizer builds (their
/// allocators replace glibc's), off Linux/glibc, or when the restart fails. Call it before any
/// thread starts.
void restart_with_huge_pages(char** argv);

} // namespace telos::storage
