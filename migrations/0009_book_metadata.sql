-- Book metadata (docs/API.md, "Book metadata and feed"): the author written into the ID3 tags
-- and the feed, and the cover's facts. The cover's bytes live in R2 under
-- stories/{id}/cover/{sha256}; the row holds what a download needs to size its tag without
-- reading them. The three cover columns are set together or not at all.
ALTER TABLE stories ADD COLUMN author text;
ALTER TABLE stories ADD COLUMN cover_type text;
ALTER TABLE stories ADD COLUMN cover_bytes bigint;
ALTER TABLE stories ADD COLUMN cover_sha256 text;
ALTER TABLE stories ADD CONSTRAINT stories_cover_whole CHECK (
  (cover_type IS NULL) = (cover_bytes IS NULL) AND (cover_type IS NULL) = (cover_sha256 IS NULL)
);
ALTER TABLE stories ADD CONSTRAINT stories_cover_type CHECK (cover_type IN ('image/jpeg', 'image/png'));
ALTER TABLE stories ADD CONSTRAINT stories_author_length CHECK (char_length(author) BETWEEN 1 AND 200);
