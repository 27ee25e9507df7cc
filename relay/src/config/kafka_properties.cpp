#include "config/kafka_properties.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace outbox::relay::config_internal {
namespace {

/// A librdkafka property the relay sets itself. `allowed` lists values that merely restate the
/// relay's own setting (lower-case); anything else is an error.
struct OwnedProperty {
  const char* name;
  std::vector<std::string> allowed;
  const char* reason;
};

const std::vector<OwnedProperty>& OwnedProperties() {
  static const char* kAcks =
      "the relay requires acks=all so a row is acknowledged only once every in-sync replica has the event. "
      "Hint: remove the key";
  static const char* kReports =
      "the relay acknowledges a row only on its successful delivery report. Hint: remove the key";
  static const char* kBrokers =
      "the relay sets it from kafka.brokers. Hint: set kafka.brokers (or OUTBOX_KAFKA_BROKERS)";
  static const char* kTimeout = "the relay sets it from kafka.delivery_timeout_ms. Hint: set kafka.delivery_timeout_ms";
  static const char* kCallback = "the relay installs its own callbacks. Hint: remove the key";
  static const std::vector<OwnedProperty> kOwned = {
      {"enable.idempotence",
       {"true"},
       "the relay always uses the idempotent producer (no duplicates or reordering on retries). Hint: remove the key"},
      {"enable.gapless.guarantee",
       {"true"},
       "the relay needs it so nothing of a partition is written past a record the broker rejected (a later event "
       "of a key must not overtake a failed one). Hint: remove the key"},
      {"acks", {"all", "-1"}, kAcks},
      {"request.required.acks", {"all", "-1"}, kAcks},
      {"enable.delivery.reports", {"true"}, kReports},
      {"delivery.report.only.error", {"false"}, kReports},
      {"bootstrap.servers", {}, kBrokers},
      {"metadata.broker.list", {}, kBrokers},
      {"message.timeout.ms", {}, kTimeout},
      {"delivery.timeout.ms", {}, kTimeout},
      {"transactional.id",
       {},
       "the relay sets it from kafka.transactional_id when kafka.delivery = \"exactly_once\". Hint: set "
       "kafka.transactional_id instead"},
      {"opaque", {}, kCallback},
      {"default_topic_conf", {}, kCallback},
      {"log.queue", {}, "the relay routes librdkafka's log into its own logger. Hint: remove the key"},
  };
  return kOwned;
}

bool IsCallback(const std::string& name) { return name.size() > 3 && name.compare(name.size() - 3, 3, "_cb") == 0; }

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string PropertyPath(const TableReader& table, const std::string& name) {
  bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
  return table.path() + "." + (plain ? name : Quote(name));
}

void CheckOwned(const TableReader& table, const std::string& name, const std::string& value) {
  const std::string path = PropertyPath(table, name);
  if (IsCallback(name))
    Fail(table.origin(), path, "cannot be set: the relay installs its own callbacks. Hint: remove the key");
  for (const auto& owned : OwnedProperties()) {
    if (name != owned.name) continue;
    const auto& ok = owned.allowed;
    if (std::find(ok.begin(), ok.end(), Lower(value)) != ok.end()) return;  // redundant but harmless
    Fail(table.origin(), path, std::string("cannot be set to ") + Quote(value) + ": " + owned.reason);
  }
}

std::string ReadSecretFile(const TableReader& table, const std::string& name, const std::string& file) {
  const std::string path = PropertyPath(table, name);
  if (file.empty()) Fail(table.origin(), path, "\"file:\" needs a path, e.g. \"file:/run/secrets/kafka_password\"");
  std::string content, error;
  if (!ReadTextFile(file, content, error)) Fail(table.origin(), path, "cannot read " + Quote(file) + ": " + error);
  content = TrimTrailingNewlines(std::move(content));
  if (content.empty()) Fail(table.origin(), path, "file " + Quote(file) + " is empty");
  return content;
}

void Flatten(const TableReader& table, const toml::table& node, const std::string& prefix,
             std::map<std::string, std::string>& out) {
  for (auto&& [key, value] : node) {
    const std::string name = prefix + std::string(key.str());
    if (value.is_table()) {
      Flatten(table, *value.as_table(), name + ".", out);
      continue;
    }
    std::string text;
    if (value.is_string()) {
      text = value.as_string()->get();
    } else if (value.is_integer()) {
      text = std::to_string(value.as_integer()->get());
    } else if (value.is_boolean()) {
      text = value.as_boolean()->get() ? "true" : "false";
    } else {
      Fail(table.origin(), PropertyPath(table, name),
           "expected a string, integer or boolean, got " + TypeName(value) +
               (value.is_floating_point() ? " (write it as a string, e.g. \"0.5\")" : ""));
    }
    if (out.count(name) != 0) {
      Fail(table.origin(), PropertyPath(table, name), "is set twice (once as a dotted key, once as a quoted key)");
    }
    CheckOwned(table, name, text);
    if (IsFileSecretProperty(name) && text.compare(0, 5, "file:") == 0)
      text = ReadSecretFile(table, name, text.substr(5));
    out[name] = std::move(text);
  }
}

}  // namespace

bool IsFileSecretProperty(const std::string& name) {
  return name == "sasl.password" || name == "ssl.key.password" || name == "ssl.keystore.password" ||
         name == "sasl.oauthbearer.client.secret";
}

std::map<std::string, std::string> ReadKafkaProperties(const TableReader& table) {
  std::map<std::string, std::string> out;
  if (table.table() != nullptr) Flatten(table, *table.table(), "", out);
  return out;
}

}  // namespace outbox::relay::config_internal
