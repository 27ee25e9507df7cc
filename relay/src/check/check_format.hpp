#pragma once

#include <string>
#include <vector>

#include "check/check_report.hpp"

namespace outbox::relay {

/// "check: committed=... throughput=2450/s foreign=0 outside_window=0": every figure, one line.
std::string CheckSummaryLine(const CheckReport& report);

/// Up to CheckReport::kMaxExamples lines per problem kind ("check: lost event ID aggregate
/// order/o-1: ..."), then the reason when the check could not complete, then the note.
std::vector<std::string> CheckDetailLines(const CheckReport& report);

/// The same figures as one JSON object (docs/checker.md shows the fields).
std::string CheckReportJson(const CheckReport& report);

}  // namespace outbox::relay
