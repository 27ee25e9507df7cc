#pragma once

#include <string>
#include <vector>

namespace outbox::sdk::detail {

struct EmbeddedMigration {
  int version;
  const char* name;
  const char* sql;
};

/// Every migrations/NNNN_*.sql file, in version order (generated at build time).
const std::vector<EmbeddedMigration>& EmbeddedMigrations();

}  // namespace outbox::sdk::detail
