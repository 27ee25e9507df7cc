-- Consumer SDK: records a consumer could not apply yet. A row is a record
-- whose handler failed and that is retried with backoff (attempts > 0), a
-- dead letter (dead_lettered_at set, waiting for an operator's release), or a
-- record parked behind an earlier row of its key in the same partition, so
-- that a key's records are applied in order. Parked records are durable, so
-- the consumer commits their Kafka offsets and moves on.

CREATE TABLE @schema@.consumer_parked (
  id               bigserial   NOT NULL,
  consumer         text        NOT NULL,
  topic            text        NOT NULL,
  kafka_partition  integer     NOT NULL,
  kafka_offset     bigint      NOT NULL,
  record_key       bytea,
  -- One hold per key: a digest (keys may be too large to index), or a group of
  -- its own for a record without a key, which has no order to keep.
  key_group        text        NOT NULL GENERATED ALWAYS AS (
                     CASE WHEN record_key IS NULL THEN 'offset:' || kafka_offset::text
                          ELSE md5(record_key) END) STORED,
  value            bytea,
  headers          bytea       NOT NULL,
  timestamp_ms     bigint      NOT NULL,
  event_id         text        NOT NULL,
  attempts         integer     NOT NULL DEFAULT 0,
  permanent        boolean     NOT NULL DEFAULT false,
  last_error       text,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  dead_lettered_at timestamptz,
  holds            boolean     NOT NULL DEFAULT true,
  release          text        CHECK (release IN ('retry', 'skip')),
  parked_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT consumer_parked_pkey PRIMARY KEY (id),
  CONSTRAINT consumer_parked_record UNIQUE (consumer, topic, kafka_partition, kafka_offset)
);
CREATE INDEX consumer_parked_group
  ON @schema@.consumer_parked (consumer, topic, kafka_partition, key_group, kafka_offset);
-- Each batch asks which of its keys are held: one index probe per key.
CREATE INDEX consumer_parked_holds ON @schema@.consumer_parked (consumer, key_group) WHERE holds;
