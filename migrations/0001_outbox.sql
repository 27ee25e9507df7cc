-- The outbox table, its ordering sequence and the LISTEN/NOTIFY wake-up.
-- @schema@ is replaced by the (validated, quoted) schema name when applied.

CREATE SCHEMA IF NOT EXISTS @schema@;

-- CACHE 1 (the default) matters: values must be handed out in time order
-- across sessions, or the relay's gap tracking loses its proof.
CREATE SEQUENCE @schema@.outbox_seq AS bigint CACHE 1;

-- Default of outbox.seq. It forces the writing transaction to own an xid
-- *before* it takes a sequence value. The poll relay relies on this: when it
-- sees seq N committed but not seq M < N, the writer of M already had an xid
-- lower than any xid assigned after that snapshot, so once the snapshot xmin
-- passes such an xid, M can no longer appear (schema/README.md, "Ordering").
CREATE FUNCTION @schema@.outbox_next_seq() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
  PERFORM pg_current_xact_id();
  RETURN nextval('@schema@.outbox_seq');
END
$fn$;

CREATE TABLE @schema@.outbox (
  seq            bigint      NOT NULL DEFAULT @schema@.outbox_next_seq(),
  id             uuid        NOT NULL DEFAULT gen_random_uuid(),
  aggregate_type text        NOT NULL CHECK (aggregate_type <> ''),
  aggregate_id   text        NOT NULL CHECK (aggregate_id <> ''),
  event_type     text        NOT NULL CHECK (event_type <> ''),
  payload        bytea,
  headers        jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(headers) = 'object'),
  topic          text        CHECK (topic <> ''),
  created_at     timestamptz NOT NULL DEFAULT now(),
  published_at   timestamptz,
  attempts       integer     NOT NULL DEFAULT 0,
  CONSTRAINT outbox_pkey PRIMARY KEY (seq),
  CONSTRAINT outbox_id_key UNIQUE (id)
);
ALTER SEQUENCE @schema@.outbox_seq OWNED BY @schema@.outbox.seq;

-- Serves cleanup = "mark" (rows kept with published_at); tiny in delete mode.
CREATE INDEX outbox_unpublished ON @schema@.outbox (seq) WHERE published_at IS NULL;

-- One notification per inserting transaction (Postgres folds duplicates),
-- delivered at commit, so the relay wakes without waiting for its interval.
CREATE FUNCTION @schema@.outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify(TG_ARGV[0], '');
  RETURN NULL;
END
$fn$;

CREATE TRIGGER outbox_notify AFTER INSERT ON @schema@.outbox
  FOR EACH STATEMENT EXECUTE FUNCTION @schema@.outbox_notify('@channel@');
