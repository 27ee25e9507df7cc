// Router: the record a row becomes, in particular the row's headers column.
// The usual column (an object of strings) is read without a JSON DOM; the
// result must be the same as the DOM's (names in byte order, the last of
// duplicate names wins, other values as their JSON text).
#include <gtest/gtest.h>

#include "pipeline/routing.hpp"

namespace outbox::relay {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

OutboxRow Row(const std::string& headers_json) {
  OutboxRow r;
  r.seq = 1;
  r.id = "e1";
  r.aggregate_type = "order";
  r.aggregate_id = "A";
  r.headers_json = headers_json;
  return r;
}

// The row's own headers: those after the relay's (event_id, aggregate_type, aggregate_id).
Headers RowHeaders(const std::string& json, std::vector<std::string>* dropped = nullptr) {
  const KafkaRecord rec = Router("t").Route(Row(json), dropped);
  return Headers(rec.headers.begin() + 3, rec.headers.end());
}

TEST(Routing, StringHeadersInByteOrder) {
  // jsonb prints keys by length first: the record has them in byte order.
  EXPECT_EQ(RowHeaders(R"({"b": "2", "aa": "1", "trace": "t\u00e9\n"})"),
            (Headers{{"aa", "1"}, {"b", "2"}, {"trace", "t\xc3\xa9\n"}}));
  EXPECT_EQ(RowHeaders("{ }"), Headers{});
}

TEST(Routing, TheLastOfDuplicateNamesWins) {
  EXPECT_EQ(RowHeaders(R"({"k": "1", "a": "x", "k": "2"})"), (Headers{{"a", "x"}, {"k", "2"}}));
}

TEST(Routing, ValuesThatAreNotStringsGoOutAsJson) {
  EXPECT_EQ(RowHeaders(R"({"s": "v", "n": 5, "o": {"x": [1, null]}, "b": true})"),
            (Headers{{"b", "true"}, {"n", "5"}, {"o", R"({"x":[1,null]})"}, {"s", "v"}}));
}

TEST(Routing, ReservedNamesAreDroppedOnce) {
  std::vector<std::string> dropped;
  EXPECT_EQ(RowHeaders(R"({"event_id": "spoof", "x": "1", "event_id": "again"})", &dropped), (Headers{{"x", "1"}}));
  EXPECT_EQ(dropped, std::vector<std::string>{"event_id"});
  const KafkaRecord rec = Router("t").Route(Row(R"({"event_id": "spoof"})"));
  EXPECT_EQ(rec.headers.front(), (std::pair<std::string, std::string>{"event_id", "e1"}));
}

TEST(Routing, HeadersThatAreNotAnObjectAreABadRow) {
  for (const char* bad : {R"(["a"])", R"("text")", R"({"a": "1")", R"({"a": "1"} x)", "5"}) {
    EXPECT_THROW(RowHeaders(bad), std::invalid_argument) << bad;
  }
}

}  // namespace
}  // namespace outbox::relay
