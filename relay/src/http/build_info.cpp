#include "http/build_info.hpp"

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

}  // namespace outbox::relay
