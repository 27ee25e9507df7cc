#include "outbox/outbox.hpp"

#include <algorithm>
#include <cctype>

#include <pqxx/binarystring>
#include <pqxx/connection_base>
#include <pqxx/except>

#include "outbox/migrations.hpp"
#include "sql_encoding.hpp"

namespace outbox::sdk {
namespace {

// Postgres refuses a single value (here: one array parameter) over 1 GB.
constexpr size_t kMaxParameterBytes = (size_t{1} << 30) - 1;

constexpr const char* kColumns = "(id, aggregate_type, aggregate_id, event_type, payload, headers, topic)";

std::string EventId(const Event& e) {
  if (!e.id) return NewEventId();
  std::string id = *e.id;
  // Postgres prints uuids in lower case; return the id as the row will show it.
  std::transform(id.begin(), id.end(), id.begin(), [](unsigned char c) { return std::tolower(c); });
  return id;
}

}  // namespace

std::string WalMessagePrefix(const std::string& schema) { return "outbox.v1." + schema; }

Outbox::Outbox(OutboxOptions options) : options_(std::move(options)) {
  const std::string table = QuoteIdentifier(options_.schema, "schema") + ".outbox";
  // seq is never written: its default, outbox_next_seq(), takes the xid before
  // the sequence value, which the relay's gap tracking relies on.
  insert_name_ = "outbox_insert_" + options_.schema;
  insert_sql_ = "INSERT INTO " + table + " " + kColumns +
                " VALUES ($1::uuid, $2::text, $3::text, $4::text, $5::bytea, $6::jsonb, $7::text)";
  // ORDER BY ordinality: seq defaults are evaluated row by row above the sort,
  // so seq increases in input order. The relay publishes in seq order, so this
  // is what keeps a batch's events for one aggregate in the order given.
  batch_name_ = "outbox_batch_" + options_.schema;
  batch_sql_ = "INSERT INTO " + table + " " + kColumns +
               " SELECT e.id, e.aggregate_type, e.aggregate_id, e.event_type, e.payload, e.headers, e.topic"
               " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::jsonb[], $7::text[])"
               " WITH ORDINALITY AS e(id, aggregate_type, aggregate_id, event_type, payload, headers, topic, n)"
               " ORDER BY e.n";
  // The message content is the JSON object schema/README.md describes; the
  // relay turns it into the same record a row would give. created_at is now(),
  // the row's default, formatted as the relay formats a row's.
  message_name_ = "outbox_message_" + options_.schema;
  message_sql_ = "SELECT pg_logical_emit_message(true, '" + WalMessagePrefix(options_.schema) +
                 "', json_build_object("
                 "'id', $1::uuid, 'aggregate_type', $2::text, 'aggregate_id', $3::text, 'event_type', $4::text, "
                 "'payload_base64', translate(encode($5::bytea, 'base64'), E'\\n', ''), 'headers', $6::jsonb, "
                 "'topic', $7::text, "
                 "'created_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))::text)";
}

std::string Outbox::Enqueue(pqxx::transaction_base& tx, const Event& e) const {
  ValidateEvent(e, options_.max_payload_bytes);
  std::string id = EventId(e);
  const std::string headers = detail::HeadersJson(e.headers);
  const char* topic = e.topic ? e.topic->c_str() : nullptr;  // nullptr binds SQL NULL
  // Registers the statement with this connection; libpqxx accepts the same
  // definition again and sends it to the server only on first use.
  const bool message = options_.mode == WriteMode::kWalMessage;
  const std::string& name = message ? message_name_ : insert_name_;
  tx.conn().prepare(name, message ? message_sql_ : insert_sql_);
  auto insert = [&](const auto& payload) {
    tx.exec_prepared(name, id, e.aggregate_type, e.aggregate_id, e.event_type, payload, headers, topic);
  };
  if (e.tombstone) {
    insert(nullptr);
  } else if (e.payload.empty()) {
    insert(std::string());  // text '' is the empty bytea (an empty binarystring would bind NULL)
  } else {
    insert(pqxx::binarystring(e.payload.data(), e.payload.size()));  // binary: bytes sent unchanged
  }
  return id;
}

std::vector<std::string> Outbox::EnqueueBatch(pqxx::transaction_base& tx, const std::vector<Event>& events) const {
  if (events.empty()) return {};
  if (options_.mode == WriteMode::kWalMessage) {
    // One message per event, in order (a set-returning SELECT would not
    // guarantee the order in which the messages are emitted).
    for (size_t i = 0; i < events.size(); ++i) {
      ValidateEvent(events[i], options_.max_payload_bytes, "events[" + std::to_string(i) + "]");
    }
    std::vector<std::string> out;
    out.reserve(events.size());
    for (const Event& e : events) out.push_back(Enqueue(tx, e));
    return out;
  }
  size_t payload_bytes = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    ValidateEvent(events[i], options_.max_payload_bytes, "events[" + std::to_string(i) + "]");
    payload_bytes += 2 * events[i].payload.size() + 8;  // hex plus quoting
  }
  if (payload_bytes > kMaxParameterBytes) {
    throw ValidationError("events: the batch's payloads take " + std::to_string(payload_bytes) +
                          " bytes as one hex parameter, over Postgres's 1 GB limit; Hint: split the batch");
  }

  detail::ArrayLiteral ids(events.size() * 39), types, agg_ids, event_types, payloads(payload_bytes), headers, topics;
  std::vector<std::string> out;
  out.reserve(events.size());
  for (const Event& e : events) {
    out.push_back(EventId(e));
    ids.Add(out.back());
    types.Add(e.aggregate_type);
    agg_ids.Add(e.aggregate_id);
    event_types.Add(e.event_type);
    if (e.tombstone) {
      payloads.AddNull();
    } else {
      payloads.AddBytea(e.payload);
    }
    headers.Add(detail::HeadersJson(e.headers));
    if (e.topic) {
      topics.Add(*e.topic);
    } else {
      topics.AddNull();
    }
  }
  tx.conn().prepare(batch_name_, batch_sql_);
  const pqxx::result r = tx.exec_prepared(batch_name_, ids.Finish(), types.Finish(), agg_ids.Finish(),
                                          event_types.Finish(), payloads.Finish(), headers.Finish(), topics.Finish());
  if (r.affected_rows() != events.size()) {
    throw pqxx::internal_error("outbox batch insert wrote " + std::to_string(r.affected_rows()) + " rows for " +
                               std::to_string(events.size()) + " events");
  }
  return out;
}

}  // namespace outbox::sdk
