// The exactly-once checkpoint's encoding: rows as sorted ranges per table,
// read back exactly, and a clear error for anything else.
#include "kafka/checkpoint.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <tuple>

namespace outbox::relay {
namespace {

std::vector<std::tuple<uint32_t, int64_t>> Sorted(std::vector<RowRef> rows) {
  std::vector<std::tuple<uint32_t, int64_t>> out;
  for (const RowRef& r : rows) out.emplace_back(r.table_oid, r.seq);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Checkpoint, RoundTripsRowsAsRanges) {
  Checkpoint c;
  c.transactional_id = "outbox-relay.app.outbox.outbox";
  c.transaction = 42;
  c.committed_unix_ms = 1796236450394;
  // Unsorted, with gaps, two tables, and a duplicate.
  c.rows = {{7, 100}, {5, 100}, {6, 100}, {9, 100}, {3, 200}, {10, 100}, {4, 200}, {6, 100}};
  const std::string json = EncodeCheckpoint(c);
  EXPECT_NE(json.find("\"rows\":[[100,5,7],[100,9,10],[200,3,4]]"), std::string::npos) << json;
  const Checkpoint back = DecodeCheckpoint(json);
  EXPECT_EQ(back.transactional_id, c.transactional_id);
  EXPECT_EQ(back.transaction, 42u);
  EXPECT_EQ(back.committed_unix_ms, c.committed_unix_ms);
  std::vector<RowRef> unique = c.rows;
  unique.pop_back();  // the duplicate
  EXPECT_EQ(Sorted(back.rows), Sorted(unique));
}

TEST(Checkpoint, TheLastPublishedWalMessage) {
  Checkpoint c;
  c.transactional_id = "t";
  c.messages = StreamPosition{0x16B3F28, 7};
  const std::string json = EncodeCheckpoint(c);
  EXPECT_NE(json.find("\"messages\":[23805736,7]"), std::string::npos) << json;
  const Checkpoint back = DecodeCheckpoint(json);
  EXPECT_EQ(back.messages.lsn, 0x16B3F28u);
  EXPECT_EQ(back.messages.index, 7u);
  EXPECT_TRUE(StreamPosition({5, 9}) < StreamPosition({6, 1})) << "the commit LSN first";
  EXPECT_TRUE(StreamPosition({6, 1}) <= StreamPosition({6, 1}));
  EXPECT_FALSE(StreamPosition({6, 2}) <= StreamPosition({6, 1}));
}

TEST(Checkpoint, NoRows) {
  Checkpoint c;
  c.transactional_id = "t";
  const std::string json = EncodeCheckpoint(c);
  EXPECT_EQ(json.find("messages"), std::string::npos) << "poll mode writes no position: " << json;
  const Checkpoint back = DecodeCheckpoint(json);
  EXPECT_TRUE(back.rows.empty());
  EXPECT_TRUE(back.messages.empty());
  EXPECT_EQ(back.transactional_id, "t");
}

TEST(Checkpoint, RejectsWhatItDidNotWrite) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "not JSON"},
      {"[]", "not a JSON object"},
      {R"({"version":2,"transactional_id":"t","transaction":1,"committed_at_ms":0,"rows":[]})", "unknown version 2"},
      {R"({"version":1,"transaction":1,"committed_at_ms":0,"rows":[]})", "missing or mistyped field"},
      {R"({"version":1,"transactional_id":"t","transaction":1,"committed_at_ms":0,"rows":[[1,5,4]]})", "bad range"},
      {R"({"version":1,"transactional_id":"t","transaction":1,"committed_at_ms":0,"rows":[["x",1,2]]})",
       "missing or mistyped field"},
  };
  for (const auto& [value, expected] : cases) {
    try {
      DecodeCheckpoint(value);
      ADD_FAILURE() << "accepted: " << value;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << value << " -> " << e.what();
    }
  }
}

}  // namespace
}  // namespace outbox::relay
