-- Events the broker rejected permanently, with the reason. The operator
-- requeues (moves back to the outbox, same id) or skips them from the CLI.

CREATE TABLE @schema@.dead_letter (
  seq            bigint      NOT NULL,
  id             uuid        NOT NULL,
  aggregate_type text        NOT NULL,
  aggregate_id   text        NOT NULL,
  event_type     text        NOT NULL,
  payload        bytea,
  headers        jsonb       NOT NULL DEFAULT '{}'::jsonb,
  topic          text,
  created_at     timestamptz NOT NULL,
  reason         text        NOT NULL,
  attempts       integer     NOT NULL,
  failed_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT dead_letter_pkey PRIMARY KEY (seq),
  CONSTRAINT dead_letter_id_key UNIQUE (id)
);
CREATE INDEX dead_letter_aggregate ON @schema@.dead_letter (aggregate_type, aggregate_id);
