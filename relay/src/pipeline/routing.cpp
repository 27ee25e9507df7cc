#include "pipeline/routing.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"

namespace outbox::relay {
namespace {
constexpr const char kPlaceholder[] = "${aggregate_type}";

// SAX handler for the usual headers column: one JSON object whose values are
// all strings. Anything else stops the parse (the caller then builds the DOM).
struct StringObjectSax : nlohmann::json_sax<nlohmann::json> {
  explicit StringObjectSax(std::vector<std::pair<std::string, std::string>>& out) : out(out) {}
  bool null() override { return false; }
  bool boolean(bool) override { return false; }
  bool number_integer(number_integer_t) override { return false; }
  bool number_unsigned(number_unsigned_t) override { return false; }
  bool number_float(number_float_t, const string_t&) override { return false; }
  bool binary(binary_t&) override { return false; }
  bool start_array(std::size_t) override { return false; }
  bool end_array() override { return false; }
  bool start_object(std::size_t) override { return depth++ == 0; }
  bool end_object() override { return --depth == 0; }
  bool key(string_t& k) override {
    name = std::move(k);
    return true;
  }
  bool string(string_t& v) override {
    if (depth != 1) return false;
    out.emplace_back(std::move(name), std::move(v));
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

  std::vector<std::pair<std::string, std::string>>& out;
  std::string name;
  int depth = 0;
};

// Parses `json` into `out` when it is an object of strings, without building
// a DOM. Same result as the DOM's items(): names in byte order, the last of
// duplicate names wins.
bool FlatStringObject(const std::string& json, std::vector<std::pair<std::string, std::string>>& out) {
  StringObjectSax sax(out);
  if (!nlohmann::json::sax_parse(json, &sax) || sax.depth != 0) return false;
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  size_t kept = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (i + 1 < out.size() && out[i + 1].first == out[i].first) continue;  // a later duplicate wins
    if (kept != i) out[kept] = std::move(out[i]);
    ++kept;
  }
  out.resize(kept);
  return true;
}

}  // namespace

Router::Router(std::string topic_template) {
  const auto pos = topic_template.find(kPlaceholder);
  has_placeholder_ = pos != std::string::npos;
  prefix_ = has_placeholder_ ? topic_template.substr(0, pos) : topic_template;
  suffix_ = has_placeholder_ ? topic_template.substr(pos + sizeof kPlaceholder - 1) : "";
}

Router::Router(const Config& config) : Router(config.kafka.topic_template) {
  if (config.kafka.headers_format == HeadersFormat::kCloudEvents) {
    cloudevents_.emplace(config.kafka.cloudevents_source, config.kafka.cloudevents_content_type);
  }
}

std::string Router::TopicFor(const OutboxRow& row) const {
  if (row.topic && !row.topic->empty()) return *row.topic;
  return has_placeholder_ ? prefix_ + row.aggregate_type + suffix_ : prefix_;
}

bool Router::Reserved(const std::string& name) {
  return name == "event_id" || name == "event_type" || name == "aggregate_type" || name == "aggregate_id" ||
         name == "created_at";
}

KafkaRecord Router::Route(const OutboxRow& row, std::vector<std::string>* dropped) const {
  if (row.id.empty()) throw std::invalid_argument("the row has no event id (outbox.columns.id is NULL)");
  if (row.aggregate_type.empty()) {
    throw std::invalid_argument("the row has no aggregate type (outbox.columns.aggregate_type is NULL or empty)");
  }
  if (row.aggregate_id.empty()) {
    throw std::invalid_argument("the row has no key (outbox.columns.aggregate_id is NULL or empty)");
  }
  KafkaRecord rec;
  rec.topic = TopicFor(row);
  rec.key = row.aggregate_id;
  rec.value = row.payload;
  rec.headers.reserve(cloudevents_ ? 16 : 8);
  rec.headers.emplace_back("event_id", row.id);
  if (!row.event_type.empty()) rec.headers.emplace_back("event_type", row.event_type);
  rec.headers.emplace_back("aggregate_type", row.aggregate_type);
  rec.headers.emplace_back("aggregate_id", row.aggregate_id);
  if (!row.created_at.empty()) rec.headers.emplace_back("created_at", row.created_at);
  const size_t first_row_header = rec.headers.size();
  if (!row.headers_json.empty() && row.headers_json != "{}") {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!FlatStringObject(row.headers_json, headers)) {
      // Not an object of strings: values that are not strings go out as their JSON text.
      headers.clear();
      nlohmann::json h = nlohmann::json::parse(row.headers_json, nullptr, /*allow_exceptions=*/false);
      if (!h.is_object()) throw std::invalid_argument("headers column is not a JSON object");
      for (const auto& [name, value] : h.items()) {
        headers.emplace_back(name, value.is_string() ? value.get<std::string>() : value.dump());
      }
    }
    for (auto& [name, value] : headers) {
      // The dedup key and the event's identity belong to the relay: a row
      // cannot add a second event_id for consumers to read instead.
      if (Reserved(name)) {
        if (dropped != nullptr) dropped->push_back(name);
        continue;
      }
      rec.headers.emplace_back(std::move(name), std::move(value));
    }
  }
  if (cloudevents_) cloudevents_->Apply(row, first_row_header, rec);
  return rec;
}

}  // namespace outbox::relay
