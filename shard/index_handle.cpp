// The writer-first lock of an index handle (pthread rwlock that prefers writers).
#include "telos/shard/index_handle.hpp"

#include <system_error>

namespace telos {

namespace {

void check_rwlock(int rc, const char* what) {
  if (rc != 0) throw std::system_error(rc, std::generic_category(), what);
}

} // namespace

writer_first_lock::writer_first_lock() {
  pthread_rwlockattr_t attr;
  check_rwlock(pthread_rwlockattr_init(&attr), "pthread_rwlockattr_init");
  check_rwlock(pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP),
               "pthread_rwlockattr_setkind_np");
  auto rc = pthread_rwlock_init(&lock_, &attr);
  pthread_rwlockattr_destroy(&attr);
  check_rwlock(rc, "pthread_rwlock_init");
}

writer_first_lock::~writer_first_lock() {
  pthread_rwlock_destroy(&lock_);
}

void writer_first_lock::lock() {
  check_rwlock(pthread_rwlock_wrlock(&lock_), "pthread_rwlock_wrlock");
}

void writer_first_lock::unlock() {
  check_rwlock(pthread_rwlock_unlock(&lock_), "pthread_rwlock_unlock");
}

void writer_first_lock::lock_shared() {
  check_rwlock(pthread_rwlock_rdlock(&lock_), "pthread_rwlock_rdlock");
}

void writer_first_lock::unlock_shared() {
  check_rwlock(pthread_rwlock_unlock(&lock_), "pthread_rwlock_unlock");
}

} // namespace telos
