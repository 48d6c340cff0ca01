-- listctl schema 0004: the delivery engine (docs/LEDGER.md).
--
-- Issues can be paused; each has a public slug, unique in its list and never
-- changed once set (the "View in browser" link of every part points at it).
-- Deliveries can end bounced or cancelled, count unknown outcomes of the
-- part in flight, and keep the provider's message ids. The due index covers
-- only pending rows, keyed by issue, so claims never touch finished rows.
-- One token bucket per transport shares the rate budget between workers.

ALTER TABLE issues DROP CONSTRAINT issues_state_check;
ALTER TABLE issues ADD CONSTRAINT issues_state_check
    CHECK (state IN ('draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled'));
ALTER TABLE issues
    ADD COLUMN slug text COLLATE "C" CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,79}$'),
    -- Why the issue is paused (an operator, the circuit breaker, a refused login).
    ADD COLUMN paused_reason text,
    -- When the recipients were snapshotted into the ledger.
    ADD COLUMN snapshot_at timestamptz;

-- The slug of an issue: its date and the words of its subject, with -2, -3
-- ... when another issue of the list has it already.
CREATE FUNCTION listctl_issue_slug(list bigint, subject text, day timestamptz) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    base text := to_char(day AT TIME ZONE 'UTC', 'YYYY-MM-DD');
    words text := left(trim(BOTH '-' FROM regexp_replace(lower(subject), '[^a-z0-9]+', '-', 'g')), 60);
    candidate text;
    n integer := 1;
BEGIN
    words := trim(BOTH '-' FROM words);
    IF words <> '' THEN base := base || '-' || words; END IF;
    candidate := base;
    WHILE EXISTS (SELECT 1 FROM issues i WHERE i.list_id = list AND i.slug = candidate) LOOP
        n := n + 1;
        candidate := base || '-' || n;
    END LOOP;
    RETURN candidate;
END
$$;

CREATE FUNCTION issues_assign_slug() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.slug IS NULL THEN
        -- Serialise slug picking within a list, so two sends at once cannot pick the same one.
        PERFORM pg_advisory_xact_lock(hashtextextended('listctl.issue-slug', NEW.list_id));
        NEW.slug := listctl_issue_slug(NEW.list_id, NEW.subject,
                                       coalesce(NEW.sent_at, NEW.scheduled_at, NEW.created_at, now()));
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER issues_slug BEFORE INSERT ON issues
    FOR EACH ROW EXECUTE FUNCTION issues_assign_slug();

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT id, list_id, subject, coalesce(sent_at, scheduled_at, created_at) AS day
             FROM issues ORDER BY coalesce(sent_at, scheduled_at, created_at), id LOOP
        UPDATE issues SET slug = listctl_issue_slug(r.list_id, r.subject, r.day) WHERE id = r.id;
    END LOOP;
END
$$;
ALTER TABLE issues ALTER COLUMN slug SET NOT NULL;
ALTER TABLE issues ADD CONSTRAINT issues_list_slug_key UNIQUE (list_id, slug);
CREATE INDEX issues_active_idx ON issues (id) WHERE state = 'sending';

-- The parts as the Mailer prepared them, quoted-printable encoded with the
-- recipient fields as tokens: the engine fills them per recipient without
-- re-encoding (NULL for issues imported from an archive, never sent).
ALTER TABLE issue_parts
    ADD COLUMN encoded_html text,
    ADD COLUMN encoded_text text;

ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check
    CHECK (state IN ('pending', 'sent', 'failed', 'bounced', 'skipped', 'cancelled'));
ALTER TABLE deliveries
    -- Unknown outcomes (docs/LEDGER.md §5) of part next_part; the ack resets it.
    ADD COLUMN unknowns integer NOT NULL DEFAULT 0 CHECK (unknowns >= 0);
COMMENT ON COLUMN deliveries.message_ids IS
    'The provider''s message id of each accepted part that had one (SES MessageId, Postmark MessageID ...), for webhooks';
-- Acknowledgements stay HOT updates: room on the page for the new version.
ALTER TABLE deliveries SET (fillfactor = 80);
DROP INDEX deliveries_due_idx;
CREATE INDEX deliveries_due_idx ON deliveries (issue_id, next_attempt_at) WHERE state = 'pending';
-- Provider webhooks find their delivery by the provider's message id.
CREATE INDEX deliveries_message_ids_idx ON deliveries USING gin (message_ids) WHERE message_ids <> '{}';

-- The shared rate budget: one token bucket per transport (docs/LEDGER.md §7).
CREATE TABLE rate_buckets (
    transport   text COLLATE "C" PRIMARY KEY,
    rate        double precision NOT NULL CHECK (rate > 0),
    burst       double precision NOT NULL CHECK (burst >= 1),
    tokens      double precision NOT NULL,
    refilled_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Workers wait on this channel; `send`, `resume` and `retry` notify it.
COMMENT ON TABLE deliveries IS 'The delivery ledger (docs/LEDGER.md); NOTIFY listctl_deliveries when work is queued';
