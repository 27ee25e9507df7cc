// Log lines stay one line each, also in JSON format.
#include "log/logging.hpp"

#include <gtest/gtest.h>

namespace outbox::relay {

TEST(Logging, OneLineFoldsLibpqMultiLineMessages) {
  EXPECT_EQ(OneLine("connection refused\n\tIs the server running?\n"), "connection refused Is the server running?");
  EXPECT_EQ(OneLine("plain"), "plain");
  EXPECT_EQ(OneLine("\n"), "");
}

TEST(Logging, JsonEscapeProducesAValidStringBody) {
  EXPECT_EQ(JsonEscape("a\"b\\c\nd\x01"), "a\\\"b\\\\c\\nd\\u0001");
  EXPECT_EQ(JsonEscape("ünïcode"), "ünïcode");
}

}  // namespace outbox::relay
