-- listctl schema 0010: who may read the public archive (docs/ARCHIVE.md,
-- issue 11). A list's archive is public, as TinyLetter's was, or private
-- (`listctl lists set SLUG --archive public|private`); an issue can be left
-- out of it with `archive: false` in its front matter. `listctl serve`
-- shows an issue's page (<root>/issues/{slug}) only when both allow it.

ALTER TABLE lists ADD COLUMN archive text NOT NULL DEFAULT 'public' CHECK (archive IN ('public', 'private'));
ALTER TABLE issues ADD COLUMN in_archive boolean NOT NULL DEFAULT true;
