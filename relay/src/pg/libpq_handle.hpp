#pragma once
// Private to the tail source: owning handles for libpq's C objects.

#include <libpq-fe.h>

#include <memory>

namespace outbox::relay {

struct PgConnDeleter {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct PgResultDeleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
/// PQfinish on destruction; also closes a COPY BOTH stream (the server sees EOF).
using PgConnPtr = std::unique_ptr<PGconn, PgConnDeleter>;
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

}  // namespace outbox::relay
