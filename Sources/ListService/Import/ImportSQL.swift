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
            attributes  jsonb NOT NULL
        ) ON COMMIT DROP
        """

    /// COPY in text format: tab-separated, `\N` for NULL, backslash escapes.
    public static let copyStaging =
        "COPY import_staging (line, email, name, status, suppression, created_at, attributes) FROM STDIN"

    /// One row per address (case-insensitively), planned against what is stored.
    ///
    /// Duplicates in the file collapse to the row with the strongest "do not
    /// mail" status (complained > bounced > unsubscribed > active > pending),
    /// then the last one. `final_status` applies the rule that an import never
    /// resubscribes anyone: an unsubscribed, bounced or complained
    /// subscription stays so, and a suppressed address starts suppressed.
    public static let plan = """
        CREATE TEMP TABLE import_rows ON COMMIT DROP AS
        SELECT r.email_key, r.email, r.name, r.status AS file_status, r.suppression, r.created_at, r.attributes,
               s.id AS existing_id, s.name AS old_name, s.attributes AS old_attributes,
               sub.status AS old_status, sp.reason AS suppressed_reason,
               COALESCE(s.id, nextval('subscribers_id_seq')) AS subscriber_id,
               CASE
                   WHEN sub.status IN ('unsubscribed', 'bounced', 'complained') THEN sub.status
                   WHEN r.status IN ('unsubscribed', 'bounced', 'complained') THEN r.status
                   WHEN sp.reason = 'hard_bounce' THEN 'bounced'
                   WHEN sp.reason = 'complaint' THEN 'complained'
                   WHEN sp.reason IS NOT NULL THEN 'unsubscribed'
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
    public static let counts = """
        SELECT count(*) AS distinct_rows,
               count(*) FILTER (WHERE old_status IS NULL) AS inserted,
               count(*) FILTER (WHERE old_status IS NOT NULL AND (
                   final_status <> old_status
                   OR (name <> '' AND name IS DISTINCT FROM old_name)
                   OR NOT old_attributes @> attributes)) AS updated,
               count(*) FILTER (WHERE final_status IN ('unsubscribed', 'bounced', 'complained')) AS suppressed,
               count(*) FILTER (WHERE (old_status IS NOT NULL AND final_status <> old_status)
                   OR (existing_id IS NOT NULL AND ((name <> '' AND name IS DISTINCT FROM old_name)
                                                    OR NOT old_attributes @> attributes))) AS changes
        FROM import_rows
        """

    /// When a merge step runs.
    public enum Condition: Sendable {
        case always
        /// Only when the plan found stored rows to change (`changes` > 0).
        case updates
    }

    /// The merge, in order. Each is one set-based statement.
    ///
    /// The updates run first, while subscribers and subscriptions hold only
    /// stored rows, and only when there is something to update. They join
    /// import_rows to a table whose statistics may be stale (a million rows
    /// just inserted and not yet analysed look like none): the index on
    /// import_rows keeps even a nested loop the wrong way round to index
    /// probes instead of a million sequential scans.
    public static let merge: [(name: String, when: Condition, sql: String)] = [
        (name: "index rows to update", when: .updates, sql: "CREATE INDEX ON import_rows (subscriber_id)"),
        (name: "update changed subscribers", when: .updates, sql: """
            UPDATE subscribers s
            SET name = CASE WHEN r.name <> '' THEN r.name ELSE s.name END,
                attributes = s.attributes || r.attributes,
                updated_at = now()
            FROM import_rows r
            WHERE r.existing_id IS NOT NULL AND s.id = r.subscriber_id
              AND ((r.name <> '' AND r.name IS DISTINCT FROM r.old_name) OR NOT r.old_attributes @> r.attributes)
            """),
        (name: "update changed subscriptions", when: .updates, sql: """
            UPDATE subscriptions sub
            SET status = r.final_status,
                status_changed_at = now(),
                confirmed_at = CASE WHEN r.final_status = 'active' THEN COALESCE(sub.confirmed_at, now()) ELSE sub.confirmed_at END,
                unsubscribed_at = CASE WHEN r.final_status IN ('unsubscribed', 'bounced', 'complained') THEN now()
                                       ELSE sub.unsubscribed_at END
            FROM import_rows r
            WHERE r.old_status IS NOT NULL AND r.final_status <> r.old_status
              AND sub.list_id = current_setting('listctl.import_list_id')::bigint
              AND sub.subscriber_id = r.subscriber_id
            """),
        (name: "insert new subscribers", when: .always, sql: """
            INSERT INTO subscribers (id, email, email_key, name, attributes, created_at)
            OVERRIDING SYSTEM VALUE
            SELECT subscriber_id, email, email_key, name, attributes, COALESCE(created_at, now())
            FROM import_rows
            WHERE existing_id IS NULL
            """),
        (name: insertSubscriptionsStep, when: .always, sql: """
            INSERT INTO subscriptions (list_id, subscriber_id, status, created_at, status_changed_at, confirmed_at, unsubscribed_at)
            SELECT current_setting('listctl.import_list_id')::bigint, subscriber_id, final_status,
                   COALESCE(created_at, now()), now(),
                   CASE WHEN final_status = 'active' THEN COALESCE(created_at, now()) END,
                   CASE WHEN final_status IN ('unsubscribed', 'bounced', 'complained') THEN now() END
            FROM import_rows
            WHERE old_status IS NULL
            """),
        (name: "insert suppressions", when: .always, sql: """
            INSERT INTO suppressions (email_key, reason, detail)
            SELECT email_key, suppression, 'import: ' || file_status || ' in the export'
            FROM import_rows
            WHERE suppression IS NOT NULL AND suppressed_reason IS NULL
            ON CONFLICT (email_key) DO NOTHING
            """),
        // Per-address events only for changes that stop mail; the import as a
        // whole is one 'imported' event (a million identical rows would double
        // the cost of the merge and tell nothing the imports table doesn't).
        (name: "record status events", when: .always, sql: """
            INSERT INTO events (kind, list_id, subscriber_id, email_key, detail)
            SELECT final_status, current_setting('listctl.import_list_id')::bigint, subscriber_id, email_key,
                   jsonb_build_object('source', 'import', 'previous', old_status)
            FROM import_rows
            WHERE final_status IN ('unsubscribed', 'bounced', 'complained')
              AND old_status IS DISTINCT FROM final_status
            """),
    ]

    /// From how many new subscriptions the import checks their foreign keys in
    /// bulk (see ``dropSubscriptionKeys``).
    public static let bulkKeyThreshold = 100_000

    /// Name of the merge step that the bulk key check wraps.
    static let insertSubscriptionsStep = "insert new subscriptions"

    /// Per-row foreign-key triggers cost two thirds of inserting a million
    /// subscriptions (8 of 12 s measured: each check locks the referenced row,
    /// which dirties and WAL-logs it). Dropping the two keys and adding them
    /// back checks them in one join instead (1.2 s), inside the import's
    /// transaction: if the check fails, everything rolls back, keys included.
    /// The price is an exclusive lock on subscribers and subscriptions until
    /// commit, so it is only done for large imports (``bulkKeyThreshold``),
    /// which in practice is the first import of a list.
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
    /// the benchmark: see its first lines for how to run it.
    public static var psqlScript: String {
        var script = """
            -- listctl subscriber import: the statements listctl runs, in order.
            -- Replace STAGING_FILE with a file in COPY text format (`listctl import
            -- --write-staging FILE export.csv` writes one), then: psql -v list_id=ID -f this.sql
            BEGIN;
            \(serialize);
            SELECT set_config('listctl.import_list_id', :'list_id', true);
            \(session);
            \(createStaging);
            \\copy import_staging (line, email, name, status, suppression, created_at, attributes) from 'STAGING_FILE'
            \(analyzeStaging);
            \(plan);
            SELECT (SELECT count(*) FROM import_staging) <> (SELECT count(*) FROM import_rows) AS has_duplicates \\gset
            \\if :has_duplicates
            \(mergeDuplicates);
            \\endif
            \(analyzeRows);
            \(counts) \\gset


            """
        script += "SELECT :inserted >= \(bulkKeyThreshold) AS bulk_keys, :changes > 0 AS has_updates \\gset\n"
        for statement in merge {
            let bulk = statement.name == insertSubscriptionsStep
            if statement.when == .updates { script += "\\if :has_updates\n" }
            if bulk { script += "\\if :bulk_keys\n\(dropSubscriptionKeys);\n\\endif\n" }
            script += "-- \(statement.name)\n\(statement.sql);\n"
            if bulk { script += "\\if :bulk_keys\n\(restoreSubscriptionKeys);\n\\endif\n" }
            if statement.when == .updates { script += "\\endif\n" }
        }
        script += "COMMIT;\n"
        return script
    }
}
