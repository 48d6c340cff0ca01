-- listctl schema 0006: compaction of finished issues' ledger rows
-- (docs/LEDGER.md §11, shared/DESIGN.md §7). A delivery row costs about
-- 210 bytes with its indexes; at 10 M subscribers and 50 issues a year that
-- is 100 GB a year. `listctl db compact` moves the `sent` rows of an issue
-- that finished long enough ago into `delivery_summaries`: per issue, one
-- row per block of 10,000 subscriber ids, holding the sorted ids. Failed,
-- bounced, skipped and cancelled rows stay as they are: they are few, they
-- carry their errors, and `retry` works on them.
ALTER TABLE issues ADD COLUMN compacted_at timestamptz;

CREATE TABLE delivery_summaries (
    issue_id       bigint NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    -- subscriber_id / 10000: the ids of this row all lie in one block, so
    -- forgetting a person rewrites one small array per issue, not a huge one.
    id_block       bigint NOT NULL,
    part_count     integer NOT NULL CHECK (part_count >= 1),
    -- The subscribers that were sent every part, ascending, without repeats.
    subscriber_ids bigint[] NOT NULL CHECK (cardinality(subscriber_ids) >= 1),
    first_sent_at  timestamptz NOT NULL,
    last_sent_at   timestamptz NOT NULL,
    PRIMARY KEY (issue_id, id_block, part_count)
);
CREATE INDEX delivery_summaries_block_idx ON delivery_summaries (id_block);

-- Erasure (schema 0002's rule: deleting a person leaves no trace of them):
-- a deleted subscriber's id leaves every summary, and an emptied row goes.
CREATE FUNCTION delivery_summaries_forget_deleted_subscribers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Rows left with nobody go; the others lose the deleted ids.
    DELETE FROM delivery_summaries s
    USING (SELECT id / 10000 AS id_block, array_agg(id) AS ids FROM deleted_subscribers GROUP BY 1) g
    WHERE s.id_block = g.id_block AND s.subscriber_ids <@ g.ids;
    UPDATE delivery_summaries s
    SET subscriber_ids = ARRAY(SELECT x FROM unnest(s.subscriber_ids) AS x WHERE x <> ALL (g.ids) ORDER BY x)
    FROM (SELECT id / 10000 AS id_block, array_agg(id) AS ids FROM deleted_subscribers GROUP BY 1) g
    WHERE s.id_block = g.id_block AND s.subscriber_ids && g.ids;
    RETURN NULL;
END $$;

CREATE TRIGGER subscribers_forget_summaries AFTER DELETE ON subscribers
    REFERENCING OLD TABLE AS deleted_subscribers
    FOR EACH STATEMENT EXECUTE FUNCTION delivery_summaries_forget_deleted_subscribers();
