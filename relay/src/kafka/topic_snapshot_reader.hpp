#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace outbox::relay {

struct KafkaConfig;

/// A record as TopicSnapshotReader reads it: position, key, the requested headers, timestamp.
struct SnapshotRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::vector<std::pair<std::string, std::string>> headers;  ///< only the names asked for, last value each
  int64_t timestamp_ms = -1;
  std::string value;  ///< only when the reader keeps values
};

/// Reads whole topics up to the high watermarks taken at one moment, as a fresh
/// consumer group (random id, read_committed, no offset commits). Partitions are
/// assigned explicitly, so there is no rebalance to wait for. Used by `check`.
class TopicSnapshotReader {
 public:
  /// `header_names`: the headers to keep; other headers are dropped, and the
  /// values too unless `keep_values`.
  TopicSnapshotReader(const KafkaConfig& config, std::vector<std::string> header_names, bool keep_values = false);
  ~TopicSnapshotReader();
  TopicSnapshotReader(const TopicSnapshotReader&) = delete;
  TopicSnapshotReader& operator=(const TopicSnapshotReader&) = delete;

  /// Takes every partition's low and high watermark (read_committed: the last stable
  /// offset) of `topics`. Topics that do not exist have no partitions. Throws on failure.
  void TakeWatermarks(const std::vector<std::string>& topics, std::chrono::steady_clock::time_point deadline);

  struct Result {
    std::vector<SnapshotRecord> records;
    bool complete = false;          ///< every partition was read up to its high watermark
    std::string incomplete_reason;  ///< when !complete
    size_t partitions = 0;
    size_t truncated_partitions = 0;  ///< partitions whose low watermark is above 0 (retention deleted records)
    size_t scanned = 0;               ///< records read, kept or not
  };
  /// Reads every partition from its low to its high watermark, or until `deadline`.
  Result Read(std::chrono::steady_clock::time_point deadline);

  /// Offsets [from, to) of one partition.
  struct Range {
    std::string topic;
    int32_t partition = 0;
    int64_t from = 0, to = 0;
  };
  /// Every partition's watermarks, as TakeWatermarks took them: [low, high).
  std::vector<Range> Partitions() const;
  /// Reads `ranges` (within the watermarks) and hands each record to
  /// `on_record` instead of keeping it; with `only_key`, only the records of
  /// that key are converted and handed on. Result.records stays empty.
  Result Scan(const std::vector<Range>& ranges, std::chrono::steady_clock::time_point deadline,
              const std::function<void(SnapshotRecord&&)>& on_record, const std::string* only_key = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace outbox::relay
