-- Dead letters belong to one outbox table: several outbox tables (e.g. mapped
-- Debezium-style tables of other schemas) can share this schema's
-- dead_letter without their seq values or event ids colliding. The key index
-- holds a hash, so a move never fails on the size of a row's key, and the
-- outbox table bounds key sizes the way the SDK does (checked for new rows;
-- NOT VALID leaves rows written before alone).

ALTER TABLE @schema@.dead_letter ADD COLUMN outbox_table text;
UPDATE @schema@.dead_letter SET outbox_table = trim(both '"' from '@schema@') || '.outbox';
ALTER TABLE @schema@.dead_letter
  ALTER COLUMN outbox_table SET NOT NULL,
  -- Relays from before this migration insert without the column: their table is <schema>.outbox.
  ALTER COLUMN outbox_table SET DEFAULT trim(both '"' from '@schema@') || '.outbox';
ALTER TABLE @schema@.dead_letter DROP CONSTRAINT dead_letter_pkey;
ALTER TABLE @schema@.dead_letter DROP CONSTRAINT dead_letter_id_key;
ALTER TABLE @schema@.dead_letter ADD CONSTRAINT dead_letter_pkey PRIMARY KEY (outbox_table, seq);
ALTER TABLE @schema@.dead_letter ADD CONSTRAINT dead_letter_id_key UNIQUE (outbox_table, id);
DROP INDEX @schema@.dead_letter_aggregate;
CREATE INDEX dead_letter_key ON @schema@.dead_letter (outbox_table, md5(aggregate_type || chr(31) || aggregate_id));

ALTER TABLE @schema@.outbox
  ADD CONSTRAINT outbox_key_size CHECK (octet_length(aggregate_type) <= 200 AND octet_length(aggregate_id) <= 4096)
  NOT VALID;
