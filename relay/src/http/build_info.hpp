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

}  // namespace outbox::relay
