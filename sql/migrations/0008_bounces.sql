-- listctl schema 0008: bounce and complaint reports (docs/BOUNCES.md).
--
-- Every report that was traced to a delivery is kept once per
-- (address, issue, kind) in bounce_reports. That is what makes recording
-- idempotent: providers resend webhooks and the same DSN may be ingested
-- twice, and the second copy finds its row and changes nothing, even after
-- an operator lifted the suppression it caused. Soft bounces are counted
-- from the same rows, one per issue, so a report resent or a second DSN for
-- another part of the same issue never counts twice.
--
-- Like events (schema 0002) the rows keep plain ids, no foreign keys: deleting
-- a list or an issue does not rewrite what happened to an address. Deleting a
-- subscriber deletes the rows that name their address (the trigger below), so
-- erasure leaves no trace here either.

CREATE TABLE bounce_reports (
    email_key     text COLLATE "C" NOT NULL CHECK (email_key = lower(email_key)),
    issue_id      bigint NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('hard_bounce', 'soft_bounce', 'complaint')),
    list_id       bigint NOT NULL,
    subscriber_id bigint NOT NULL,
    -- dsn, arf, ses, postmark, ...: where the report came from.
    source        text NOT NULL,
    -- verp, provider-message-id, message-id, trace: how it was matched to the delivery.
    traced_by     text NOT NULL,
    detail        text NOT NULL DEFAULT '',
    -- When the report says it happened (NULL when it does not say).
    occurred_at   timestamptz,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (email_key, issue_id, kind)
);
CREATE INDEX bounce_reports_subscriber_idx ON bounce_reports (subscriber_id);

CREATE FUNCTION bounce_reports_forget_deleted_subscribers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM bounce_reports b USING deleted_subscribers d WHERE b.subscriber_id = d.id OR b.email_key = d.email_key;
    RETURN NULL;
END
$$;
CREATE TRIGGER subscribers_forget_bounce_reports AFTER DELETE ON subscribers
    REFERENCING OLD TABLE AS deleted_subscribers
    FOR EACH STATEMENT EXECUTE FUNCTION bounce_reports_forget_deleted_subscribers();

-- An address that soft-bounced on LISTCTL_SOFT_BOUNCE_LIMIT issues is
-- suppressed with its own reason, so an operator can tell it from a hard bounce.
ALTER TABLE suppressions DROP CONSTRAINT suppressions_reason_check;
ALTER TABLE suppressions ADD CONSTRAINT suppressions_reason_check
    CHECK (reason IN ('unsubscribed', 'hard_bounce', 'soft_bounce_limit', 'complaint', 'imported', 'manual'));

-- Such an address starts bounced on a new list, as a hard-bounced one does (schema 0002).
CREATE OR REPLACE FUNCTION listctl_suppression_status(reason text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN reason IS NULL THEN NULL
                WHEN reason IN ('hard_bounce', 'soft_bounce_limit') THEN 'bounced'
                WHEN reason = 'complaint' THEN 'complained'
                ELSE 'unsubscribed' END;
