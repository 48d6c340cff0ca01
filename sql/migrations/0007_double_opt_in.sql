-- Double opt-in (docs/SUPPRESSION.md "Joining"): consent requests with their
-- proof, confirmation and welcome mail through the ledger, per-list pages.

-- One request to join a list: who asked, when, from where, and when it was
-- confirmed. The proof of consent (GDPR art. 7(1)); kept while the
-- subscriber exists, purged after 30 days when never confirmed.
CREATE TABLE consent_requests (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    list_id             bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    subscriber_id       bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    -- form: the subscribe page; api: a JSON POST; preferences: a list ticked again on the
    -- preference page; cli: `subscribers add --pending`.
    source              text NOT NULL CHECK (source IN ('form', 'api', 'preferences', 'cli')),
    requested_at        timestamptz NOT NULL DEFAULT now(),
    client_address      text CHECK (length(client_address) <= 64),
    user_agent          text CHECK (length(user_agent) <= 512),
    confirmed_at        timestamptz,
    confirmed_address   text CHECK (length(confirmed_address) <= 64),
    confirmed_user_agent text CHECK (length(confirmed_user_agent) <= 512)
);
CREATE INDEX consent_requests_subscriber_idx ON consent_requests (subscriber_id, requested_at);
CREATE INDEX consent_requests_unconfirmed_idx ON consent_requests (requested_at) WHERE confirmed_at IS NULL;

-- Standing issues: a list's confirmation mail and welcome issue. They stay
-- `sending` while they are the list's (the engine never finishes them), and
-- each gets ledger rows one person at a time: a confirmation row carries the
-- request it answers (`deliveries.request_id`).
ALTER TABLE issues ADD COLUMN kind text NOT NULL DEFAULT 'issue'
    CHECK (kind IN ('issue', 'confirmation', 'welcome'));
ALTER TABLE issues ADD COLUMN standing boolean NOT NULL DEFAULT false;
ALTER TABLE issues ADD CONSTRAINT issues_standing_kind CHECK (NOT standing OR kind <> 'issue');

ALTER TABLE lists
    ADD COLUMN confirmation_issue_id bigint REFERENCES issues (id) ON DELETE SET NULL,
    ADD COLUMN welcome_issue_id bigint REFERENCES issues (id) ON DELETE SET NULL,
    -- A Mustache template for the service's pages (`{{{content}}}`, `{{title}}`, `{{list_name}}`); NULL: the built-in one.
    ADD COLUMN page_template text;

ALTER TABLE deliveries ADD COLUMN request_id bigint REFERENCES consent_requests (id) ON DELETE CASCADE;
CREATE INDEX deliveries_request_idx ON deliveries (request_id) WHERE request_id IS NOT NULL;
