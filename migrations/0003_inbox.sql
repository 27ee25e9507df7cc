-- Consumer-side deduplication: one row per (consumer, event id) processed.
-- Rows older than the consumer's retention window are purged in batches.

CREATE TABLE @schema@.inbox (
  consumer     text        NOT NULL,
  event_id     text        NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT inbox_pkey PRIMARY KEY (consumer, event_id)
);
CREATE INDEX inbox_processed_at ON @schema@.inbox (processed_at);
