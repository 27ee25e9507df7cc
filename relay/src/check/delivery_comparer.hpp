#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "check/check_report.hpp"

namespace outbox::relay {

/// The pure part of `outbox-relay check`: compares committed events (outbox and
/// dead-letter rows) with the records read from Kafka, by the event_id header.
/// No I/O; docs/checker.md defines each figure it computes.
class DeliveryComparer {
 public:
  explicit DeliveryComparer(CheckWindow window);

  /// An outbox row. Rows created before the window's `since` are ignored.
  void AddRow(CheckRow row);
  /// A row of <schema>.dead_letter: committed, not published, never lost.
  void AddDeadLetter(CheckRow row);

  /// Compares with `records` (any order: they are sorted by topic, partition, offset).
  CheckReport Compare(std::vector<CheckRecord> records) const;

 private:
  struct Known {
    CheckRow row;
    bool dead_lettered = false;
  };
  bool InWindow(const CheckRow& row) const;

  CheckWindow window_;
  std::unordered_map<std::string, Known> rows_;  // event id -> row
};

}  // namespace outbox::relay
