/// The delivery ledger's statements, as docs/LEDGER.md writes them and
/// Tests/Model/ledger.pml models them: each is one atomic step. Every change
/// to a claimed row is conditional on `next_part = $n AND lease_owner = $me`,
/// so a worker whose lease lapsed can never record over another.
enum LedgerSQL {
    /// Claim (§2): $1 issue, $2 owner, $3 lease seconds, $4 batch size, $5 the issue's list.
    /// Rows whose subscription stopped, or whose address got suppressed, become `skipped`.
    /// A confirmation row (one with a `request_id`) goes while its request is
    /// unconfirmed and under 7 days old and the person is not active already:
    /// to a suppressed address too, since it is that person's own request to
    /// come back (docs/SUPPRESSION.md).
    /// `checked` is materialized so that `ok` is worked out once per row, not once per use.
    static let claim = """
        WITH due AS (
            SELECT d.issue_id, d.subscriber_id, d.request_id
            FROM deliveries d
            WHERE d.issue_id = $1 AND d.state = 'pending' AND d.next_attempt_at <= now()
              AND (d.lease_owner IS NULL OR d.lease_expires_at < now())
              AND EXISTS (SELECT 1 FROM issues i WHERE i.id = $1 AND i.state = 'sending')
            ORDER BY d.next_attempt_at
            LIMIT $4
            FOR UPDATE OF d SKIP LOCKED
        ), checked AS MATERIALIZED (
            SELECT due.issue_id, due.subscriber_id, sub.name,
                   CASE WHEN due.request_id IS NULL THEN
                       coalesce(s.status = 'active', false)
                       AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email_key = sub.email_key)
                   ELSE
                       coalesce(s.status <> 'active', true)
                       AND EXISTS (SELECT 1 FROM consent_requests r WHERE r.id = due.request_id AND r.confirmed_at IS NULL
                                   AND r.requested_at > now() - interval '\(DoubleOptIn.confirmDays) days')
                   END AS ok
            FROM due JOIN subscribers sub ON sub.id = due.subscriber_id
            LEFT JOIN subscriptions s ON s.list_id = $5 AND s.subscriber_id = due.subscriber_id
        )
        UPDATE deliveries d SET
            state            = CASE WHEN c.ok THEN 'pending' ELSE 'skipped' END,
            lease_owner      = CASE WHEN c.ok THEN $2 END,
            lease_expires_at = CASE WHEN c.ok THEN now() + make_interval(secs => $3) END,
            updated_at       = now()
        FROM checked c
        WHERE d.issue_id = c.issue_id AND d.subscriber_id = c.subscriber_id
        RETURNING d.subscriber_id, d.email, c.name, d.next_part, d.part_count, d.attempts, d.unknowns, d.state, d.request_id
        """

    /// Renew (§3): $1 owner, $2 lease seconds, $3 issue, $4 subscriber ids.
    /// A row missing from the result is no longer ours.
    static let renew = """
        UPDATE deliveries d SET lease_expires_at = now() + make_interval(secs => $2)
        FROM issues i
        WHERE i.id = d.issue_id AND d.issue_id = $3 AND d.subscriber_id = ANY ($4) AND d.lease_owner = $1
        RETURNING d.subscriber_id, i.state
        """

    /// Acknowledge part $3 (§4): $1 issue, $2 subscriber, $4 owner, $5 provider message id or NULL.
    static let acknowledge = """
        UPDATE deliveries SET
            next_part        = next_part + 1,
            state            = CASE WHEN next_part + 1 > part_count THEN 'sent' ELSE state END,
            lease_owner      = CASE WHEN next_part + 1 > part_count OR state <> 'pending' THEN NULL ELSE lease_owner END,
            lease_expires_at = CASE WHEN next_part + 1 > part_count OR state <> 'pending' THEN NULL ELSE lease_expires_at END,
            attempts = 0, unknowns = 0, last_error = NULL,
            message_ids      = CASE WHEN $5::text IS NULL THEN message_ids ELSE message_ids || $5::text END,
            updated_at       = now()
        WHERE issue_id = $1 AND subscriber_id = $2 AND next_part = $3 AND lease_owner = $4
        RETURNING state, (SELECT i.state FROM issues i WHERE i.id = $1) AS issue_state
        """

    /// The CTE `e` that records a `failed` event for each row of `u`
    /// (issue_id, subscriber_id, email, next_part) matching `condition`, with the error `error` (SQL).
    private static func failedEvents(error: String, where condition: String) -> String {
        """
        e AS (
            INSERT INTO events (kind, list_id, subscriber_id, issue_id, email_key, detail)
            SELECT 'failed', i.list_id, u.subscriber_id, u.issue_id, lower(u.email),
                   jsonb_build_object('error', \(error), 'part', u.next_part)
            FROM u JOIN issues i ON i.id = u.issue_id WHERE \(condition)
        )
        """
    }

    /// A temporary failure (§5): $5 max attempts, $6 backoff seconds, $7 error.
    /// Out of attempts: `failed`, with a `failed` event.
    static let temporaryFailure = """
        WITH u AS (
            UPDATE deliveries SET
                attempts = attempts + 1,
                state = CASE WHEN state <> 'pending' THEN state WHEN attempts + 1 >= $5 THEN 'failed' ELSE 'pending' END,
                next_attempt_at = now() + make_interval(secs => $6),
                lease_owner = NULL, lease_expires_at = NULL, last_error = $7, updated_at = now()
            WHERE issue_id = $1 AND subscriber_id = $2 AND next_part = $3 AND lease_owner = $4
            RETURNING issue_id, subscriber_id, email, state, next_part
        ), \(failedEvents(error: "$7::text", where: "u.state = 'failed'"))
        SELECT state FROM u
        """

    /// The outcome is unknown (§5): retry once after $5 seconds with the same
    /// Message-ID; a second unknown for the same part is `failed` (failed-unknown). $6 error.
    static let unknownOutcome = """
        WITH u AS (
            UPDATE deliveries SET
                unknowns = unknowns + 1,
                state = CASE WHEN state <> 'pending' THEN state WHEN unknowns + 1 >= 2 THEN 'failed' ELSE 'pending' END,
                last_error = CASE WHEN unknowns + 1 >= 2 THEN 'failed-unknown: ' ELSE 'unknown: ' END || $6,
                next_attempt_at = now() + make_interval(secs => $5),
                lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
            WHERE issue_id = $1 AND subscriber_id = $2 AND next_part = $3 AND lease_owner = $4
            RETURNING issue_id, subscriber_id, email, state, next_part
        ), \(failedEvents(error: "'failed-unknown: ' || $6::text", where: "u.state = 'failed'"))
        SELECT state FROM u
        """

    /// A permanent failure that is not about the recipient (a refused
    /// message): `failed` at once, with an event. $5 error.
    static let permanentFailure = """
        WITH u AS (
            UPDATE deliveries SET
                state = CASE WHEN state = 'pending' THEN 'failed' ELSE state END,
                lease_owner = NULL, lease_expires_at = NULL, last_error = $5, updated_at = now()
            WHERE issue_id = $1 AND subscriber_id = $2 AND next_part = $3 AND lease_owner = $4
            RETURNING issue_id, subscriber_id, email, next_part
        ), \(failedEvents(error: "$5::text", where: "true"))
        SELECT count(*) FROM u
        """

    /// The recipient was refused for good (§5): `bounced`; the subscription
    /// becomes bounced, the address is suppressed everywhere, a `bounced` event. $5 error.
    static let bounce = """
        WITH u AS (
            UPDATE deliveries SET
                state = CASE WHEN state = 'pending' THEN 'bounced' ELSE state END,
                lease_owner = NULL, lease_expires_at = NULL, last_error = $5, updated_at = now()
            WHERE issue_id = $1 AND subscriber_id = $2 AND next_part = $3 AND lease_owner = $4
            RETURNING issue_id, subscriber_id, email, next_part
        ), i AS (
            SELECT list_id FROM issues WHERE id = $1
        ), s AS (
            UPDATE subscriptions SET status = 'bounced', status_changed_at = now()
            WHERE list_id = (SELECT list_id FROM i) AND subscriber_id IN (SELECT subscriber_id FROM u)
              AND NOT listctl_stops_mail(status)
        ), x AS (
            INSERT INTO suppressions (email_key, reason, detail)
            SELECT lower(email), 'hard_bounce', $5 FROM u
            ON CONFLICT (email_key) DO NOTHING
        ), e AS (
            INSERT INTO events (kind, list_id, subscriber_id, issue_id, email_key, detail)
            SELECT 'bounced', (SELECT list_id FROM i), u.subscriber_id, u.issue_id, lower(u.email),
                   jsonb_build_object('error', $5::text, 'part', u.next_part)
            FROM u
        )
        SELECT count(*) FROM u
        """

    /// A refused login or a broken configuration: release the row without
    /// counting an attempt, and pause the issue with the reason ($5).
    static let pauseForTransport = """
        WITH r AS (
            UPDATE deliveries SET lease_owner = NULL, lease_expires_at = NULL, last_error = $5, updated_at = now()
            WHERE issue_id = $1 AND subscriber_id = $2 AND next_part = $3 AND lease_owner = $4
        )
        UPDATE issues SET state = 'paused', paused_reason = $5, updated_at = now()
        WHERE id = $1 AND state = 'sending'
        """

    /// Gives rows back unsent: $1 issue, $2 subscriber ids, $3 owner.
    static let release = """
        UPDATE deliveries SET lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE issue_id = $1 AND subscriber_id = ANY ($2) AND lease_owner = $3
        """

    /// An issue with nothing pending is sent; a standing one (a list's confirmation or welcome mail) never is.
    static let finish = """
        UPDATE issues SET state = 'sent', sent_at = now(), updated_at = now()
        WHERE id = $1 AND state = 'sending' AND NOT standing
          AND NOT EXISTS (SELECT 1 FROM deliveries WHERE issue_id = $1 AND state = 'pending')
        RETURNING id
        """

    /// The next scheduled issue that is due, taken for its snapshot (one at a time).
    static let activateDue = """
        WITH due AS (
            SELECT id FROM issues WHERE state = 'scheduled' AND scheduled_at <= now()
            ORDER BY scheduled_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
        )
        UPDATE issues i SET state = 'sending', started_at = coalesce(i.started_at, now()), snapshot_at = now(),
                            updated_at = now()
        FROM due WHERE i.id = due.id
        RETURNING i.id
        """

    /// The recipients of issue $1 into the ledger, in one statement: every
    /// active subscription of the issue's list whose address is not suppressed.
    static let snapshot = """
        INSERT INTO deliveries (issue_id, subscriber_id, email, part_count)
        SELECT i.id, sub.id, sub.email, (SELECT count(*) FROM issue_parts p WHERE p.issue_id = i.id)
        FROM issues i
        JOIN subscriptions s ON s.list_id = i.list_id AND s.status = 'active'
        JOIN subscribers sub ON sub.id = s.subscriber_id
        WHERE i.id = $1
          AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email_key = sub.email_key)
        ON CONFLICT DO NOTHING
        """

    /// How many a snapshot of list $1 would take now.
    static let recipientCount = """
        SELECT count(*) FROM subscriptions s JOIN subscribers sub ON sub.id = s.subscriber_id
        WHERE s.list_id = $1 AND s.status = 'active'
          AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email_key = sub.email_key)
        """

    /// When the worker has something to do next: a scheduled issue, a retry, a lease running out.
    static let nextDue = """
        SELECT least(
            (SELECT min(scheduled_at) FROM issues WHERE state = 'scheduled'),
            (SELECT min(greatest(d.next_attempt_at, coalesce(d.lease_expires_at, d.next_attempt_at)))
             FROM deliveries d JOIN issues i ON i.id = d.issue_id
             WHERE i.state = 'sending' AND d.state = 'pending'))
        """

    /// Token bucket (§7): draw up to $2 tokens from transport $1's bucket.
    /// One clock reading (`at`) both refills and becomes `refilled_at`: two
    /// readings lost the time between them on every draw (97.0–97.8/s of
    /// 100/s with two workers polling an empty bucket; now 99.8–100.0/s).
    static let drawTokens = """
        WITH b AS (
            SELECT transport, rate, burst, tokens, refilled_at, clock_timestamp() AS at
            FROM rate_buckets WHERE transport = $1
            FOR UPDATE
        ), a AS (
            SELECT transport, rate, at,
                   least(burst, tokens + rate * greatest(0, extract(epoch FROM at - refilled_at))) AS available
            FROM b
        ), g AS (
            SELECT transport, rate, at, available, greatest(0, least($2, floor(available)))::int AS granted FROM a
        )
        UPDATE rate_buckets r SET tokens = g.available - g.granted, refilled_at = greatest(r.refilled_at, g.at)
        FROM g WHERE r.transport = g.transport
        RETURNING g.granted, g.rate, g.available
        """

    /// Gives back $2 unused tokens.
    static let returnTokens = """
        UPDATE rate_buckets SET tokens = least(burst, tokens + $2) WHERE transport = $1
        """

    /// Sets transport $1's budget to $2 per second (keeps the tokens it has).
    static let upsertBucket = """
        INSERT INTO rate_buckets (transport, rate, burst, tokens) VALUES ($1, $2, $3, $3)
        ON CONFLICT (transport) DO UPDATE SET rate = EXCLUDED.rate, burst = EXCLUDED.burst,
            tokens = least(EXCLUDED.burst, rate_buckets.tokens)
        """

    /// The channel workers listen on.
    static let channel = "listctl_deliveries"
}
