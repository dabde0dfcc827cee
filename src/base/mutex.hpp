// Mutex with Clang thread-safety annotations (-Wthread-safety): state guarded by a mutex is declared
// ECSDB_GUARDED_BY(mu_), and the clang build of the library (scripts/run-fuzz.sh compiles every source
// with clang++ -Wthread-safety -Werror=thread-safety) rejects an access without the lock. Under GCC the
// annotations expand to nothing. std::mutex itself is not annotated in libstdc++, hence this wrapper.
#pragma once

#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define ECSDB_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define ECSDB_THREAD_ANNOTATION(x)
#endif

#define ECSDB_CAPABILITY(x) ECSDB_THREAD_ANNOTATION(capability(x))
#define ECSDB_SCOPED_CAPABILITY ECSDB_THREAD_ANNOTATION(scoped_lockable)
#define ECSDB_GUARDED_BY(x) ECSDB_THREAD_ANNOTATION(guarded_by(x))
#define ECSDB_REQUIRES(...) ECSDB_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define ECSDB_ACQUIRE(...) ECSDB_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ECSDB_RELEASE(...) ECSDB_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define ECSDB_EXCLUDES(...) ECSDB_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))

namespace ecsdb::base {

class ECSDB_CAPABILITY("mutex") Mutex {
 public:
  void lock() ECSDB_ACQUIRE() { mu_.lock(); }
  void unlock() ECSDB_RELEASE() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

// Holds the mutex for its scope; unlock()/lock() in between (e.g. around I/O) are checked too.
class ECSDB_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ECSDB_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() ECSDB_RELEASE() {
    if (held_) mu_.unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;
  void lock() ECSDB_ACQUIRE() {
    mu_.lock();
    held_ = true;
  }
  void unlock() ECSDB_RELEASE() {
    held_ = false;
    mu_.unlock();
  }

 private:
  Mutex& mu_;
  bool held_ = true;
};

// Waits on a MutexLock (std::condition_variable_any: it takes any lockable).
using CondVar = std::condition_variable_any;

}  // namespace ecsdb::base
