#include "http/build_info.hpp"

#include <dlfcn.h>

// Set for this file only by relay/CMakeLists.txt, so a new commit recompiles nothing else.
#ifndef OUTBOX_VERSION
#error "OUTBOX_VERSION must be defined by the build"
#endif
#ifndef OUTBOX_GIT_COMMIT
#error "OUTBOX_GIT_COMMIT must be defined by the build"
#endif

namespace outbox::relay {

const BuildInfo& GetBuildInfo() {
  static const BuildInfo kInfo{OUTBOX_VERSION, OUTBOX_GIT_COMMIT};
  return kInfo;
}

std::string MallocName() {
  // jemalloc's control interface, present only when jemalloc is linked in (its
  // malloc then comes before glibc's in the lookup order).
  using Mallctl = int (*)(const char*, void*, size_t*, void*, size_t);
  auto* mallctl = reinterpret_cast<Mallctl>(dlsym(RTLD_DEFAULT, "mallctl"));
  if (mallctl == nullptr) return "glibc";
  const char* version = nullptr;
  size_t size = sizeof version;
  if (mallctl("version", &version, &size, nullptr, 0) != 0 || version == nullptr) return "jemalloc";
  return std::string("jemalloc ") + version;
}

}  // namespace outbox::relay
