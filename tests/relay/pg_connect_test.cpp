// SessionConninfo: the relay's bounds on every Postgres session (keepalives,
// tcp_user_timeout) are added where the DSN leaves them out, and never
// override what the DSN says.
#include <libpq-fe.h>

#include <map>
#include <memory>
#include <stdexcept>

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "pg/pg_connect.hpp"

namespace outbox::relay {
namespace {

std::map<std::string, std::string> Parse(const std::string& conninfo) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> parsed(PQconninfoParse(conninfo.c_str(), &error),
                                                                        PQconninfoFree);
  if (!parsed) throw std::runtime_error(error != nullptr ? error : "unparsable");
  std::map<std::string, std::string> out;
  for (const PQconninfoOption* o = parsed.get(); o->keyword != nullptr; ++o) {
    if (o->val != nullptr) out[o->keyword] = o->val;
  }
  return out;
}

PostgresConfig WithDsn(const std::string& dsn) {
  PostgresConfig c;
  c.dsn = dsn;
  return c;
}

TEST(SessionConninfo, AddsKeepalivesAndTcpUserTimeoutDerivedFromTheSetting) {
  PostgresConfig c = WithDsn("postgresql://u:p%20w@db.example:6432/app?sslmode=require");
  c.tcp_user_timeout = std::chrono::milliseconds(30000);
  const auto o = Parse(SessionConninfo(c));
  EXPECT_EQ(o.at("host"), "db.example");
  EXPECT_EQ(o.at("port"), "6432");
  EXPECT_EQ(o.at("password"), "p w");
  EXPECT_EQ(o.at("sslmode"), "require");
  EXPECT_EQ(o.at("keepalives"), "1");
  EXPECT_EQ(o.at("keepalives_idle"), "10");
  EXPECT_EQ(o.at("keepalives_interval"), "3");
  EXPECT_EQ(o.at("keepalives_count"), "3");
  EXPECT_EQ(o.at("tcp_user_timeout"), "30000");
}

TEST(SessionConninfo, WhatTheDsnSaysWins) {
  PostgresConfig c = WithDsn("host=h dbname='it\\'s' password='a\\\\b' tcp_user_timeout=5000 keepalives_idle=60");
  const auto o = Parse(SessionConninfo(c));
  EXPECT_EQ(o.at("tcp_user_timeout"), "5000");
  EXPECT_EQ(o.at("keepalives_idle"), "60");
  EXPECT_EQ(o.at("keepalives_interval"), "3");  // still added
  EXPECT_EQ(o.at("dbname"), "it's");
  EXPECT_EQ(o.at("password"), "a\\b") << "quotes and backslashes survive";
}

TEST(SessionConninfo, ZeroLeavesTheOperatingSystemsDefaults) {
  PostgresConfig c = WithDsn("host=h");
  c.tcp_user_timeout = std::chrono::milliseconds(0);
  const auto o = Parse(SessionConninfo(c));
  EXPECT_EQ(o.count("keepalives_idle"), 0u);
  EXPECT_EQ(o.count("tcp_user_timeout"), 0u);
}

// Set in the conninfo, not the environment: sessions connect from two threads.
TEST(SessionConninfo, NamesTheSessionAndBoundsTheConnectUnlessTheDsnDoes) {
  PostgresConfig c = WithDsn("host=h");
  c.connect_timeout = std::chrono::milliseconds(7000);
  auto o = Parse(SessionConninfo(c, "acks"));
  EXPECT_EQ(o.at("application_name"), "outbox-relay/acks");
  EXPECT_EQ(o.at("connect_timeout"), "7");
  o = Parse(SessionConninfo(WithDsn("host=h application_name=mine connect_timeout=2"), "acks"));
  EXPECT_EQ(o.at("application_name"), "mine");
  EXPECT_EQ(o.at("connect_timeout"), "2");
  EXPECT_EQ(Parse(SessionConninfo(c)).count("application_name"), 0u);
}

TEST(SessionConninfo, AnUnparsableDsnIsAnError) {
  EXPECT_THROW(SessionConninfo(WithDsn("not a dsn = = '")), std::invalid_argument);
}

}  // namespace
}  // namespace outbox::relay
