// JSON string escaping and Postgres array literals (the batch's wire format).
#include <gtest/gtest.h>

#include "sql_encoding.hpp"

namespace outbox::test {
namespace {

std::string Json(const std::string& s) {
  std::string out;
  sdk::detail::AppendJsonString(out, s);
  return out;
}

}  // namespace

TEST(SdkEncoding, JsonEscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(Json(""), R"("")");
  EXPECT_EQ(Json("plain text"), R"("plain text")");
  EXPECT_EQ(Json(R"(say "hi" \o/)"), R"("say \"hi\" \\o/")");
  EXPECT_EQ(Json("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(Json(std::string("\x01\x1f\x7f", 3)), "\"\\u0001\\u001f\x7f\"");
  EXPECT_EQ(Json("ünïcödé €"), "\"ünïcödé €\"");  // UTF-8 passes through
  EXPECT_EQ(Json("</script>"), R"("</script>")");
}

TEST(SdkEncoding, HeadersBecomeOneJsonObject) {
  EXPECT_EQ(sdk::detail::HeadersJson({}), "{}");
  EXPECT_EQ(sdk::detail::HeadersJson({{"b", "2"}, {"a\"", "x\ny"}}), R"({"a\"":"x\ny","b":"2"})");
}

TEST(SdkEncoding, ArrayLiteralQuotesEveryElement) {
  sdk::detail::ArrayLiteral a;
  EXPECT_EQ(a.Finish(), "{}");
  a.Add("plain");
  a.Add("NULL");  // the string, not SQL NULL: quoted
  a.Add(R"(a,b{c}"d"\e)");
  a.Add("");
  a.AddNull();
  EXPECT_EQ(a.Finish(), R"({"plain","NULL","a,b{c}\"d\"\\e","",NULL})");
  a.Add("again");
  EXPECT_EQ(a.Finish(), R"({"again"})");  // Finish leaves the builder empty
}

TEST(SdkEncoding, ArrayLiteralWritesByteaInHex) {
  sdk::detail::ArrayLiteral a;
  a.AddBytea(std::string("\0\x01\x7f\x80\xff", 5));
  a.AddBytea("");
  EXPECT_EQ(a.Finish(), R"({"\\x00017f80ff","\\x"})");
}

}  // namespace outbox::test
