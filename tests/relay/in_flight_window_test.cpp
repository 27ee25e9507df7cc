// InFlightWindow: tokens in read order, the bound, release and resync drops.
#include <gtest/gtest.h>

#include "pipeline/in_flight_window.hpp"

namespace outbox::relay {
namespace {

OutboxRow Row(int64_t seq) {
  OutboxRow r;
  r.seq = seq;
  r.payload = "payload";
  return r;
}

TEST(InFlightWindow, TokensFollowReadOrderAndReportsFindTheirEvent) {
  InFlightWindow w(10);
  const DeliveryToken a = w.Add(Row(7)), b = w.Add(Row(3));
  EXPECT_LT(a, b);
  ASSERT_NE(w.Find(b), nullptr);
  EXPECT_EQ(w.Find(b)->row.seq, 3);
  EXPECT_EQ(w.Find(DeliveryToken{b.value + 1}), nullptr) << "a token never handed out";
  EXPECT_EQ(w.NextQueued()->token, a) << "sent in read order";
}

TEST(InFlightWindow, NeverHoldsMoreThanItsCapacity) {
  InFlightWindow w(3);
  for (int i = 0; i < 3; ++i) w.Add(Row(i + 1));
  EXPECT_EQ(w.room(), 0u);
  EXPECT_THROW(w.Add(Row(9)), std::logic_error);
  w.MarkSent(*w.NextQueued());
  w.MarkDelivered(*w.Find(DeliveryToken{1}));
  EXPECT_EQ(w.room(), 0u) << "a delivered event still counts until it is released (acknowledged)";
  w.Release(*w.Find(DeliveryToken{1}));
  EXPECT_EQ(w.room(), 1u);
  EXPECT_EQ(w.size(), 2u);
}

// A sent row's body is dropped (its row has it); a WAL-message event's body
// exists nowhere else and is kept: a rejected one is written into the table.
// It used to be dropped, and the table got the event without its payload.
TEST(InFlightWindow, ASentWalMessageKeepsItsBody) {
  InFlightWindow w(4);
  OutboxRow message = Row(0);
  message.in_table = false;
  message.topic = "t";
  message.headers_json = R"({"h":"v"})";
  w.Add(Row(1));
  w.Add(message);
  w.MarkSent(*w.NextQueued());
  w.MarkSent(*w.NextQueued());
  EXPECT_FALSE(w.Find(DeliveryToken{1})->row.payload.has_value()) << "a row's body is dropped once sent";
  const OutboxRow& kept = w.Find(DeliveryToken{2})->row;
  EXPECT_EQ(kept.payload, std::optional<std::string>("payload"));
  EXPECT_EQ(kept.topic, std::optional<std::string>("t"));
  EXPECT_EQ(kept.headers_json, R"({"h":"v"})");
}

TEST(InFlightWindow, AStuckEventBoundsTheSpanBehindIt) {
  InFlightWindow w(4);
  w.Add(Row(1));
  w.MarkSent(*w.NextQueued());  // token 1 never gets a report
  for (int round = 0; round < 100 && w.room() > 0; ++round) {
    const DeliveryToken t = w.Add(Row(round + 2));
    w.MarkSent(*w.NextQueued());
    w.Release(*w.Find(t));
  }
  EXPECT_EQ(w.room(), 0u) << "released events behind a stuck one still take memory: the span is bounded";
  EXPECT_EQ(w.size(), 1u);
  w.Release(*w.Find(DeliveryToken{1}));
  EXPECT_EQ(w.room(), 4u);
}

TEST(InFlightWindow, ReleasedEventsAreGoneAndDropQueuedKeepsWhatWasHandedOver) {
  InFlightWindow w(10);
  for (int i = 1; i <= 5; ++i) w.Add(Row(i));
  w.MarkSent(*w.NextQueued());
  w.MarkSent(*w.NextQueued());
  EXPECT_EQ(w.queued(), 3u);
  EXPECT_EQ(w.sent(), 2u);
  EXPECT_EQ(w.DropQueued(), 3u);
  EXPECT_EQ(w.size(), 2u);
  EXPECT_EQ(w.NextQueued(), nullptr);
  w.Release(*w.Find(DeliveryToken{2}));
  EXPECT_EQ(w.Find(DeliveryToken{2}), nullptr);
  EXPECT_NE(w.Find(DeliveryToken{1}), nullptr);
  const DeliveryToken next = w.Add(Row(6));
  EXPECT_EQ(next.value, 3u) << "a dropped token was never handed to the producer; it is reused";
}

TEST(InFlightWindow, SendingDropsThePayloadAndKeepsWhatReportsNeed) {
  InFlightWindow w(2);
  OutboxRow r = Row(5);
  r.aggregate_id = "K";
  r.headers_json = R"({"a":"b"})";
  w.Add(r);
  InFlightWindow::Entry& e = *w.NextQueued();
  w.MarkSent(e);
  EXPECT_FALSE(e.row.payload.has_value());
  EXPECT_TRUE(e.row.headers_json.empty());
  EXPECT_EQ(e.row.aggregate_id, "K");
  EXPECT_EQ(e.row.seq, 5);
}

TEST(InFlightWindow, OutOfOrderTransitionsAreRefused) {
  InFlightWindow w(4);
  w.Add(Row(1));
  w.Add(Row(2));
  EXPECT_THROW(w.MarkSent(*w.Find(DeliveryToken{2})), std::logic_error);
  EXPECT_THROW(w.MarkDelivered(*w.Find(DeliveryToken{1})), std::logic_error);
  EXPECT_THROW(w.Release(*w.Find(DeliveryToken{2})), std::logic_error);
}

}  // namespace
}  // namespace outbox::relay
