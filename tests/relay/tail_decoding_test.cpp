// Pure parts of tail mode: pgoutput decoding, the row mapping that must match
// the poll source's, WAL-message events, and the prerequisite errors.
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "pg/bytea.hpp"
#include "pg/pgoutput.hpp"
#include "pg/slot_setup.hpp"
#include "pg/tail_row.hpp"
#include "pg/wal_message.hpp"

namespace outbox::relay {
namespace {

void Put32(std::string& s, int32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    s.push_back(static_cast<char>((static_cast<uint32_t>(v) >> shift) & 0xff));
}
void Put16(std::string& s, int16_t v) {
  s.push_back(static_cast<char>((v >> 8) & 0xff));
  s.push_back(static_cast<char>(v & 0xff));
}
void PutStr(std::string& s, const std::string& v) {
  s += v;
  s.push_back('\0');
}

std::string RelationMessage(uint32_t relid, const std::vector<std::pair<std::string, uint32_t>>& cols) {
  std::string m = "R";
  Put32(m, static_cast<int32_t>(relid));
  PutStr(m, "shop");
  PutStr(m, "outbox");
  m.push_back('d');
  Put16(m, static_cast<int16_t>(cols.size()));
  for (const auto& [name, oid] : cols) {
    m.push_back(0);
    PutStr(m, name);
    Put32(m, static_cast<int32_t>(oid));
    Put32(m, -1);
  }
  return m;
}

TEST(TailPrerequisites, NameWhatToChange) {
  EXPECT_EQ(TailPrerequisiteProblem("logical", "outbox", true), "");
  EXPECT_EQ(TailPrerequisiteProblem("replica", "outbox", true),
            "source.mode = \"tail\" needs wal_level = logical, but the server runs with wal_level = replica; Hint: set "
            "wal_level = logical in postgresql.conf and restart PostgreSQL, or use source.mode = \"poll\"");
  EXPECT_EQ(TailPrerequisiteProblem("logical", "app", false),
            "source.mode = \"tail\" needs a role with the REPLICATION attribute, but role 'app' lacks it; Hint: ALTER "
            "ROLE app REPLICATION (as a superuser), or use source.mode = \"poll\"");
}

TEST(PgOutputDecoder, DecodesBeginRelationInsertMessageCommit) {
  PgOutputDecoder d;
  std::string b = "B";
  PutInt64(b, 0x100);
  PutInt64(b, 0);
  Put32(b, 77);
  auto m = d.Decode(b.data(), b.size());
  EXPECT_EQ(m.kind, PgOutputMessage::Kind::kBegin);
  EXPECT_EQ(m.lsn, 0x100u);
  EXPECT_EQ(m.xid, 77u);

  const std::string r = RelationMessage(42, {{"seq", 20}, {"payload", 17}, {"topic", 25}});
  EXPECT_EQ(d.Decode(r.data(), r.size()).kind, PgOutputMessage::Kind::kRelation);
  ASSERT_NE(d.Relation(42), nullptr);
  EXPECT_EQ(d.Relation(42)->columns[1], "payload");

  std::string i = "I";
  Put32(i, 42);
  i.push_back('N');
  Put16(i, 3);
  i.push_back('t');
  Put32(i, 1);
  i += "7";
  i.push_back('t');
  Put32(i, 6);
  i += "\\x00ff";
  i.push_back('n');
  m = d.Decode(i.data(), i.size());
  ASSERT_EQ(m.kind, PgOutputMessage::Kind::kInsert);
  ASSERT_EQ(m.values.size(), 3u);
  EXPECT_EQ(*m.values[0], "7");
  EXPECT_FALSE(m.values[2].has_value());

  std::string msg = "M";
  msg.push_back(1);
  PutInt64(msg, 0x180);
  PutStr(msg, "outbox.v1.shop");
  Put32(msg, 2);
  msg += "{}";
  m = d.Decode(msg.data(), msg.size());
  EXPECT_EQ(m.kind, PgOutputMessage::Kind::kMessage);
  EXPECT_TRUE(m.transactional);
  EXPECT_EQ(m.prefix, "outbox.v1.shop");
  EXPECT_EQ(m.content, "{}");

  std::string c = "C";
  c.push_back(0);
  PutInt64(c, 0x1f0);
  PutInt64(c, 0x200);
  PutInt64(c, 0);
  m = d.Decode(c.data(), c.size());
  EXPECT_EQ(m.kind, PgOutputMessage::Kind::kCommit);
  EXPECT_EQ(m.lsn, 0x200u) << "a commit carries the transaction's end LSN";

  EXPECT_THROW(d.Decode(c.data(), 5), std::runtime_error) << "truncated";
  EXPECT_EQ(FormatLsn(0x16B374D848ull), "16/B374D848");
}

TEST(TailRowMapper, MatchesThePollSourcesRow) {
  OutboxConfig config;
  config.schema = "shop";
  TailRowMapper mapper(config);
  PgRelation rel{"shop",
                 "outbox",
                 {"seq", "id", "aggregate_type", "aggregate_id", "event_type", "payload", "headers", "topic",
                  "created_at", "published_at"},
                 {20, 2950, 25, 25, 25, 17, 3802, 25, 1184, 1184}};
  ASSERT_TRUE(mapper.IsOutbox(rel));
  std::vector<std::optional<std::string>> v = {"12",
                                               "5b1c0d2e-0000-4000-8000-000000000001",
                                               "order",
                                               "o-1",
                                               "OrderCreated",
                                               "\\x7b7d00ff",
                                               "{\"traceparent\": \"00-1\"}",
                                               std::nullopt,
                                               "2024-05-01 10:00:00.5+00",
                                               std::nullopt};
  OutboxRow r = mapper.Map(rel, v);
  EXPECT_EQ(r.seq, 12);
  EXPECT_EQ(r.aggregate_id, "o-1");
  EXPECT_EQ(*r.payload, std::string("{}\0\xff", 4));
  EXPECT_FALSE(r.topic.has_value());
  EXPECT_EQ(r.created_at, "2024-05-01T10:00:00.500000Z");
  EXPECT_DOUBLE_EQ(r.created_epoch, 1714557600.5);
  EXPECT_EQ(r.headers_json, "{\"traceparent\": \"00-1\"}");

  rel.type_oids[5] = 3802;  // a jsonb payload (Debezium-style table) is sent as its text
  v[5] = "{\"a\": 1}";
  EXPECT_EQ(*mapper.Map(rel, v).payload, "{\"a\": 1}");

  config.columns.topic = "destination";
  EXPECT_THROW(mapper.Map(rel, v), std::runtime_error) << "a mapped column the table lacks";
}

TEST(TailRowMapper, ByteaAndTimestampText) {
  EXPECT_EQ(DecodeBytea("\\x"), "");
  EXPECT_EQ(DecodeBytea("\\x41424a"), "ABJ");
  EXPECT_EQ(DecodeBytea("a\\\\b\\001"), std::string("a\\b\x01", 4));
  std::string t;
  double e = 0;
  ASSERT_TRUE(NormalizeTimestamp("2024-05-01 10:00:00+00", &t, &e));
  EXPECT_EQ(t, "2024-05-01T10:00:00.000000Z");
  ASSERT_TRUE(NormalizeTimestamp("2024-05-01 10:00:00.123456", &t, &e));
  EXPECT_EQ(t, "2024-05-01T10:00:00.123456Z");
  EXPECT_FALSE(NormalizeTimestamp("infinity", &t, &e));
  EXPECT_FALSE(NormalizeTimestamp("2024-05-01 10:00:00+02", &t, &e));
}

TEST(WalMessage, DecodesTheDocumentedFormat) {
  OutboxRow r =
      DecodeWalMessage(R"({"id":"5b1c0d2e-0000-4000-8000-000000000001","aggregate_type":"order","aggregate_id":"o-1",)"
                       R"("event_type":"OrderCreated","payload_base64":"e30A\n/w==","headers":{"traceparent":"00-1"},)"
                       R"("topic":null,"created_at":"2024-05-01T10:00:00.500000Z"})");
  EXPECT_EQ(r.id, "5b1c0d2e-0000-4000-8000-000000000001");
  EXPECT_EQ(r.aggregate_type, "order");
  EXPECT_EQ(*r.payload, std::string("{}\0\xff", 4));
  EXPECT_FALSE(r.topic.has_value());
  EXPECT_EQ(r.created_at, "2024-05-01T10:00:00.500000Z");
  EXPECT_DOUBLE_EQ(r.created_epoch, 1714557600.5);
  EXPECT_EQ(r.headers_json, R"({"traceparent":"00-1"})");
  EXPECT_FALSE(DecodeWalMessage(R"({"id":"x","aggregate_type":"a","aggregate_id":"b","payload_base64":null})")
                   .payload.has_value())
      << "a tombstone";
  EXPECT_THROW(DecodeWalMessage("not json"), std::runtime_error);
  EXPECT_THROW(DecodeWalMessage(R"({"aggregate_type":"a","aggregate_id":"b"})"), std::runtime_error);
}

}  // namespace
}  // namespace outbox::relay
