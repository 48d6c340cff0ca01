-- listctl schema 0009: erasure (`listctl subscribers forget EMAIL`,
-- docs/SUPPRESSION.md "Erasure").
--
-- Forgetting a person deletes their subscriber row; the foreign keys and the
-- triggers of 0002 and 0006 take their subscriptions, ledger rows, events and
-- compacted ids with it. What stays:
--
--   * forgotten_addresses: an HMAC-SHA256 of the address under the forget key
--     (LISTCTL_FORGET_KEY, not the token secret), so that an import or an
--     operator cannot bring the person back. Without the key a hash cannot be
--     turned back into an address, nor tested against a guessed one.
--   * delivery_tallies: per issue and final state, how many deliveries,
--     parts and failures the forgotten people had, so `listctl status ISSUE`
--     answers the same before and after. Counts, no ids, no addresses.

CREATE TABLE forgotten_addresses (
    -- HMAC-SHA256(forget key, "listctl-forget\0" || lower-cased address).
    hash          bytea PRIMARY KEY CHECK (octet_length(hash) = 32),
    -- Which forget key made it (first 4 bytes of SHA-256("listctl-key-id\0" || key)):
    -- after a rotation, tells hashes that only an old key still matches.
    key_id        bigint NOT NULL CHECK (key_id BETWEEN 0 AND 4294967295),
    forgotten_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE delivery_tallies (
    issue_id        bigint NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    -- A forgotten person's pending delivery is counted as skipped: nobody is left to mail.
    state           text NOT NULL CHECK (state IN ('sent', 'failed', 'bounced', 'skipped', 'cancelled')),
    deliveries      bigint NOT NULL CHECK (deliveries >= 0),
    -- Of the failed: the outcome stayed unknown (last_error 'failed-unknown: ...').
    failed_unknown  bigint NOT NULL DEFAULT 0 CHECK (failed_unknown >= 0),
    -- Parts accepted by the transport.
    messages        bigint NOT NULL DEFAULT 0 CHECK (messages >= 0),
    -- The latest time one of these deliveries had a part accepted.
    last_sent_at    timestamptz,
    PRIMARY KEY (issue_id, state)
);

-- The cascade from subscribers to deliveries, the erasure and the data export
-- find a person's ledger rows by subscriber; without this index each of them
-- read the whole ledger.
CREATE INDEX IF NOT EXISTS deliveries_subscriber_idx ON deliveries (subscriber_id);

-- Before a subscriber row goes (and the cascade takes their ledger rows, and
-- 0006's trigger their ids in compacted summaries), their deliveries are
-- added to the issue's tally. A row trigger, as the cascade itself is per row:
-- two index probes per deleted subscriber.
CREATE FUNCTION delivery_tallies_count_deleted_subscriber() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO delivery_tallies AS t (issue_id, state, deliveries, failed_unknown, messages, last_sent_at)
    SELECT issue_id, state, count(*), count(*) FILTER (WHERE unknown), sum(messages), max(last_sent_at)
    FROM (
        SELECT d.issue_id, CASE WHEN d.state = 'pending' THEN 'skipped' ELSE d.state END AS state,
               d.state = 'failed' AND d.last_error LIKE 'failed-unknown:%' AS unknown,
               d.next_part - 1 AS messages,
               CASE WHEN d.next_part > 1 THEN d.updated_at END AS last_sent_at
        FROM deliveries d WHERE d.subscriber_id = OLD.id
        UNION ALL
        SELECT s.issue_id, 'sent', false, s.part_count, s.last_sent_at
        FROM delivery_summaries s
        WHERE s.id_block = OLD.id / 10000 AND OLD.id = ANY (s.subscriber_ids)
    ) r
    GROUP BY issue_id, state
    ON CONFLICT (issue_id, state) DO UPDATE
    SET deliveries = t.deliveries + EXCLUDED.deliveries,
        failed_unknown = t.failed_unknown + EXCLUDED.failed_unknown,
        messages = t.messages + EXCLUDED.messages,
        last_sent_at = greatest(t.last_sent_at, EXCLUDED.last_sent_at);
    RETURN OLD;
END
$$;
CREATE TRIGGER subscribers_tally_deliveries BEFORE DELETE ON subscribers
    FOR EACH ROW EXECUTE FUNCTION delivery_tallies_count_deleted_subscriber();

-- What an import counted as forgotten (rows of the file left out).
ALTER TABLE imports ADD COLUMN forgotten integer NOT NULL DEFAULT 0 CHECK (forgotten >= 0);
