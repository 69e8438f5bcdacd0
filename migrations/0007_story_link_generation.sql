-- Signed links (src/core/links.rs) carry the story's link generation; a revoke adds one, so
-- every link signed before it no longer matches. Rotating LINK_SIGNING_KEY ends all links of
-- all stories instead.
ALTER TABLE stories ADD COLUMN link_generation bigint NOT NULL DEFAULT 0;
