#pragma once

#include <string>

namespace outbox::relay {

/// What this binary was built from: the project version and the git commit
/// CMake saw at configure time ("unknown" when it was built outside a git checkout).
struct BuildInfo {
  std::string version;
  std::string commit;
};

const BuildInfo& GetBuildInfo();

/// The allocator this process runs on, asked at run time: "jemalloc " and jemalloc's version
/// when jemalloc replaced malloc (the outbox-relay executable's default), else "glibc".
std::string MallocName();

}  // namespace outbox::relay
