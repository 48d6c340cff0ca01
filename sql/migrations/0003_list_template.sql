-- listctl schema 0003: a list's own e-mail template (Mustache), used by
-- `preview`, `send --to` and the real send alike, so that what a writer
-- previews is what subscribers get. NULL: the built-in template.
ALTER TABLE lists
    ADD COLUMN template text CHECK (template IS NULL OR (template <> '' AND octet_length(template) <= 1048576));
