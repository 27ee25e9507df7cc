# outbox_consumer: the consumer side (librdkafka + libpqxx), its own target so
# producer-only services never link librdkafka. Included by sdk/CMakeLists.txt.
add_library(outbox_consumer
  src/consumer/batch_path.cpp
  src/consumer/batch_transaction.cpp
  src/consumer/consumer_options.cpp
  src/consumer/dead_letter_producer.cpp
  src/consumer/dead_letters.cpp
  src/consumer/drain.cpp
  src/consumer/idempotent_consumer.cpp
  src/consumer/inbox.cpp
  src/consumer/kafka_handles.cpp
  src/consumer/metrics.cpp
  src/consumer/offsets.cpp
  src/consumer/parking.cpp
  src/consumer/pg_offsets.cpp
  src/consumer/poll.cpp
  src/consumer/record.cpp
  src/consumer/sql_text.cpp
)
target_include_directories(outbox_consumer
  PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
  PRIVATE src/consumer)
# librdkafka stays PRIVATE: no public header includes rdkafka.h.
target_link_libraries(outbox_consumer
  PUBLIC outbox_sdk PkgConfig::PQXX Threads::Threads
  PRIVATE PkgConfig::RDKAFKA)
