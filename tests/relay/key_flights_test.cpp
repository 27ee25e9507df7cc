// KeyFlights: per-key order across topics, and one event per key in flight
// until the current producer has delivered one of that key.
#include <gtest/gtest.h>

#include "pipeline/key_flights.hpp"

namespace outbox::relay {
namespace {

const uint64_t kKey = KeyFlights::KeyHash("order", "K");
const uint64_t kOther = KeyFlights::KeyHash("order", "L");
const uint64_t kTopic = KeyFlights::TopicHash("orders"), kTopic2 = KeyFlights::TopicHash("audit");

TEST(KeyFlights, AKeyWaitsForItsEventsOnAnotherTopic) {
  KeyFlights f;
  f.Sent(kKey, kTopic);
  f.Reported(kKey);
  f.Delivered(kKey);
  f.Sent(kKey, kTopic);
  EXPECT_TRUE(f.CanSend(kKey, kTopic));
  EXPECT_FALSE(f.CanSend(kKey, kTopic2));
  EXPECT_TRUE(f.CanSend(kOther, kTopic2));
  f.Reported(kKey);
  EXPECT_TRUE(f.CanSend(kKey, kTopic2));
}

TEST(KeyFlights, OneEventPerKeyInFlightUntilTheProducerDeliveredOne) {
  KeyFlights f;
  EXPECT_TRUE(f.CanSend(kKey, kTopic));
  f.Sent(kKey, kTopic);
  EXPECT_FALSE(f.CanSend(kKey, kTopic))
      << "a fresh producer's first batch may be rejected while a later one is written";
  EXPECT_TRUE(f.CanSend(kOther, kTopic)) << "other keys are not held back";
  f.Reported(kKey);
  f.Delivered(kKey);
  f.Sent(kKey, kTopic);
  EXPECT_TRUE(f.CanSend(kKey, kTopic)) << "the partition knows the producer now";
  f.NewProducer();
  EXPECT_FALSE(f.CanSend(kKey, kTopic)) << "a new producer id starts over";
}

TEST(KeyFlights, AFailedReportDoesNotCountAsDelivered) {
  KeyFlights f;
  f.Sent(kKey, kTopic);
  f.Reported(kKey);  // rejected: no Delivered()
  f.Sent(kKey, kTopic);
  EXPECT_FALSE(f.CanSend(kKey, kTopic));
}

// Exactly once: a rejected record aborts its transaction, and every record
// behind it with it, so a key's events go out together from the start (only
// one per key per transaction, with reports coming at the commit, kept the
// relay at one commit per event of a new key). A topic change still waits.
TEST(KeyFlights, TransactionsNeedNoFirstDeliveryOfAKey) {
  KeyFlights f(/*transactional=*/true);
  f.Sent(kKey, kTopic);
  EXPECT_TRUE(f.CanSend(kKey, kTopic)) << "nothing delivered yet, and none needed";
  f.Sent(kKey, kTopic);
  f.NewProducer();
  EXPECT_TRUE(f.CanSend(kKey, kTopic));
  EXPECT_FALSE(f.CanSend(kKey, kTopic2)) << "order across topics still holds";
  f.Reported(kKey);
  f.Reported(kKey);
  EXPECT_TRUE(f.CanSend(kKey, kTopic2));
}

}  // namespace
}  // namespace outbox::relay
