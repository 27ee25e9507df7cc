// Event validation (every rule, with its message) and UUIDv7 event ids.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "outbox/event.hpp"

namespace outbox::test {
namespace {

sdk::Event Valid() {
  sdk::Event e;
  e.aggregate_type = "order";
  e.aggregate_id = "o-1";
  e.event_type = "OrderCreated";
  e.payload = R"({"total":12})";
  return e;
}

// The ValidationError message for `e`, or "" when it passes.
std::string Problem(const sdk::Event& e, size_t max_payload = 1 << 20) {
  try {
    sdk::ValidateEvent(e, max_payload);
  } catch (const sdk::ValidationError& err) {
    return err.what();
  }
  return "";
}

template <typename F>
std::string ProblemWith(F change) {
  sdk::Event e = Valid();
  change(e);
  return Problem(e);
}

}  // namespace

TEST(SdkValidation, AcceptsAValidEvent) {
  EXPECT_EQ(Problem(Valid()), "");
  sdk::Event e = Valid();
  e.headers = {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, {"tenant", "ünï"}};
  e.topic = "Orders.v1_eu-west";
  e.id = "0190C3A4-5F2B-7C3D-8E4F-0123456789AB";
  e.payload = std::string("\0\xff\x80 binary", 10);
  EXPECT_EQ(Problem(e), "");
}

TEST(SdkValidation, RequiresAggregateAndEventType) {
  EXPECT_EQ(ProblemWith([](sdk::Event& e) { e.aggregate_type.clear(); }), "event.aggregate_type: must not be empty");
  EXPECT_EQ(ProblemWith([](sdk::Event& e) { e.aggregate_id.clear(); }), "event.aggregate_id: must not be empty");
  EXPECT_EQ(ProblemWith([](sdk::Event& e) { e.event_type.clear(); }), "event.event_type: must not be empty");
}

TEST(SdkValidation, BoundsKeySizesAsTheTableDoes) {
  EXPECT_EQ(ProblemWith([](sdk::Event& e) { e.aggregate_id = std::string(4096, 'k'); }), "");
  EXPECT_EQ(ProblemWith([](sdk::Event& e) { e.aggregate_id = std::string(4097, 'k'); }),
            "event.aggregate_id: 4097 bytes is longer than the 4096 a key may have");
  EXPECT_EQ(ProblemWith([](sdk::Event& e) { e.aggregate_type = std::string(201, 't'); }),
            "event.aggregate_type: longer than 200 bytes");
}

TEST(SdkValidation, RefusesTextPostgresWouldCutOrReject) {
  EXPECT_EQ(ProblemWith([](sdk::Event& e) { e.aggregate_id = std::string("a\0b", 3); }),
            "event.aggregate_id: must not contain a NUL byte");
  EXPECT_EQ(ProblemWith([](sdk::Event& e) { e.event_type = "bad\xff"; }), "event.event_type: must be valid UTF-8");
  EXPECT_EQ(ProblemWith([](sdk::Event& e) { e.aggregate_type = "\xc0\xaf"; }),  // overlong '/'
            "event.aggregate_type: must be valid UTF-8");
  EXPECT_EQ(ProblemWith([](sdk::Event& e) { e.headers["k"] = "\xed\xa0\x80"; }),  // a UTF-16 surrogate
            "event.headers[k]: must be valid UTF-8");
}

TEST(SdkValidation, RefusesReservedAndEmptyHeaderNames) {
  for (const char* name : {"event_id", "event_type", "aggregate_type", "aggregate_id", "created_at"}) {
    EXPECT_TRUE(sdk::IsReservedHeader(name));
    EXPECT_EQ(ProblemWith([&](sdk::Event& e) { e.headers[name] = "x"; }),
              std::string("event.headers: '") + name + "' is reserved: the relay sets it from the row itself");
  }
  EXPECT_FALSE(sdk::IsReservedHeader("Event_Id"));
  EXPECT_EQ(ProblemWith([](sdk::Event& e) { e.headers[""] = "x"; }), "event.headers: header names must not be empty");
  EXPECT_EQ(ProblemWith([](sdk::Event& e) { e.headers[std::string("a\0", 2)] = "x"; }),
            "event.headers: header names must not contain a NUL byte");
}

TEST(SdkValidation, RefusesPayloadOverTheLimit) {
  sdk::Event e = Valid();
  e.payload.assign(100, 'x');
  EXPECT_EQ(Problem(e, 100), "");
  e.payload += 'x';
  EXPECT_EQ(Problem(e, 100), "event.payload: 101 bytes exceeds max_payload_bytes (100)");
  e.payload.clear();
  e.tombstone = true;
  EXPECT_EQ(Problem(e), "");
  e.payload = "x";
  EXPECT_EQ(Problem(e), "event.payload: must be empty when tombstone is set");
}

TEST(SdkValidation, RefusesTopicsKafkaWouldReject) {
  auto with_topic = [](const std::string& t) { return ProblemWith([&](sdk::Event& e) { e.topic = t; }); };
  EXPECT_EQ(with_topic(std::string(249, 'a')), "");
  EXPECT_EQ(with_topic(""), "event.topic: must not be empty when set (leave it unset to use the relay's template)");
  EXPECT_EQ(with_topic(std::string(250, 'a')), "event.topic: longer than Kafka's 249 characters");
  EXPECT_EQ(with_topic(".."), "event.topic: '..' is not a legal Kafka topic name");
  EXPECT_EQ(with_topic("orders/eu"),
            "event.topic: 'orders/eu' has a character Kafka does not allow; use only [a-zA-Z0-9._-]");
  EXPECT_EQ(with_topic("a b"), "event.topic: 'a b' has a character Kafka does not allow; use only [a-zA-Z0-9._-]");
}

TEST(SdkValidation, RefusesIdsThatAreNotUuids) {
  EXPECT_EQ(ProblemWith([](sdk::Event& e) { e.id = "42"; }),
            "event.id: '42' is not a UUID; expected 8-4-4-4-12 hexadecimal digits");
  EXPECT_FALSE(sdk::IsCanonicalUuid("0190c3a45f2b7c3d8e4f0123456789ab"));        // no dashes
  EXPECT_FALSE(sdk::IsCanonicalUuid("{0190c3a4-5f2b-7c3d-8e4f-0123456789ab}"));  // braces
  EXPECT_FALSE(sdk::IsCanonicalUuid("0190c3a4-5f2b-7c3d-8e4f-0123456789ag"));
  EXPECT_FALSE(sdk::IsCanonicalUuid("0190c3a4-5f2b7-c3d-8e4f-0123456789ab"));
  EXPECT_TRUE(sdk::IsCanonicalUuid("0190c3a4-5f2b-7c3d-8e4f-0123456789ab"));
}

TEST(SdkValidation, PrefixNamesTheEventInABatch) {
  sdk::Event e = Valid();
  e.event_type.clear();
  try {
    sdk::ValidateEvent(e, 100, "events[7]");
    FAIL() << "no ValidationError";
  } catch (const std::invalid_argument& err) {  // ValidationError is an invalid_argument
    EXPECT_STREQ(err.what(), "events[7].event_type: must not be empty");
  }
}

TEST(SdkEventId, IsACanonicalVersion7Uuid) {
  const std::string id = sdk::NewEventId();
  ASSERT_TRUE(sdk::IsCanonicalUuid(id)) << id;
  EXPECT_EQ(id.find_first_of("ABCDEF"), std::string::npos) << id;  // lower case
  EXPECT_EQ(id[14], '7') << id;                                    // version
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);  // RFC 9562 variant
  // The first 48 bits are the Unix time in milliseconds.
  const long long ms = std::stoll(id.substr(0, 8) + id.substr(9, 4), nullptr, 16);
  const long long now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  EXPECT_LE(ms, now);
  EXPECT_GT(ms, now - 5000);
}

TEST(SdkEventId, StrictlyIncreasesWithinAThread) {
  std::string last = sdk::NewEventId();
  for (int i = 0; i < 200000; ++i) {
    std::string next = sdk::NewEventId();
    ASSERT_LT(last, next) << "after " << i << " ids";
    last = std::move(next);
  }
}

TEST(SdkEventId, IsUniqueAcrossThreads) {
  constexpr int kThreads = 8, kPerThread = 50000;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&ids, t] {
      for (int i = 0; i < kPerThread; ++i) ids[t].push_back(sdk::NewEventId());
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (const auto& v : ids) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), size_t{kThreads} * kPerThread);
}

}  // namespace outbox::test
