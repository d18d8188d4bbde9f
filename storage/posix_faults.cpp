// The POSIX fault seam (fault_injection.hpp): libfiu's fiu_posix_preload.so puts a point of
// failure in front of each POSIX I/O call; we enable those points with a callback that asks the
// installed injector, for calls inside a posix_fault_scope only. libfiu is found at run time
// (dlsym): the library needs it only in processes that preload it.
#include "telos/storage/fault_injection.hpp"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>

#include <dlfcn.h>

namespace telos::storage {

namespace {

thread_local const std::string* scoped_path = nullptr;

// libfiu's control interface (fiu-control.h), looked up at run time.
using fiu_external_cb = int(const char* name, int* failnum, void** failinfo, unsigned* flags);
using fiu_init_fn = int(unsigned flags);
using fiu_enable_external_fn = int(const char* name, int failnum, void* failinfo, unsigned flags,
                                   fiu_external_cb* cb);

/// The class of the call behind a libfiu point name ("posix/io/sync/fdatasync", …).
file_op posix_op_of(const char* name) {
  if (std::strncmp(name, "posix/io/sync/", 14) == 0) return file_op::sync;
  if (std::strstr(name, "/read") != nullptr) return file_op::read;
  return file_op::write;
}

int posix_fault_decide(const char* name, int*, void** failinfo, unsigned*) {
  const std::string* path = scoped_path;
  if (path == nullptr) return 0;
  auto decision = own_file_fault(posix_op_of(name), *path);
  if (!decision) return 0;
  // libfiu's wrappers set errno to the failinfo of the point; the call returns -1. A short write
  // (decision.partial) lands as a failed write: LMDB reports a short write as EIO either way.
  *failinfo = reinterpret_cast<void*>(static_cast<intptr_t>(decision.error));
  return 1;
}

/// Every point LMDB's I/O passes (its data and lock files, its meta page, its syncs).
constexpr const char* posix_points[] = {
    "posix/io/rw/write",   "posix/io/rw/pwrite",    "posix/io/rw/writev",
    "posix/io/rw/pwritev", "posix/io/sync/fsync",   "posix/io/sync/fdatasync",
    "posix/io/rw/read",    "posix/io/rw/pread",     "posix/io/rw/readv",
    "posix/io/rw/preadv",  "posix/io/rw/ftruncate",
};

} // namespace

posix_fault_scope::posix_fault_scope(const std::string& path) : previous_{scoped_path} {
  scoped_path = &path;
}

posix_fault_scope::~posix_fault_scope() {
  scoped_path = previous_;
}

std::string posix_fault_preload_path() {
  if (const char* env = std::getenv("TELOS_FIU_PRELOAD"); env != nullptr && *env != '\0')
    return env;
  return "/usr/lib/fiu/fiu_posix_preload.so";
}

std::string posix_fault_preload_list() {
  std::string value;
  // A sanitizer runtime this process runs with must stay first in the list, or it refuses to
  // start (ASan: "runtime does not come first in initial library list").
  {
    std::ifstream maps{"/proc/self/maps"};
    std::string line;
    while (std::getline(maps, line)) {
      auto at = line.find('/');
      if (at == std::string::npos) continue;
      auto path = line.substr(at);
      if (path.find("/libasan.so") != std::string::npos ||
          path.find("/libtsan.so") != std::string::npos) {
        value = path + ":";
        break;
      }
    }
  }
  value += posix_fault_preload_path();
  if (const char* old = std::getenv("LD_PRELOAD"); old != nullptr && *old != '\0')
    value += std::string{":"} + old;
  return value;
}

bool posix_faults_loaded() {
  // Loaded, whichever library comes first (a sanitizer runtime's pwrite may stand before it).
  if (void* handle = dlopen(posix_fault_preload_path().c_str(), RTLD_LAZY | RTLD_NOLOAD);
      handle != nullptr) {
    dlclose(handle);
    return true;
  }
  // The preload library defines pwrite itself; when it was preloaded, the process's pwrite is its.
  void* symbol = dlsym(RTLD_DEFAULT, "pwrite");
  Dl_info info;
  if (symbol == nullptr || dladdr(symbol, &info) == 0 || info.dli_fname == nullptr) return false;
  return std::strstr(info.dli_fname, "fiu_posix_preload") != nullptr;
}

expected<void> enable_posix_faults() {
  static std::mutex mutex;
  static bool enabled = false;
  std::lock_guard<std::mutex> guard{mutex};
  if (enabled) return {};
  if (!posix_faults_loaded())
    return make_error(ec::invalid_argument,
                      "LMDB's file calls can be faulted only with libfiu's POSIX preload library "
                      "loaded first (LD_PRELOAD=" +
                          posix_fault_preload_path() + "; Debian packages fiu-utils and libfiu0)");
  auto* init = reinterpret_cast<fiu_init_fn*>(dlsym(RTLD_DEFAULT, "fiu_init"));
  auto* enable =
      reinterpret_cast<fiu_enable_external_fn*>(dlsym(RTLD_DEFAULT, "fiu_enable_external"));
  if (init == nullptr || enable == nullptr)
    return make_error(ec::invalid_argument, "libfiu's control functions (fiu_init, "
                                            "fiu_enable_external) are not in this process");
  if (init(0) != 0) return make_error(ec::internal, "fiu_init failed");
  for (const char* point : posix_points)
    if (enable(point, 1, nullptr, 0, &posix_fault_decide) != 0)
      return make_error(ec::internal, std::string{"libfiu cannot enable "} + point);
  enabled = true;
  return {};
}

} // namespace telos::storage
