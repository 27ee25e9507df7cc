// schema/README.md, "Existing Debezium-style table": the documented steps, read
// from the document itself (not copied by hand), run against the real servers
// and the real executable. Only names change: the doc's schemas public and
// outbox become this test's own, so tests can run side by side.
#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "config/config.hpp"
#include "relay_harness.hpp"

namespace outbox::test {
namespace {

struct DocBlock {
  std::string language;
  std::string text;
};

/// The fenced blocks of the section `heading` of schema/README.md, in order.
std::vector<DocBlock> SectionBlocks(const std::string& heading) {
  std::ifstream in(std::string(std::getenv("OUTBOX_ROOT")) + "/schema/README.md");
  std::vector<DocBlock> blocks;
  bool in_section = false, in_block = false;
  size_t indent = 0;
  for (std::string line; std::getline(in, line);) {
    if (!in_block && line.rfind("## ", 0) == 0) {
      in_section = line == "## " + heading;
      continue;
    }
    if (!in_section) continue;
    const size_t start = line.find_first_not_of(' ');
    const std::string trimmed = start == std::string::npos ? "" : line.substr(start);
    if (!in_block && trimmed.rfind("```", 0) == 0) {
      in_block = true;
      indent = start;
      blocks.push_back({trimmed.substr(3), ""});
    } else if (in_block && trimmed == "```") {
      in_block = false;
    } else if (in_block) {
      blocks.back().text += (line.size() >= indent ? line.substr(indent) : line) + "\n";
    }
  }
  return blocks;
}

/// Runs each statement of `sql` on its own (CREATE INDEX CONCURRENTLY may not share a transaction).
void RunStatements(pqxx::connection& conn, const std::string& sql) {
  std::string statement;
  std::istringstream in(sql);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("--", line.find_first_not_of(' ')) == line.find_first_not_of(' ')) continue;  // comment line
    statement += line + "\n";
    if (!line.empty() && line.back() == ';') {
      pqxx::nontransaction tx(conn);
      tx.exec(statement);
      statement.clear();
    }
  }
}

TEST(DebeziumDoc, TheDocumentedStepsPublishAnExistingTable) {
  ScopedSchema app("dbz_app"), relay_schema("dbz_relay");
  const std::string channel = UniqueName("dbz");
  const std::string prefix = UniqueName("dbz");
  auto rename = [&](std::string text) {
    text = std::regex_replace(text, std::regex(R"(\bpublic\.)"), "\"" + app.name() + "\".");
    text = std::regex_replace(text, std::regex(R"(\boutbox\.(outbox_\w+))"), "\"" + relay_schema.name() + "\".$1");
    text = std::regex_replace(text, std::regex(R"(schema = "public")"), "schema = \"" + app.name() + "\"");
    text = std::regex_replace(text, std::regex(R"(relay_schema = "outbox")"),
                              "relay_schema = \"" + relay_schema.name() + "\"");
    return std::regex_replace(text, std::regex("outbox_debezium"), channel);
  };
  std::vector<std::string> sql, toml;
  for (const auto& b : SectionBlocks("Existing Debezium-style table")) {
    (b.language == "sql" ? sql : toml).push_back(rename(b.text));
  }
  ASSERT_EQ(sql.size(), 3u) << "the table, the seq column, the trigger";
  ASSERT_EQ(toml.size(), 1u) << "the configuration";

  pqxx::connection conn(PgDsn());
  {
    pqxx::nontransaction tx(conn);  // ScopedSchema names them; the doc's table goes into the app schema
    tx.exec("CREATE SCHEMA \"" + app.name() + "\"");
  }
  RunStatements(conn, sql[0]);  // given: the application's table

  // Step 1: the configuration, plus what any configuration needs: servers and topics.
  const std::string config_text = "[postgres]\ndsn = \"" + PgDsn() + "\"\n[kafka]\nbrokers = \"" + KafkaBrokers() +
                                  "\"\ntopic_template = \"" + prefix + ".${aggregate_type}\"\n" + toml[0];
  const relay::Config config = relay::ParseConfig(config_text, "the documented configuration");
  // Step 2: migrate with that configuration.
  const std::string path = WriteTempFile("dbz", config_text);
  const CommandResult migrate = RunRelayCommand({"-c", path, "migrate"});
  ASSERT_EQ(migrate.exit_code, 0) << migrate.out << migrate.err;
  // Steps 3 and 4.
  RunStatements(conn, sql[1]);
  RunStatements(conn, sql[2]);
  // Step 5: run it, and write as a Debezium-style service would.
  RelayProcess relay(config);
  ASSERT_TRUE(relay.WaitForLog("relay starting")) << relay.Log();
  const std::string id = "0190c3a4-5f2b-7c3d-8e4f-0123456789ab";
  {
    pqxx::work tx(conn);
    tx.exec("INSERT INTO \"" + app.name() + "\".outbox (id, aggregatetype, aggregateid, type, payload) VALUES ('" + id +
            "', 'order', 'o-1', 'OrderCreated', '{\"total\": 42}')");
    tx.commit();
  }
  const auto records = ConsumeAll({prefix + ".order"}, 1, 30000);
  ASSERT_EQ(records.size(), 1u) << relay.Log();
  EXPECT_EQ(records[0].key, "o-1");
  EXPECT_EQ(records[0].value, "{\"total\": 42}");
  EXPECT_EQ(records[0].Header("event_id"), id);
  EXPECT_EQ(records[0].Header("event_type"), "OrderCreated");
  EXPECT_TRUE(WaitFor(
      [&] {
        pqxx::nontransaction tx(conn);
        return tx.exec1("SELECT count(*) FROM \"" + app.name() + "\".outbox")[0].as<int>() == 0;
      },
      10000))
      << "the row is deleted once published";
  const CommandResult status = RunRelayCommand({"-c", path, "status"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_TRUE(std::regex_search(status.out, std::regex(R"(dead-lettered events:\s+0\n)"))) << status.out;
  relay.Signal(SIGTERM);
  EXPECT_EQ(relay.Wait(20000), 0) << relay.Log();
}

}  // namespace
}  // namespace outbox::test
