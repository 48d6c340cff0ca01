-- listctl schema 0005: each issue's own key for its derived Message-IDs
-- (docs/LEDGER.md §6). Until now the Message-ID's MAC used the current
-- LISTCTL_SECRET, so a copy re-sent after a secret rotation carried a new
-- Message-ID and receivers could no longer collapse it with the first.
-- A key stored with the issue never changes. Issues that exist already keep
-- NULL and the old derivation, so an issue going out across this upgrade
-- keeps its Message-IDs.
ALTER TABLE issues ADD COLUMN message_key bytea CHECK (message_key IS NULL OR octet_length(message_key) = 16);
ALTER TABLE issues ALTER COLUMN message_key SET DEFAULT uuid_send(gen_random_uuid());
