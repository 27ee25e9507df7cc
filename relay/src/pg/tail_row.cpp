#include "pg/tail_row.hpp"

#include <cstdio>
#include <ctime>
#include <stdexcept>

#include "config/config.hpp"
#include "pg/bytea.hpp"

namespace outbox::relay {
namespace {

constexpr uint32_t kByteaOid = 17;

}  // namespace

bool NormalizeTimestamp(const std::string& text, std::string* rfc3339, double* epoch) {
  int y, mo, d, h, mi, s, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) != 6) return false;
  size_t pos = static_cast<size_t>(consumed);
  long micros = 0;
  if (pos < text.size() && text[pos] == '.') {
    int digits = 0;
    for (++pos; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos, ++digits) {
      if (digits < 6) micros = micros * 10 + (text[pos] - '0');
    }
    for (; digits < 6; ++digits) micros *= 10;
  }
  // Sessions of the tail source run with TimeZone=UTC: the only offset is +00.
  const std::string rest = text.substr(pos);
  if (!rest.empty() && rest != "+00" && rest != "+00:00") return false;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  *epoch = static_cast<double>(timegm(&tm)) + micros / 1e6;
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", y, mo, d, h, mi, s, micros);
  *rfc3339 = buf;
  return true;
}

TailRowMapper::TailRowMapper(const OutboxConfig& config) : config_(config) {}

bool TailRowMapper::IsOutbox(const PgRelation& rel) const {
  return rel.schema == config_.schema && rel.name == config_.table;
}

OutboxRow TailRowMapper::Map(const PgRelation& rel, const std::vector<std::optional<std::string>>& values) const {
  // A column mapped to "" is absent; a mapped column missing from the table is an error.
  auto find = [&](const std::string& name, const char* key) -> int {
    if (name.empty()) return -1;
    for (size_t i = 0; i < rel.columns.size() && i < values.size(); ++i) {
      if (rel.columns[i] == name) return static_cast<int>(i);
    }
    throw std::runtime_error("outbox table " + rel.schema + "." + rel.name + " has no column '" + name +
                             "' (outbox.columns." + key + ")");
  };
  auto text = [&](int i) -> std::string { return i < 0 || !values[i] ? std::string() : *values[i]; };
  const ColumnNames& c = config_.columns;
  OutboxRow r;
  const std::string seq = text(find(c.seq, "seq"));
  if (seq.empty()) {
    throw std::runtime_error("outbox table " + rel.schema + "." + rel.name + ": a row with a NULL " + c.seq +
                             " (outbox.columns.seq); Hint: give the column NOT NULL and its default");
  }
  r.seq = std::stoll(seq);
  r.id = text(find(c.id, "id"));
  r.aggregate_type = text(find(c.aggregate_type, "aggregate_type"));
  r.aggregate_id = text(find(c.aggregate_id, "aggregate_id"));
  r.event_type = text(find(c.event_type, "event_type"));
  const int p = find(c.payload, "payload");
  if (p >= 0 && values[p]) r.payload = rel.type_oids[p] == kByteaOid ? DecodeBytea(*values[p]) : *values[p];
  r.headers_json = text(find(c.headers, "headers"));
  const int t = find(c.topic, "topic");
  if (t >= 0 && values[t]) r.topic = *values[t];
  // The attempts column is optional even when mapped (a table may lack it).
  if (!c.attempts.empty()) {
    for (size_t i = 0; i < rel.columns.size() && i < values.size(); ++i) {
      if (rel.columns[i] == c.attempts && values[i]) r.attempts = static_cast<uint32_t>(std::stoul(*values[i]));
    }
  }
  const int ca = find(c.created_at, "created_at");
  if (ca >= 0 && values[ca] && !NormalizeTimestamp(*values[ca], &r.created_at, &r.created_epoch)) {
    r.created_at = *values[ca];  // infinity and the like: as the server wrote it
  }
  return r;
}

}  // namespace outbox::relay
