// PollSource against the real server: rows are read on a session of their
// own, and a read that fills its batch sends the next one at once (read
// ahead). What the read ahead returns is what a read at the moment it was sent
// would have returned: nothing committed after it is lost, nothing is read
// twice, and a rewind or reconnect never takes a read sent before it.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "config/config.hpp"
#include "outbox/migrations.hpp"
#include "pg/poll_source.hpp"
#include "test_env.hpp"

namespace outbox::relay {
namespace {

class PollSourceTest : public ::testing::Test {
 protected:
  PollSourceTest() : schema_("psrc") {
    pqxx::connection c(test::PgDsn());
    sdk::Migrate(c, schema_.name());
    config_.postgres.dsn = test::PgDsn();
    config_.outbox.schema = schema_.name();
  }

  // Commits `n` events of aggregate `key`, one transaction.
  void Insert(int n, const std::string& key = "k") {
    pqxx::connection c(test::PgDsn());
    pqxx::work tx(c);
    tx.exec0("INSERT INTO " + schema_.name() +
             ".outbox (aggregate_type, aggregate_id, event_type, payload) SELECT 'a', " + tx.quote(key) +
             ", 'T', convert_to('{\"n\":' || g || '}', 'UTF8') FROM generate_series(1, " + std::to_string(n) + ") g");
    tx.commit();
  }

  static std::vector<int64_t> Seqs(const std::vector<OutboxRow>& rows) {
    std::vector<int64_t> out;
    for (const auto& r : rows) out.push_back(r.seq);
    return out;
  }

  int Sessions(const std::string& application) {
    pqxx::connection c(test::PgDsn());
    pqxx::nontransaction tx(c);
    return tx.exec_params1("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", application)[0]
        .as<int>();
  }

  test::ScopedSchema schema_;
  Config config_;
};

TEST_F(PollSourceTest, AFullBatchReadsTheNextOneAheadAndNothingIsLostOrReadTwice) {
  Insert(250);
  PollSource source(config_, /*read_ahead=*/true);
  source.Connect();
  EXPECT_EQ(Sessions("outbox-relay/read"), 1) << "the rows are read on a session of their own";

  std::vector<int64_t> seen = Seqs(source.Read(100, 0));
  ASSERT_EQ(seen.size(), 100u);
  EXPECT_TRUE(source.reading_ahead()) << "a full batch sends the next read at once";
  Insert(30, "late");  // committed after the read ahead was sent: not in it, read later
  for (int i = 0; i < 10 && seen.size() < 280; ++i) {
    const auto more = Seqs(source.Read(100, 0));
    seen.insert(seen.end(), more.begin(), more.end());
  }
  EXPECT_FALSE(source.reading_ahead()) << "a batch that was not full reads nothing ahead";
  ASSERT_EQ(seen.size(), 280u);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_LT(seen[i - 1], seen[i]) << "in seq order, each once";
}

TEST_F(PollSourceTest, ARewindNeverTakesAReadSentBeforeIt) {
  Insert(150);
  PollSource source(config_, /*read_ahead=*/true);
  source.Connect();
  const auto first = Seqs(source.Read(100, 0));
  ASSERT_EQ(first.size(), 100u);
  ASSERT_TRUE(source.reading_ahead());
  // The rows read so far were not acknowledged: read from the start, they come again.
  source.Rewind();
  const auto again = Seqs(source.Read(100, 0));
  EXPECT_EQ(again, first);
}

TEST_F(PollSourceTest, AReconnectDropsTheReadSentAhead) {
  Insert(150);
  PollSource source(config_, /*read_ahead=*/true);
  source.Connect();
  ASSERT_EQ(source.Read(100, 0).size(), 100u);
  ASSERT_TRUE(source.reading_ahead());
  source.Disconnect();
  EXPECT_FALSE(source.reading_ahead());
  source.Connect();
  // A new session: gap tracking is kept, so the read goes on after the first 100.
  const auto rest = Seqs(source.Read(100, 0));
  ASSERT_EQ(rest.size(), 50u);
}

TEST_F(PollSourceTest, WithoutReadAheadEveryReadIsItsOwn) {
  Insert(150);
  PollSource source(config_, /*read_ahead=*/false);
  source.Connect();
  ASSERT_EQ(source.Read(100, 0).size(), 100u);
  EXPECT_FALSE(source.reading_ahead());
  EXPECT_EQ(source.Read(100, 0).size(), 50u);
}

}  // namespace
}  // namespace outbox::relay
