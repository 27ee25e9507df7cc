// kafka.headers_format = "cloudevents": the configuration keys and their
// errors, and the exact headers Router gives a record (CloudEvents 1.0 Kafka
// binding, binary mode) next to the native ones; rows' own headers that set an
// attribute, and rows that cannot be CloudEvents.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "pipeline/cloudevents.hpp"
#include "pipeline/routing.hpp"

namespace outbox::relay {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

const std::string kBase = "[postgres]\ndsn = \"postgresql://relay@db/app\"\n[kafka]\nbrokers = \"k:9092\"\n";

std::string ErrorOf(const std::string& toml) {
  try {
    ParseConfig(toml, "relay.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

Config CloudEventsConfig(const std::string& extra_kafka = "", const std::string& extra = "") {
  return ParseConfig(kBase + "headers_format = \"cloudevents\"\n" + extra_kafka + extra, "relay.toml");
}

OutboxRow Row() {
  OutboxRow r;
  r.seq = 7;
  r.id = "0190c3a4-5f2b-7c3d-8e4f-0123456789ab";
  r.aggregate_type = "order";
  r.aggregate_id = "o-1001";
  r.event_type = "OrderCreated";
  r.payload = std::string(R"({"total_cents":2500})");
  r.created_at = "2026-11-23T09:15:02.123456Z";
  r.headers_json = R"({"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})";
  return r;
}

const Headers kNative = {{"event_id", "0190c3a4-5f2b-7c3d-8e4f-0123456789ab"},
                         {"event_type", "OrderCreated"},
                         {"aggregate_type", "order"},
                         {"aggregate_id", "o-1001"},
                         {"created_at", "2026-11-23T09:15:02.123456Z"}};
const std::pair<std::string, std::string> kTrace = {"traceparent",
                                                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"};

TEST(CloudEventsConfig, DefaultsAndKeys) {
  const Config native = ParseConfig(kBase, "relay.toml");
  EXPECT_EQ(native.kafka.headers_format, HeadersFormat::kNative);
  EXPECT_EQ(native.kafka.cloudevents_source, "");

  Config c = CloudEventsConfig("", "[outbox]\nschema = \"billing\"\ntable = \"events\"\n");
  EXPECT_EQ(c.kafka.headers_format, HeadersFormat::kCloudEvents);
  EXPECT_EQ(c.kafka.cloudevents_source, "/outbox-relay/billing.events") << "default: the relay and its table";
  EXPECT_EQ(c.kafka.cloudevents_content_type, "application/json");

  c = CloudEventsConfig("cloudevents_source = \"urn:example:orders\"\ncloudevents_content_type = \"\"\n");
  EXPECT_EQ(c.kafka.cloudevents_source, "urn:example:orders");
  EXPECT_EQ(c.kafka.cloudevents_content_type, "") << "no content-type header";
  c = CloudEventsConfig("cloudevents_content_type = \"application/avro; charset=binary\"\n");
  EXPECT_EQ(c.kafka.cloudevents_content_type, "application/avro; charset=binary");
}

TEST(CloudEventsConfig, ErrorsNameTheKey) {
  EXPECT_EQ(ErrorOf(kBase + "headers_format = \"ce\"\n"),
            "relay.toml: kafka.headers_format: must be one of \"native\", \"cloudevents\", got \"ce\"");
  EXPECT_EQ(ErrorOf(kBase + "cloudevents_source = \"/x\"\n"),
            "relay.toml: kafka.cloudevents_source: has no effect unless kafka.headers_format = \"cloudevents\"");
  EXPECT_EQ(ErrorOf(kBase + "cloudevents_content_type = \"text/plain\"\n"),
            "relay.toml: kafka.cloudevents_content_type: has no effect unless kafka.headers_format = \"cloudevents\"");
  const std::string ce = kBase + "headers_format = \"cloudevents\"\n";
  EXPECT_EQ(ErrorOf(ce + "cloudevents_source = \"\"\n"),
            "relay.toml: kafka.cloudevents_source: must not be empty; leave it out for the default "
            "\"/outbox-relay/<schema>.<table>\"");
  EXPECT_EQ(ErrorOf(ce + "cloudevents_source = \"/my source\"\n"),
            "relay.toml: kafka.cloudevents_source: must be a URI-reference without spaces or control characters "
            "(printable ASCII; percent-encode the rest), e.g. \"/outbox-relay/orders\" or \"urn:example:orders\"; "
            "character 4 is not");
  EXPECT_EQ(ErrorOf(ce + "cloudevents_content_type = \"json\"\n"),
            "relay.toml: kafka.cloudevents_content_type: must be type/subtype; expected a media type such as "
            "\"application/json\", got \"json\"");
  EXPECT_EQ(ErrorOf(ce + "cloudevents_content_type = \"application/json charset\"\n"),
            "relay.toml: kafka.cloudevents_content_type: parameters must follow \";\"; expected a media type such "
            "as \"application/json\", got \"application/json charset\"");
  EXPECT_EQ(ErrorOf(ce + "[outbox.columns]\nevent_type = \"\"\n"),
            "relay.toml: kafka.headers_format: \"cloudevents\" needs an event type column for ce_type, but "
            "outbox.columns.event_type is \"\"; map it or use \"native\"");
}

TEST(CloudEventsHeaders, NativeRouterIsUnchanged) {
  const Config c = ParseConfig(kBase, "relay.toml");
  Headers expected = kNative;
  expected.push_back(kTrace);
  EXPECT_EQ(Router(c).Route(Row()).headers, expected);
  EXPECT_EQ(Router(c.kafka.topic_template).Route(Row()).headers, expected);
}

TEST(CloudEventsHeaders, AttributesFollowTheNativeHeaders) {
  const KafkaRecord rec = Router(CloudEventsConfig()).Route(Row());
  Headers expected = kNative;
  expected.insert(expected.end(), {{"ce_specversion", "1.0"},
                                   {"ce_id", "0190c3a4-5f2b-7c3d-8e4f-0123456789ab"},
                                   {"ce_source", "/outbox-relay/outbox.outbox"},
                                   {"ce_type", "OrderCreated"},
                                   {"ce_subject", "o-1001"},
                                   {"ce_time", "2026-11-23T09:15:02.123456Z"},
                                   {"content-type", "application/json"},
                                   kTrace});
  EXPECT_EQ(rec.headers, expected);
  EXPECT_EQ(rec.topic, "outbox.event.order");
  EXPECT_EQ(rec.key, "o-1001");
  EXPECT_EQ(rec.value, std::optional<std::string>(R"({"total_cents":2500})")) << "binary mode: the value as is";
}

TEST(CloudEventsHeaders, RowHeadersSetTheirEventsAttributes) {
  OutboxRow r = Row();
  r.headers_json =
      R"({"ce_type":"com.example.order.created","content-type":"application/avro","ce_id":"0190c3a4-5f2b-7c3d-8e4f-0123456789ab","ce_dataschema":"urn:s"})";
  const KafkaRecord rec = Router(CloudEventsConfig()).Route(r);
  Headers expected = kNative;
  // The relay's attributes the row does not set, then the row's headers (jsonb key order) as written.
  expected.insert(expected.end(), {{"ce_specversion", "1.0"},
                                   {"ce_source", "/outbox-relay/outbox.outbox"},
                                   {"ce_subject", "o-1001"},
                                   {"ce_time", "2026-11-23T09:15:02.123456Z"}});
  // nlohmann::json iterates object keys sorted.
  expected.insert(expected.end(), {{"ce_dataschema", "urn:s"},
                                   {"ce_id", "0190c3a4-5f2b-7c3d-8e4f-0123456789ab"},
                                   {"ce_type", "com.example.order.created"},
                                   {"content-type", "application/avro"}});
  EXPECT_EQ(rec.headers, expected);
}

TEST(CloudEventsHeaders, OptionalAttributesAreLeftOut) {
  OutboxRow r = Row();
  r.headers_json = "";
  r.created_at = "infinity";  // as tail mode passes on a value that is no timestamp
  const KafkaRecord rec = Router(CloudEventsConfig("cloudevents_content_type = \"\"\n")).Route(r);
  for (const auto& [name, value] : rec.headers) {
    EXPECT_NE(name, "ce_time") << "not RFC 3339";
    EXPECT_NE(name, "content-type") << "cloudevents_content_type = \"\"";
  }
  EXPECT_EQ(rec.headers.size(), kNative.size() + 5);
}

TEST(CloudEventsHeaders, RowsThatCannotBeCloudEventsAreBadRows) {
  const Router router(CloudEventsConfig());
  auto error_of = [&](OutboxRow r) -> std::string {
    try {
      router.Route(r);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  };
  OutboxRow r = Row();
  r.headers_json = R"({"ce_id":"another"})";
  EXPECT_EQ(error_of(r),
            "cloudevents: the row's header 'ce_id' is \"another\", but the relay sets it to "
            "\"0190c3a4-5f2b-7c3d-8e4f-0123456789ab\"");
  r.headers_json = R"({"ce_specversion":"0.3"})";
  EXPECT_EQ(error_of(r), "cloudevents: the row's header 'ce_specversion' is \"0.3\", but the relay sets it to \"1.0\"");
  r.headers_json = R"({"ce_source":""})";
  EXPECT_EQ(error_of(r), "cloudevents: the row's header 'ce_source' is \"\", not a valid value for that attribute");
  r.headers_json = R"({"ce_time":"yesterday"})";
  EXPECT_EQ(error_of(r),
            "cloudevents: the row's header 'ce_time' is \"yesterday\", not a valid value for that attribute");
  r = Row();
  r.event_type = "";
  EXPECT_EQ(error_of(r), "cloudevents: the event has no event type (ce_type is required)");
  r = Row();
  r.headers_json = "[1]";
  EXPECT_EQ(error_of(r), "headers column is not a JSON object") << "as in native mode";
}

TEST(CloudEventsHeaders, Rfc3339) {
  for (const char* ok : {"2026-11-23T09:15:02Z", "2026-11-23T09:15:02.123456Z", "2026-11-23T09:15:02.1+02:00",
                         "2026-11-23T09:15:02-05:30", "2026-11-23T09:15:02z"}) {
    EXPECT_TRUE(IsRfc3339(ok)) << ok;
  }
  for (const char* bad :
       {"", "infinity", "-infinity", "2026-11-23 09:15:02Z", "2026-11-23T09:15:02", "2026-11-23T09:15:02.Z",
        "2026-11-23T09:15:02+0200", "26-11-23T09:15:02Z", "2026-11-23T09:15:02Zjunk"}) {
    EXPECT_FALSE(IsRfc3339(bad)) << bad;
  }
}

}  // namespace
}  // namespace outbox::relay
