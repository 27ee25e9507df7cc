// KeyHolds: the poison policy, pure.
#include <gtest/gtest.h>

#include "pipeline/key_holds.hpp"

namespace outbox::relay {
namespace {

const std::string kA = KeyHolds::Key("order", "A");
const std::string kB = KeyHolds::Key("order", "B");

TEST(KeyHolds, TheFirstRejectionHoldsTheKeyAndOnlyTheHeadIsSentAgain) {
  KeyHolds h(3, true);
  EXPECT_TRUE(h.Admit(kA, "a1"));
  EXPECT_TRUE(h.Admit(kA, "a2"));
  const auto r = h.Rejected(kA, "a2", 0);
  EXPECT_EQ(r.attempts, 1u);
  EXPECT_FALSE(r.dead_letter);
  EXPECT_FALSE(h.Admit(kA, "a3")) << "read after the head in this pass: waits";
  EXPECT_TRUE(h.Admit(kB, "b1")) << "other keys flow";
  EXPECT_EQ(h.held_keys(), 1u);
}

TEST(KeyHolds, AResyncDoesNotForgetAKeyBeingRetried) {
  KeyHolds h(3, true);
  h.Admit(kA, "a2");
  h.Rejected(kA, "a2", 0);
  h.SetDeadLettered({});  // the resync reloads the dead-letter table: still empty
  h.NewPass();
  EXPECT_TRUE(h.Admit(kA, "a1")) << "read before the head in the new pass: earlier in commit order";
  EXPECT_TRUE(h.Admit(kA, "a2")) << "the head is retried";
  EXPECT_FALSE(h.Admit(kA, "a3")) << "what follows the head still waits";
  EXPECT_TRUE(h.retrying(kA));
}

TEST(KeyHolds, TheHeadsSuccessReleasesTheKey) {
  KeyHolds h(3, true);
  h.Admit(kA, "a2");
  h.Rejected(kA, "a2", 0);
  EXPECT_FALSE(h.Delivered(kA, "a1")) << "not the head";
  EXPECT_TRUE(h.Delivered(kA, "a2")) << "released: what waited is read again";
  h.NewPass();
  EXPECT_TRUE(h.Admit(kA, "a3"));
  EXPECT_EQ(h.held_keys(), 0u);
}

TEST(KeyHolds, OutOfAttemptsMeansDeadLetterAndTheKeyStaysHeld) {
  KeyHolds h(2, true);
  h.Admit(kA, "a2");
  EXPECT_FALSE(h.Rejected(kA, "a2", 0).dead_letter);
  h.NewPass();
  h.Admit(kA, "a2");
  const auto r = h.Rejected(kA, "a2", 0);
  EXPECT_TRUE(r.dead_letter);
  EXPECT_EQ(r.attempts, 2u);
  h.DeadLettered(kA, "a2");
  h.NewPass();
  EXPECT_FALSE(h.Admit(kA, "a3"));
  h.SetDeadLettered({});  // the operator requeued or skipped it
  EXPECT_TRUE(h.Admit(kA, "a3"));
}

TEST(KeyHolds, AttemptsRecordedByEarlierRelaysCount) {
  KeyHolds h(3, true);
  const auto r = h.Rejected(kA, "a2", 2);
  EXPECT_EQ(r.attempts, 3u);
  EXPECT_TRUE(r.dead_letter) << "a takeover does not grant max_attempts more tries";
}

TEST(KeyHolds, AnEarlierEventRejectedInANewPassBecomesTheHead) {
  KeyHolds h(5, true);
  h.Admit(kA, "a3");
  h.Rejected(kA, "a3", 0);
  h.NewPass();
  ASSERT_TRUE(h.Admit(kA, "a2"));
  h.Rejected(kA, "a2", 0);
  EXPECT_FALSE(h.Admit(kA, "a3")) << "a3 now waits behind a2";
  EXPECT_TRUE(h.Delivered(kA, "a2"));
}

TEST(KeyHolds, WithoutHoldKeyNothingWaitsButAttemptsStillCount) {
  KeyHolds h(2, false);
  h.Rejected(kA, "a2", 0);
  EXPECT_TRUE(h.Admit(kA, "a3"));
  EXPECT_TRUE(h.Rejected(kA, "a2", 0).dead_letter);
  h.DeadLettered(kA, "a2");
  h.SetDeadLettered({kA});
  EXPECT_TRUE(h.Admit(kA, "a4"));
  EXPECT_EQ(h.held_keys(), 0u);
}

}  // namespace
}  // namespace outbox::relay
