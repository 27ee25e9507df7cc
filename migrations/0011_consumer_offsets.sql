-- Consumer SDK (store_offsets_in_postgres): the next offset to consume per
-- group, topic and partition, written in the same transaction as the side
-- effects, read when a partition is assigned.

CREATE TABLE @schema@.consumer_offsets (
  group_id        text        NOT NULL,
  topic           text        NOT NULL,
  kafka_partition integer     NOT NULL,
  next_offset     bigint      NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT consumer_offsets_pkey PRIMARY KEY (group_id, topic, kafka_partition)
);
