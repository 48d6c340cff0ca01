/// Every statement a subscriber import runs, in order, in one place.
///
/// The statements take no bind parameters: the list id travels in the
/// transaction-local setting `listctl.import_list_id`, so that the same text
/// runs unchanged in psql (`listctl import --print-sql` prints it; the
/// benchmark times psql running it against listctl running it).
///
/// The shape was chosen with EXPLAIN ANALYZE on a million rows (see
/// docs/BENCHMARKS-import.md): one sort to deduplicate the staging rows, one
/// pass of hash joins to plan every row against what is stored, then plain
/// INSERT … SELECT / UPDATE … FROM statements that never look a row up one
/// at a time. New subscriber ids are taken from the identity sequence while
/// planning, so the subscriptions insert needs no join back to subscribers.
public enum ImportSQL {
    /// Sets the list the statements work on, for this transaction only.
    static let setList = "SELECT set_config('listctl.import_list_id', $1, true)"

    /// Imports run one at a time (subscribers are shared by every list, and
    /// new ids are drawn while planning): a second import waits for the first
    /// to commit, then plans against what it wrote. Released at commit or rollback.
    public static let serialize = "SELECT pg_advisory_xact_lock(7417786574210105)"

    /// Settings for this transaction only. The deduplicating sort of a million
    /// staging rows needs about 170 MB to stay in memory (with the default 4 MB
    /// it spills to disk); JIT compilation costs more than it saves on these
    /// simple scans.
    public static let session = "SET LOCAL work_mem = '256MB'; SET LOCAL jit = off"

    /// Fresh statistics, so the planner sees a million staged rows (not the
    /// default guess) and picks hash or merge joins instead of a million index probes.
    public static let analyzeStaging = "ANALYZE import_staging"
    public static let analyzeRows = "ANALYZE import_rows"

    /// The staging table COPY fills; dropped at commit or rollback.
    /// Temporary tables skip the WAL, which is what makes COPY into them cheap.
    public static let createStaging = """
        CREATE TEMP TABLE import_staging (
            line        integer NOT NULL,
            email       text NOT NULL,
            name        text NOT NULL,
            status      text NOT NULL,
            suppression text,
            created_at  timestamptz,
            attributes  jsonb NOT NULL,
            -- The address's hashes under each forget key (hex, space-separated);
            -- NULL when nobody was ever forgotten (then nothing is hashed).
            forget_hashes text
        ) ON COMMIT DROP
        """

    /// COPY in text format: tab-separated, `\N` for NULL, backslash escapes.
    public static let copyStaging =
        "COPY import_staging (line, email, name, status, suppression, created_at, attributes, forget_hashes) FROM STDIN"

    /// How many people were forgotten: when none, the file's addresses are not hashed at all.
    public static let anyForgotten = "SELECT count(*) FROM forgotten_addresses"

    /// The rows of forgotten people leave the staging table before anything is
    /// planned, so nothing of them is stored (docs/SUPPRESSION.md "Erasure").
    /// One hash join of every row's hashes against `forgotten_addresses`.
    public static let dropForgotten = """
        WITH hit AS (
            SELECT DISTINCT st.line
            FROM import_staging st
            CROSS JOIN LATERAL unnest(string_to_array(st.forget_hashes, ' ')) AS h (hex)
            JOIN forgotten_addresses f ON f.hash = decode(h.hex, 'hex')
        ), dropped AS (
            DELETE FROM import_staging st USING hit WHERE st.line = hit.line
            RETURNING lower(st.email) COLLATE "C" AS email_key
        )
        SELECT count(*) AS forgotten_rows, count(DISTINCT email_key) AS forgotten FROM dropped
        """

    /// One row per address (case-insensitively), planned against what is stored.
    ///
    /// Duplicates in the file collapse to the row with the strongest "do not
    /// mail" status (complained > bounced > unsubscribed > active > pending),
    /// then the last one. `final_status` applies the rule that an import never
    /// resubscribes anyone: a subscription whose status stops mail stays so
    /// (`listctl_stops_mail`, schema 0002: the SQL home of
    /// ``SubscriptionStatus/doNotMail``), and a suppressed address starts
    /// suppressed (`listctl_suppression_status`).
    public static let plan = """
        CREATE TEMP TABLE import_rows ON COMMIT DROP AS
        SELECT r.email_key, r.email, r.name, r.status AS file_status, r.suppression, r.created_at, r.attributes,
               s.id AS existing_id, s.name AS old_name, s.attributes AS old_attributes,
               sub.status AS old_status, sp.reason AS suppressed_reason,
               COALESCE(s.id, nextval('subscribers_id_seq')) AS subscriber_id,
               CASE
                   WHEN listctl_stops_mail(sub.status) THEN sub.status
                   WHEN listctl_stops_mail(r.status) THEN r.status
                   WHEN sp.reason IS NOT NULL THEN listctl_suppression_status(sp.reason)
                   WHEN sub.status = 'active' THEN 'active'
                   ELSE r.status
               END AS final_status
        FROM (
            SELECT DISTINCT ON (lower(email) COLLATE "C")
                   lower(email) COLLATE "C" AS email_key, email, name, status, suppression, created_at, attributes
            FROM import_staging
            ORDER BY lower(email) COLLATE "C",
                     CASE status WHEN 'complained' THEN 4 WHEN 'bounced' THEN 3 WHEN 'unsubscribed' THEN 2
                                 WHEN 'active' THEN 1 ELSE 0 END DESC,
                     line DESC
        ) r
        LEFT JOIN subscribers s ON s.email_key = r.email_key
        LEFT JOIN subscriptions sub
               ON sub.list_id = current_setting('listctl.import_list_id')::bigint AND sub.subscriber_id = s.id
        LEFT JOIN suppressions sp ON sp.email_key = r.email_key
        """

    /// Run only when the file repeats an address (the plan kept fewer rows than
    /// were staged): the kept row takes the last non-empty name, the earliest
    /// created time and the union of the attributes (later lines win) of all
    /// the rows for its address, so merging duplicates loses nothing.
    public static let mergeDuplicates = """
        WITH dup AS (
            SELECT lower(email) COLLATE "C" AS email_key
            FROM import_staging GROUP BY 1 HAVING count(*) > 1
        ), rows AS (
            SELECT d.email_key, st.line, st.name, st.created_at, st.attributes
            FROM dup d JOIN import_staging st ON lower(st.email) COLLATE "C" = d.email_key
        ), merged AS (
            SELECT email_key,
                   (array_agg(name ORDER BY line DESC) FILTER (WHERE name <> ''))[1] AS name,
                   min(created_at) AS created_at
            FROM rows GROUP BY email_key
        ), attrs AS (
            SELECT email_key, jsonb_object_agg(e.key, e.value ORDER BY line) AS attributes
            FROM rows, jsonb_each(rows.attributes) e GROUP BY email_key
        )
        UPDATE import_rows r
        SET name = COALESCE(m.name, ''), created_at = m.created_at, attributes = COALESCE(a.attributes, '{}'::jsonb)
        FROM merged m LEFT JOIN attrs a USING (email_key)
        WHERE r.email_key = m.email_key
        """

    /// The counts the import reports, from the plan (so a dry run needs no merge
    /// to know them). `suppressed` counts addresses that end up not mailable.
    /// The last three are what the merge expects to write; when it writes
    /// less, someone else wrote meanwhile (see ``SubscriberImporter``).
    public static let counts = """
        SELECT count(*) AS distinct_rows,
               count(*) FILTER (WHERE old_status IS NULL) AS inserted,
               count(*) FILTER (WHERE old_status IS NOT NULL AND (
                   final_status <> old_status
                   OR (name <> '' AND name IS DISTINCT FROM old_name)
                   OR NOT old_attributes @> attributes)) AS updated,
               count(*) FILTER (WHERE listctl_stops_mail(final_status)) AS suppressed,
               count(*) FILTER (WHERE (old_status IS NOT NULL AND final_status <> old_status)
                   OR (existing_id IS NOT NULL AND ((name <> '' AND name IS DISTINCT FROM old_name)
                                                    OR NOT old_attributes @> attributes))) AS changes,
               count(*) FILTER (WHERE existing_id IS NULL) AS new_subscribers,
               count(*) FILTER (WHERE existing_id IS NOT NULL AND old_status IS NULL) AS joining,
               count(*) FILTER (WHERE old_status IS NOT NULL AND final_status <> old_status) AS status_changes
        FROM import_rows
        """

    /// When a merge step runs.
    public enum Condition: Sendable {
        case always
        /// Only when the plan found stored rows to change (`changes` > 0).
        case updates
        /// Only when someone else added some of the file's new addresses
        /// after planning (`subscribers_inserted` < `new_subscribers`).
        case signupsMeanwhile
    }

    /// What a merge step reports, under names that the Swift code and the
    /// psql script (`\gset`) share.
    public enum Output: Sendable, Equatable {
        case none
        /// The statement's row count.
        case rowCount(String)
        /// One row of counts, one column per name.
        case counts([String])
    }

    public struct Step: Sendable {
        public let name: String
        public let when: Condition
        public let output: Output
        public let sql: String
    }

    /// The list id, as the statements read it.
    static let listID = "current_setting('listctl.import_list_id')::bigint"

    /// The merge, in order. Each is one set-based statement.
    ///
    /// Nothing in it locks more than the rows it writes (ROW EXCLUSIVE on the
    /// tables), and it is written for writers that run beside it (sign-ups,
    /// unsubscribes, a worker's bounces), because the plan is a snapshot:
    /// - a subscription is updated only if it still has the status it was
    ///   planned from (a stop from the file still wins over a change that
    ///   does not stop mail), so an unsubscribe committed meanwhile survives;
    /// - an address someone else added meanwhile is merged into (ON CONFLICT
    ///   DO NOTHING, then `merge subscribers added meanwhile`), not a unique
    ///   violation; a subscription someone else created meanwhile is merged
    ///   by the never-resubscribe rule (ON CONFLICT … DO UPDATE … WHERE);
    /// - a suppression added meanwhile stops the subscriptions the import wrote.
    ///
    /// The updates run first, while subscribers and subscriptions hold only
    /// stored rows, and only when there is something to update. They join
    /// import_rows to a table whose statistics may be stale (a million rows
    /// just inserted and not yet analysed look like none): the index on
    /// import_rows keeps even a nested loop the wrong way round to index
    /// probes instead of a million sequential scans.
    public static let merge: [Step] = [
        Step(name: "index rows to update", when: .updates, output: .none, sql: "CREATE INDEX ON import_rows (subscriber_id)"),
        Step(name: "update changed subscribers", when: .updates, output: .none, sql: """
            UPDATE subscribers s
            SET name = CASE WHEN r.name <> '' THEN r.name ELSE s.name END,
                attributes = s.attributes || r.attributes,
                updated_at = now()
            FROM import_rows r
            WHERE r.existing_id IS NOT NULL AND s.id = r.subscriber_id
              AND ((r.name <> '' AND r.name IS DISTINCT FROM r.old_name) OR NOT r.old_attributes @> r.attributes)
            """),
        Step(name: "update changed subscriptions", when: .updates, output: .counts(["updated_statuses"]), sql: """
            WITH changed AS (
                UPDATE subscriptions sub
                SET status = r.final_status,
                    status_changed_at = now(),
                    confirmed_at = CASE WHEN r.final_status = 'active' THEN COALESCE(sub.confirmed_at, now()) ELSE sub.confirmed_at END,
                    unsubscribed_at = CASE WHEN listctl_stops_mail(r.final_status) THEN now() ELSE sub.unsubscribed_at END
                FROM import_rows r
                WHERE r.old_status IS NOT NULL AND r.final_status <> r.old_status
                  AND sub.list_id = \(listID)
                  AND sub.subscriber_id = r.subscriber_id
                  AND (sub.status = r.old_status
                       OR (listctl_stops_mail(r.final_status) AND NOT listctl_stops_mail(sub.status)))
                RETURNING sub.subscriber_id, r.email_key, sub.status, r.old_status
            ), recorded AS (
                INSERT INTO events (kind, list_id, subscriber_id, email_key, detail)
                SELECT status, \(listID), subscriber_id, email_key,
                       jsonb_build_object('source', 'import', 'previous', old_status)
                FROM changed
                WHERE listctl_stops_mail(status)
            )
            SELECT count(*) AS updated_statuses FROM changed
            """),
        Step(name: "insert new subscribers", when: .always, output: .rowCount("subscribers_inserted"), sql: """
            INSERT INTO subscribers (id, email, email_key, name, attributes, created_at)
            OVERRIDING SYSTEM VALUE
            SELECT subscriber_id, email, email_key, name, attributes, COALESCE(created_at, now())
            FROM import_rows
            WHERE existing_id IS NULL
            ON CONFLICT (email_key) DO NOTHING
            """),
        // The rows whose address someone else added after planning become
        // rows of an existing subscriber: their id is the stored one, the
        // file's name and attributes are merged in, and their subscription
        // goes through `insert subscriptions of existing subscribers`.
        Step(name: "merge subscribers added meanwhile", when: .signupsMeanwhile, output: .none, sql: """
            WITH merged AS (
                UPDATE import_rows r
                SET existing_id = s.id, subscriber_id = s.id, old_name = s.name, old_attributes = s.attributes
                FROM subscribers s
                WHERE r.existing_id IS NULL AND s.email_key = r.email_key AND s.id <> r.subscriber_id
                RETURNING r.subscriber_id, r.name, r.attributes
            )
            UPDATE subscribers s
            SET name = CASE WHEN m.name <> '' THEN m.name ELSE s.name END,
                attributes = s.attributes || m.attributes,
                updated_at = now()
            FROM merged m
            WHERE s.id = m.subscriber_id
            """),
        // Only subscribers this transaction inserted: nobody else can see
        // them yet, so nothing can conflict, and the plain INSERT stays cheap.
        Step(name: insertSubscriptionsStep, when: .always, output: .none, sql: """
            INSERT INTO subscriptions (list_id, subscriber_id, status, created_at, status_changed_at, confirmed_at, unsubscribed_at)
            SELECT \(listID), subscriber_id, final_status,
                   COALESCE(created_at, now()), now(),
                   CASE WHEN final_status = 'active' THEN COALESCE(created_at, now()) END,
                   CASE WHEN listctl_stops_mail(final_status) THEN now() END
            FROM import_rows
            WHERE existing_id IS NULL
            """),
        // Stored subscribers new to this list. Someone may have subscribed
        // them meanwhile: then the stored row is merged by the import's rule
        // (a stop stays, a stop from the file wins, active is not demoted).
        Step(name: "insert subscriptions of existing subscribers", when: .always, output: .counts(["joined_inserted", "joined_updated"]), sql: """
            WITH joined AS (
                INSERT INTO subscriptions AS sub (list_id, subscriber_id, status, created_at, status_changed_at, confirmed_at, unsubscribed_at)
                SELECT \(listID), subscriber_id, final_status,
                       COALESCE(created_at, now()), now(),
                       CASE WHEN final_status = 'active' THEN COALESCE(created_at, now()) END,
                       CASE WHEN listctl_stops_mail(final_status) THEN now() END
                FROM import_rows
                WHERE existing_id IS NOT NULL AND old_status IS NULL
                ON CONFLICT (list_id, subscriber_id) DO UPDATE
                SET status = EXCLUDED.status,
                    status_changed_at = now(),
                    confirmed_at = CASE WHEN EXCLUDED.status = 'active' THEN COALESCE(sub.confirmed_at, now()) ELSE sub.confirmed_at END,
                    unsubscribed_at = CASE WHEN listctl_stops_mail(EXCLUDED.status) THEN now() ELSE sub.unsubscribed_at END
                WHERE NOT listctl_stops_mail(sub.status) AND sub.status <> EXCLUDED.status
                  AND (listctl_stops_mail(EXCLUDED.status) OR sub.status <> 'active')
                RETURNING sub.subscriber_id, sub.status, sub.xmax = 0 AS inserted
            ), recorded AS (
                INSERT INTO events (kind, list_id, subscriber_id, email_key, detail)
                SELECT j.status, \(listID), j.subscriber_id, s.email_key,
                       jsonb_build_object('source', 'import', 'previous', NULL)
                FROM joined j JOIN subscribers s ON s.id = j.subscriber_id
                WHERE listctl_stops_mail(j.status)
            )
            SELECT count(*) FILTER (WHERE inserted) AS joined_inserted,
                   count(*) FILTER (WHERE NOT inserted) AS joined_updated
            FROM joined
            """),
        // Suppressions added after planning (a complaint, an erasure) stop
        // the subscriptions this import wrote as mailable. Usually none.
        Step(name: "apply suppressions added meanwhile", when: .always, output: .counts(["late_suppressed"]), sql: """
            WITH late AS (
                UPDATE subscriptions sub
                SET status = listctl_suppression_status(sp.reason), status_changed_at = now(), unsubscribed_at = now()
                FROM import_rows r JOIN suppressions sp ON sp.email_key = r.email_key
                WHERE r.suppressed_reason IS NULL AND NOT listctl_stops_mail(r.final_status)
                  AND (r.old_status IS NULL OR r.final_status <> r.old_status)
                  AND sub.list_id = \(listID)
                  AND sub.subscriber_id = r.subscriber_id
                  AND NOT listctl_stops_mail(sub.status)
                RETURNING sub.subscriber_id, r.email_key, sub.status, r.old_status
            ), recorded AS (
                INSERT INTO events (kind, list_id, subscriber_id, email_key, detail)
                SELECT status, \(listID), subscriber_id, email_key,
                       jsonb_build_object('source', 'import', 'previous', old_status)
                FROM late
            )
            SELECT count(*) AS late_suppressed FROM late
            """),
        Step(name: "insert suppressions", when: .always, output: .none, sql: """
            INSERT INTO suppressions (email_key, reason, detail)
            SELECT email_key, suppression, 'import: ' || file_status || ' in the export'
            FROM import_rows
            WHERE suppression IS NOT NULL AND suppressed_reason IS NULL
            ON CONFLICT (email_key) DO NOTHING
            """),
        // Per-address events only for changes that stop mail; the import as a
        // whole is one 'imported' event (a million identical rows would double
        // the cost of the merge and tell nothing the imports table doesn't).
        // Stored subscribers' events were recorded by the steps that changed them.
        Step(name: "record status events of new subscribers", when: .always, output: .none, sql: """
            INSERT INTO events (kind, list_id, subscriber_id, email_key, detail)
            SELECT final_status, \(listID), subscriber_id, email_key,
                   jsonb_build_object('source', 'import', 'previous', NULL)
            FROM import_rows
            WHERE existing_id IS NULL AND listctl_stops_mail(final_status)
            """),
    ]

    /// What the addresses of the file end up as, read back after a merge in
    /// which someone else wrote meanwhile (the planned count is then not exact).
    public static let recountSuppressed = """
        SELECT count(*) FROM import_rows r
        JOIN subscriptions sub ON sub.list_id = \(listID) AND sub.subscriber_id = r.subscriber_id
        WHERE listctl_stops_mail(sub.status)
        """

    /// `--exclusive`: from how many new subscribers the import checks the
    /// subscription foreign keys in bulk (see ``dropSubscriptionKeys``).
    public static let bulkKeyThreshold = 100_000

    /// Name of the merge step that the bulk key check wraps.
    static let insertSubscriptionsStep = "insert new subscriptions"

    /// `--exclusive` only: taken before anything else, so that the import
    /// never waits for the strong lock while holding weaker ones (which could
    /// deadlock with a writer waiting on a row the import wrote). Every other
    /// reader and writer of these tables waits until the import commits.
    public static let lockExclusive = "LOCK TABLE lists, subscribers, subscriptions IN ACCESS EXCLUSIVE MODE"

    /// `--exclusive` only. Per-row foreign-key triggers cost two thirds of
    /// inserting a million subscriptions (8 of 12 s measured: each check locks
    /// the referenced row, which dirties and WAL-logs it). Dropping the two
    /// keys and adding them back checks them in one join instead (1.2 s),
    /// inside the import's transaction: if the check fails, everything rolls
    /// back, keys included. The price is an ACCESS EXCLUSIVE lock on lists,
    /// subscribers and subscriptions until commit, and the role must own the
    /// tables, so it is never done by default; with `--exclusive` it is done
    /// from ``bulkKeyThreshold`` new subscribers (below that, re-checking the
    /// whole table costs more than the per-row checks).
    /// Must match sql/migrations (a test compares the definitions).
    public static let dropSubscriptionKeys = """
        ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_subscriber_id_fkey,
                                  DROP CONSTRAINT subscriptions_list_id_fkey
        """
    public static let restoreSubscriptionKeys = """
        ALTER TABLE subscriptions
            ADD CONSTRAINT subscriptions_list_id_fkey FOREIGN KEY (list_id) REFERENCES lists (id) ON DELETE CASCADE,
            ADD CONSTRAINT subscriptions_subscriber_id_fkey FOREIGN KEY (subscriber_id) REFERENCES subscribers (id) ON DELETE CASCADE
        """

    /// The whole import as a psql script, for `listctl import --print-sql` and
    /// the benchmark: see its first lines for how to run it. `exclusive`
    /// gives the `--exclusive` variant.
    public static func psqlScript(exclusive: Bool = false) -> String {
        var script = """
            -- listctl subscriber import\(exclusive ? " (--exclusive)" : ""): the statements listctl runs, in order.
            -- Replace STAGING_FILE with a file in COPY text format (`listctl import
            -- --write-staging FILE export.csv` writes one), then: psql -v list_id=ID -f this.sql
            BEGIN;
            \(serialize);

            """
        if exclusive { script += "\(lockExclusive);\n" }
        script += """
            SELECT set_config('listctl.import_list_id', :'list_id', true);
            \(session);
            \(createStaging);
            \\copy import_staging (line, email, name, status, suppression, created_at, attributes, forget_hashes) from 'STAGING_FILE'
            \(dropForgotten);
            \(analyzeStaging);
            \(plan);
            SELECT (SELECT count(*) FROM import_staging) <> (SELECT count(*) FROM import_rows) AS has_duplicates \\gset
            \\if :has_duplicates
            \(mergeDuplicates);
            \\endif
            \(analyzeRows);
            \(counts) \\gset


            """
        script += "SELECT :changes > 0 AS has_updates, \(exclusive ? ":new_subscribers >= \(bulkKeyThreshold)" : "false") AS bulk_keys \\gset\n"
        for step in merge {
            let bulk = exclusive && step.name == insertSubscriptionsStep
            switch step.when {
            case .always: break
            case .updates: script += "\\if :has_updates\n"
            case .signupsMeanwhile:
                script += "SELECT :subscribers_inserted < :new_subscribers AS signups_meanwhile \\gset\n\\if :signups_meanwhile\n"
            }
            if bulk { script += "\\if :bulk_keys\n\(dropSubscriptionKeys);\n\\endif\n" }
            script += "-- \(step.name)\n\(step.sql)"
            switch step.output {
            case .none: script += ";\n"
            case .rowCount(let name): script += ";\nSELECT :ROW_COUNT AS \(name) \\gset\n"
            case .counts: script += " \\gset\n"
            }
            if bulk { script += "\\if :bulk_keys\n\(restoreSubscriptionKeys);\n\\endif\n" }
            if step.when != .always { script += "\\endif\n" }
        }
        script += "COMMIT;\n"
        return script
    }
}
