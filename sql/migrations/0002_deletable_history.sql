-- listctl schema 0002: history that can be deleted; the "do not mail" statuses in one place.
--
-- Events no longer point at lists, subscribers and issues with foreign keys.
-- Under 0001 they did, with ON DELETE SET NULL. PostgreSQL runs SET NULL as
-- an UPDATE, and the append-only trigger refuses every UPDATE, so a list,
-- issue or subscriber that had an event could not be deleted at all.
--
--   * Events keep plain id columns. Ids come from identity columns and are
--     never reused, so a dangling id cannot point at someone else.
--   * Deleting a subscriber deletes every event that names them, by
--     subscriber_id or by email_key (the trigger below). So no event keeps a
--     deleted person's address, in email_key or in detail. An event that
--     concerns a person must carry one of the two.
--   * Deleting a list or an issue leaves its events as they were, with the
--     dangling id. They are the history of people who may still be
--     subscribed elsewhere (what was sent to them, when they unsubscribed),
--     and a data export for a person must still show them. Erasing a person
--     removes them; deleting a list does not rewrite history.
--   * Events stay append-only: an UPDATE of an event is still refused
--     (events_append_only from 0001). Only deleting a person deletes events.

ALTER TABLE events
    DROP CONSTRAINT events_list_id_fkey,
    DROP CONSTRAINT events_subscriber_id_fkey,
    DROP CONSTRAINT events_issue_id_fkey;

CREATE INDEX events_email_key_idx ON events (email_key) WHERE email_key IS NOT NULL;

-- One statement-level trigger, not one per row: deleting a million
-- subscribers runs two joins, not two million index probes.
CREATE FUNCTION events_forget_deleted_subscribers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM events e USING deleted_subscribers d WHERE e.subscriber_id = d.id;
    DELETE FROM events e USING deleted_subscribers d WHERE e.email_key = d.email_key;
    RETURN NULL;
END
$$;
CREATE TRIGGER subscribers_forget_events AFTER DELETE ON subscribers
    REFERENCING OLD TABLE AS deleted_subscribers
    FOR EACH STATEMENT EXECUTE FUNCTION events_forget_deleted_subscribers();

-- The statuses under which a subscription is never mailed, and never turned
-- back into active by an import. Swift has the same set as
-- SubscriptionStatus.doNotMail (a test compares them). Plain SQL functions
-- with no STRICT: the planner inlines them, so they cost nothing per row.
CREATE FUNCTION listctl_stops_mail(status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN status IN ('unsubscribed', 'bounced', 'complained');

-- The subscription status that a suppression reason implies (NULL for no suppression).
CREATE FUNCTION listctl_suppression_status(reason text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN reason IS NULL THEN NULL
                WHEN reason = 'hard_bounce' THEN 'bounced'
                WHEN reason = 'complaint' THEN 'complained'
                ELSE 'unsubscribed' END;
