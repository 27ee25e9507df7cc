#pragma once

#include <stdexcept>
#include <string>

namespace outbox::sdk {

/// Thrown for a schema, table or column name that is not a plain lower-case
/// SQL identifier ([a-z_][a-z0-9_]*, at most 48 characters).
class InvalidIdentifier : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Checks `name` and returns it double-quoted, ready to splice into SQL.
/// `what` names the setting in the error message.
std::string QuoteIdentifier(const std::string& name, const std::string& what = "identifier");

/// The NOTIFY channel the outbox trigger of `schema` signals on each insert.
std::string NotifyChannel(const std::string& schema);

}  // namespace outbox::sdk
